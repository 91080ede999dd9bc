"""load_image conversions and the class-folder layout of find_class_images."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vega_anchors.anchors.folder import find_class_images
from vega_anchors.images import IMAGE_EXTENSIONS, load_image

# ---- load_image ----------------------------------------------------------------------------------


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def test_image_extensions_cover_common_formats() -> None:
    assert {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in IMAGE_EXTENSIONS)


def test_rgb_png_round_trips_exactly(tmp_path: Path, make_image) -> None:
    image = make_image(1)
    image.save(tmp_path / "a.png")
    for source in (tmp_path / "a.png", str(tmp_path / "a.png"), image):
        loaded = load_image(source)
        assert loaded.mode == "RGB" and loaded.size == image.size
        np.testing.assert_array_equal(_pixels(loaded), _pixels(image))


def test_grayscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    loaded = _pixels(load_image(tmp_path / "g.png"))
    assert loaded.shape == (20, 30, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[..., channel], gray)


def test_rgba_drops_alpha_like_clip_preprocessing(tmp_path: Path, make_image) -> None:
    rgb = _pixels(make_image(2))
    alpha = np.zeros(rgb.shape[:2], dtype=np.uint8)  # fully transparent: RGB must still be kept as stored
    Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert loaded.mode == "RGB"
    np.testing.assert_array_equal(_pixels(loaded), rgb)


@pytest.mark.parametrize("transparency", [False, True])
def test_palette_images_expand_to_their_colors(tmp_path: Path, transparency: bool) -> None:
    palette_image = Image.new("P", (10, 6))
    palette_image.putpalette([255, 0, 0, 0, 255, 0] + [0, 0, 0] * 254)
    palette_image.paste(1, (0, 0, 5, 6))  # left half: index 1 (green), right half: index 0 (red)
    if transparency:
        palette_image.info["transparency"] = 0
    palette_image.save(tmp_path / "p.png", **({"transparency": 0} if transparency else {}))
    loaded = _pixels(load_image(tmp_path / "p.png"))
    assert loaded.shape == (6, 10, 3)
    assert tuple(loaded[0, 0]) == (0, 255, 0)
    assert tuple(loaded[0, 9]) == (255, 0, 0)


def test_cmyk_converts_to_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (8, 4), (0, 0, 0, 0))  # no ink: white
    cmyk.paste((0, 255, 255, 0), (4, 0, 8, 4))  # magenta + yellow: red
    cmyk.save(tmp_path / "c.tif")
    loaded = _pixels(load_image(tmp_path / "c.tif"))
    assert loaded.shape == (4, 8, 3)
    assert tuple(loaded[0, 0]) == (255, 255, 255)
    assert tuple(loaded[0, 7]) == (255, 0, 0)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16).repeat(3, axis=0)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    image.save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode in ("I;16", "I")
    loaded = _pixels(load_image(tmp_path / "d.png"))
    np.testing.assert_array_equal(loaded[0, :, 0], [0, 1, 128, 255])
    assert (loaded[..., 0] == loaded[..., 2]).all()


def test_int32_mode_i_images_scale_by_range() -> None:
    sixteen = Image.fromarray(np.array([[0, 65535]], dtype=np.int32), mode="I")
    eight = Image.fromarray(np.array([[0, 200]], dtype=np.int32), mode="I")
    assert _pixels(load_image(sixteen))[0, :, 0].tolist() == [0, 255]
    assert _pixels(load_image(eight))[0, :, 0].tolist() == [0, 200]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    array = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 high as stored
    array[:4, :4] = (255, 0, 0)  # red mark at the stored top-left
    image = Image.fromarray(array)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: display rotated 90° clockwise
    image.save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=100)
    loaded = load_image(tmp_path / "r.jpg")
    assert loaded.size == (20, 40)  # upright: 20 wide, 40 high
    pixels = _pixels(loaded).astype(int)
    assert pixels[1, 18, 0] > 200 and pixels[1, 18, 1] < 60  # the mark is now top-right
    assert pixels[1, 1, 0] < 60


def test_corrupt_truncated_and_non_image_files_raise_naming_the_file(tmp_path: Path, make_image) -> None:
    make_image(3, (64, 64)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    make_image(4, (64, 64)).save(tmp_path / "full.png")
    png = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "garbage.jpg").write_bytes(np.random.default_rng(0).bytes(500))
    (tmp_path / "text.png").write_text("hello, I am not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    for name in ("truncated.jpg", "truncated.png", "garbage.jpg", "text.png", "empty.png"):
        with pytest.raises(ValueError, match=re.escape(name)):
            load_image(tmp_path / name)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("nope.png")):
        load_image(tmp_path / "nope.png")


# ---- find_class_images ---------------------------------------------------------------------------


def test_finds_classes_sorted_canonical_recursive(image_folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="vega_anchors.images"):
        groups = find_class_images(image_folder)
    assert list(groups) == ["anger", "happy", "sad"]
    assert [len(groups[c]) for c in groups] == [3, 2, 4]
    assert groups["happy"] == [image_folder / "happiness/img0.png", image_folder / "happiness/sub/img1.png"]
    assert groups["sad"] == sorted(groups["sad"])
    assert all(p.suffix == ".png" for paths in groups.values() for p in paths)
    assert "notes.txt" in caplog.text


def test_requested_classes_keep_order_and_aliases(image_folder: Path) -> None:
    groups = find_class_images(image_folder, ["sad", "angry", "Happy"])
    assert list(groups) == ["sad", "anger", "happy"]
    assert groups["anger"] == [image_folder / "Angry" / f"img{i}.png" for i in range(3)]


def test_uppercase_extensions_and_hidden_files(tmp_path: Path, make_image) -> None:
    (tmp_path / "sad").mkdir()
    make_image(0).save(tmp_path / "sad" / "A.JPG", format="JPEG")
    make_image(1).save(tmp_path / "sad" / "b.Png", format="PNG")
    (tmp_path / "sad" / "._A.JPG").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    groups = find_class_images(tmp_path)
    assert [p.name for p in groups["sad"]] == ["A.JPG", "b.Png"]


def test_missing_classes_are_all_listed_with_folders_found(image_folder: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        find_class_images(image_folder, ["anger", "fear", "disgust", "sad"])
    message = str(info.value)
    for expected in ("fear", "disgust", "Angry", "happiness", "sad"):
        assert expected in message
    assert "'anger'" not in message.split("folders found")[0]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        find_class_images(tmp_path / "does-not-exist")


def test_empty_class_is_named(image_folder: Path) -> None:
    (image_folder / "fear" / "nested").mkdir(parents=True)
    (image_folder / "fear" / "readme.md").write_text("todo")
    with pytest.raises(ValueError, match=r"\['fear'\]"):
        find_class_images(image_folder)
    with pytest.raises(ValueError, match="fear"):
        find_class_images(image_folder, ["fear", "sad"])


def test_two_folders_for_one_class_are_rejected(image_folder: Path) -> None:
    shutil.copytree(image_folder / "Angry", image_folder / "anger")
    with pytest.raises(ValueError, match=r"Angry.*anger|anger.*Angry"):
        find_class_images(image_folder)


def test_repeated_requested_class_is_rejected(image_folder: Path) -> None:
    with pytest.raises(ValueError, match="more than once"):
        find_class_images(image_folder, ["anger", "angry"])


def test_duplicate_files_warn_naming_them(image_folder: Path) -> None:
    shutil.copy(image_folder / "sad" / "img0.png", image_folder / "Angry" / "copy_of_sad.png")
    with pytest.warns(UserWarning, match="identical image files") as record:
        groups = find_class_images(image_folder)
    message = " ".join(str(w.message) for w in record)
    assert "copy_of_sad.png" in message and str(image_folder / "sad" / "img0.png") in message
    assert len(groups["anger"]) == 4  # duplicates are reported, not dropped


def test_unreadable_image_raises_before_anything_is_encoded(image_folder: Path) -> None:
    (image_folder / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (image_folder / "Angry" / "broken2.png").write_text("nope")
    with pytest.raises(ValueError) as info:
        find_class_images(image_folder)
    assert "broken.jpg" in str(info.value) and "broken2.png" in str(info.value)
    assert "skip_unreadable=True" in str(info.value)


def test_skip_unreadable_warns_for_each_and_skips(image_folder: Path) -> None:
    (image_folder / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (image_folder / "Angry" / "broken2.png").write_text("nope")
    with pytest.warns(UserWarning) as record:
        groups = find_class_images(image_folder, skip_unreadable=True)
    messages = [str(w.message) for w in record]
    assert any("broken.jpg" in m for m in messages) and any("broken2.png" in m for m in messages)
    assert [len(groups[c]) for c in groups] == [3, 2, 4]
    assert all("broken" not in p.name for paths in groups.values() for p in paths)


def test_class_with_only_unreadable_images_is_an_error(tmp_path: Path, make_image) -> None:
    (tmp_path / "sad").mkdir()
    (tmp_path / "anger").mkdir()
    make_image(0).save(tmp_path / "sad" / "ok.png")
    (tmp_path / "anger" / "bad.png").write_text("nope")
    with pytest.warns(UserWarning, match=re.escape("bad.png")), pytest.raises(ValueError, match="anger"):
        find_class_images(tmp_path, skip_unreadable=True)
