"""Image folders beyond tests/anchors/test_folder.py: every EXIF orientation, the remaining Pillow
modes, decompression bombs, animated GIFs, misleading names, and a hostile folder end to end."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vega_anchors import AnchorBank
from vega_anchors.anchors.folder import find_class_images
from vega_anchors.images import load_image

# Pillow's method for each EXIF orientation, and the transform that undoes it
_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_LEFT_RIGHT),
    3: (Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_180),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.FLIP_TOP_BOTTOM),
    5: (Image.Transpose.TRANSPOSE, Image.Transpose.TRANSPOSE),
    6: (Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_90),
    7: (Image.Transpose.TRANSVERSE, Image.Transpose.TRANSVERSE),
    8: (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270),
}


def _upright(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (10, 16, 3), dtype=np.uint8), mode="RGB")  # 16 wide, 10 high


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_the_upright_pixels(tmp_path: Path, orientation: int) -> None:
    upright = _upright()
    stored = upright if orientation == 1 else upright.transpose(_TRANSPOSE[orientation][1])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "x.png", exif=exif.tobytes())  # lossless, so pixels compare exactly
    loaded = load_image(tmp_path / "x.png")
    assert loaded.size == upright.size
    assert np.array_equal(np.asarray(loaded), np.asarray(upright))


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("1", "png"), ("LA", "png"), ("PA", None), ("F", "tiff"), ("I;16", "tiff"), ("YCbCr", "jpg"), ("LAB", "tiff")],
)
def test_remaining_modes_become_8bit_rgb_of_the_same_size(tmp_path: Path, mode: str, suffix: str | None) -> None:
    image = _upright().convert("RGB")
    if mode == "F":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.float32) / 255.0, mode="F")
    elif mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257).convert("I;16")
    elif mode == "PA":
        image = image.convert("P").convert("PA")
    else:
        image = image.convert(mode)
    if suffix is None:  # no file format stores this mode: in memory only
        loaded = load_image(image)
    else:
        image.save(tmp_path / f"x.{suffix}")
        loaded = load_image(tmp_path / f"x.{suffix}")
    assert loaded.mode == "RGB" and loaded.size == (16, 10)
    assert np.asarray(loaded).dtype == np.uint8 and np.asarray(loaded).std() > 0  # not flattened to one colour


def test_decompression_bomb_is_refused_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("L", (64, 64)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 pixels > 2 × the limit: Pillow refuses
    with pytest.raises(ValueError, match=re.escape("bomb.png")):
        load_image(tmp_path / "bomb.png")


def test_animated_gif_uses_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), color) for color in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
    loaded = np.asarray(load_image(tmp_path / "a.gif"))
    assert loaded.shape == (8, 8, 3) and tuple(loaded[0, 0]) == (255, 0, 0)


def _hostile_folder(root: Path) -> None:
    (root / "Angry" / "deeper" / "still").mkdir(parents=True)
    (root / "sadness").mkdir()
    _upright(1).save(root / "Angry" / "deeper" / "still" / "nested.PNG")  # nested, upper-case suffix
    _upright(2).save(root / "Angry" / "really_a_png.jpg", format="PNG")  # contents disagree with the name
    _upright(3).convert("CMYK").save(root / "Angry" / "ümlaut and space.tiff")
    (root / "Angry" / "folder.png").mkdir()  # a folder with an image suffix
    (root / "Angry" / "folder.png" / "inside.png").write_bytes(b"")  # unreadable, but inside folder.png/
    (root / "Angry" / "notes.txt").write_text("ignored")
    (root / "Angry" / ".hidden.png").write_bytes(b"ignored")
    _upright(4).convert("P").save(root / "sadness" / "palette.gif")
    (root / "sadness" / "zero.png").write_bytes(b"")


def test_hostile_folder_end_to_end(tmp_path: Path, tiny_clip_encoder) -> None:
    _hostile_folder(tmp_path)
    with pytest.raises(ValueError, match=r"2 unreadable image\(s\)") as info:  # both empty files are listed
        find_class_images(tmp_path)
    assert "zero.png" in str(info.value) and "inside.png" in str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bank = AnchorBank.from_image_folder(tmp_path, tiny_clip_encoder, ["sad", "anger"], skip_unreadable=True)
    skipped = sorted(
        Path(str(w.message).split(": ")[0].removeprefix("skipping unreadable image ")).name for w in caught
    )
    assert skipped == ["inside.png", "zero.png"]
    assert bank.class_names == ["sad", "anger"] and bank.counts.tolist() == [1, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = find_class_images(tmp_path, ["anger"], skip_unreadable=True)
    names = [p.name for p in groups["anger"]]
    assert names == ["nested.PNG", "really_a_png.jpg", "ümlaut and space.tiff"]
