"""Exemplar pool readers on small files written in each dataset's real layout, and label mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vega_anchors.anchors.pools import (
    AFFECTNET_EMOTIONS,
    FER2013_EMOTIONS,
    RAFDB_EMOTIONS,
    ExemplarPool,
    load_pool,
    load_source_images,
    map_pool,
    parse_mapping,
    read_affectnet,
    read_fer2013,
    read_ferplus,
    read_image_folder_pool,
    read_rafdb,
)


def pixel_string(value: int) -> str:
    rng = np.random.default_rng(value)
    return " ".join(str(v) for v in rng.integers(0, 256, 48 * 48))


def write_fer2013(path: Path, rows: list[tuple[int, str]]) -> Path:
    lines = ["emotion,pixels,Usage"] + [f"{e},{pixel_string(i)},{usage}" for i, (e, usage) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


FER_ROWS = [(0, "Training"), (3, "Training"), (3, "PublicTest"), (6, "PrivateTest"), (4, "Training")]


def test_fer2013_reads_pixel_strings_labels_and_usage(tmp_path: Path) -> None:
    csv_path = write_fer2013(tmp_path / "fer2013.csv", FER_ROWS)
    pool = read_fer2013(csv_path)
    assert pool.labels == ["anger", "happy", "happy", "neutral", "sad"] and pool.dataset == "fer2013"
    assert pool.sources == [f"{csv_path}#{i}" for i in range(5)]
    first = pool.images[1]
    assert isinstance(first, Image.Image) and first.size == (48, 48) and first.mode == "L"
    expected = np.array(pixel_string(1).split(), dtype=np.uint8).reshape(48, 48)
    assert np.array_equal(np.asarray(first), expected)
    training = read_fer2013(csv_path, usage="Training")
    assert training.labels == ["anger", "happy", "sad"]
    assert read_fer2013(csv_path, usage=["PublicTest", "PrivateTest"]).labels == ["happy", "neutral"]
    assert FER2013_EMOTIONS[0] == "anger" and FER2013_EMOTIONS[6] == "neutral"


def test_fer2013_bad_rows_name_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    with pytest.raises(ValueError, match="row 0: pixels must be 2304"):
        read_fer2013(bad)
    bad.write_text(f"emotion,pixels,Usage\n9,{pixel_string(0)},Training\n")
    with pytest.raises(ValueError, match=r"emotion must be an id 0\.\.6"):
        read_fer2013(bad)
    (tmp_path / "nocol.csv").write_text("label,pixels\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['emotion'\]"):
        read_fer2013(tmp_path / "nocol.csv")


FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def test_ferplus_majority_votes_ties_unknown_and_not_face(tmp_path: Path) -> None:
    fer = write_fer2013(tmp_path / "fer2013.csv", [(0, "Training")] * 6)
    votes = [
        "Training,fer0000000.png,0,8,1,0,1,0,0,0,0,0",  # happy by majority
        "Training,fer0000001.png,5,5,0,0,0,0,0,0,0,0",  # tie neutral/happy: dropped by default
        "Training,fer0000002.png,0,0,0,0,2,0,0,0,8,0",  # unknown wins: dropped
        "Training,,0,0,0,0,0,0,0,0,0,10",  # no image (not a face): dropped
        "PublicTest,fer0000004.png,0,0,0,6,4,0,0,0,0,0",  # sad
        "Training,fer0000005.png,1,0,0,0,0,0,0,3,0,3",  # contempt ties NF: dropped
    ]
    (tmp_path / "fer2013new.csv").write_text("\n".join([FERPLUS_HEADER, *votes]) + "\n")
    pool = read_ferplus(fer, tmp_path / "fer2013new.csv")
    assert pool.labels == ["happy", "sad"] and pool.dataset == "ferplus"
    assert pool.sources == [f"{fer}#0", f"{fer}#4"]
    assert sum(pool.info["dropped"].values()) == 4
    first = read_ferplus(fer, tmp_path / "fer2013new.csv", ties="first")
    assert first.labels == ["happy", "neutral", "sad"]  # the tie goes to the first column (neutral)
    assert read_ferplus(fer, tmp_path / "fer2013new.csv", usage="PublicTest").labels == ["sad"]
    assert read_ferplus(fer, tmp_path / "fer2013new.csv", min_votes=7).labels == ["happy"]
    short = write_fer2013(tmp_path / "short.csv", [(0, "Training")])
    with pytest.raises(ValueError, match="row order"):
        read_ferplus(short, tmp_path / "fer2013new.csv")


def write_rafdb(root: Path, entries: list[tuple[str, int]], make_image) -> Path:
    (root / "EmoLabel").mkdir(parents=True)
    (root / "Image" / "aligned").mkdir(parents=True)
    lines = []
    for i, (name, label) in enumerate(entries):
        lines.append(f"{name} {label}")
        make_image(i, (100, 100)).save(root / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg"))
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return root


def test_rafdb_basic_layout(tmp_path: Path, make_image) -> None:
    entries = [("train_00001.jpg", 5), ("train_00002.jpg", 4), ("test_0001.jpg", 6), ("test_0002.jpg", 1)]
    root = write_rafdb(tmp_path / "basic", entries, make_image)
    pool = read_rafdb(root)
    assert pool.labels == ["sad", "happy", "anger", "surprise"]
    assert pool.images[0] == root / "Image" / "aligned" / "train_00001_aligned.jpg"
    assert read_rafdb(root, split="test").labels == ["anger", "surprise"]
    assert RAFDB_EMOTIONS == {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "anger", 7: "neutral"}
    (root / "Image" / "aligned" / "test_0002_aligned.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 RAF-DB image"):
        read_rafdb(root)
    with pytest.raises(FileNotFoundError, match="basic"):
        read_rafdb(tmp_path)


def test_affectnet_id_folders_and_csv(tmp_path: Path, make_image) -> None:
    root = tmp_path / "affectnet"
    for expr, n in {"0": 2, "1": 1, "6": 2, "8": 1, "10": 1}.items():
        (root / expr).mkdir(parents=True)
        for i in range(n):
            make_image(int(expr) * 10 + i).save(root / expr / f"{i}.jpg")
    pool = read_affectnet(root)
    assert pool.labels == ["neutral", "neutral", "happy", "anger", "anger"]  # 8 and 10 skipped
    assert AFFECTNET_EMOTIONS[7] == "contempt"
    images = tmp_path / "csvcase" / "Manually_Annotated_Images"
    (images / "12").mkdir(parents=True)
    make_image(1).save(images / "12" / "a.jpg")
    make_image(2).save(images / "12" / "b.jpg")
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    rows = ["12/a.jpg,0,0,10,10,,2,0.1,0.2", "12/b.jpg,0,0,10,10,,9,0,0"]
    (tmp_path / "csvcase" / "training.csv").write_text("\n".join([header, *rows]) + "\n")
    csv_pool = read_affectnet(tmp_path / "csvcase" / "training.csv")
    assert csv_pool.labels == ["sad"] and csv_pool.images == [images / "12" / "a.jpg"]
    (root / "anger").mkdir()
    with pytest.raises(ValueError, match="'folder' pool"):
        read_affectnet(root)


def test_folder_pool(image_folder: Path) -> None:
    pool = read_image_folder_pool(image_folder)
    assert pool.counts() == {"anger": 3, "happy": 2, "sad": 4}
    assert pool.sources == [str(p) for p in pool.images]


def test_mapping_fills_missing_classes_and_lists_all_unmapped(tmp_path: Path) -> None:
    pool = read_fer2013(write_fer2013(tmp_path / "fer2013.csv", FER_ROWS))
    iemocap = ["happy", "sad", "neutral", "anger", "excited", "frustration"]
    with pytest.raises(ValueError) as err:
        map_pool(pool, iemocap)
    message = str(err.value)
    assert "['excited', 'frustration']" in message and "--map excited=" in message and "'happy'" in message
    mapped = map_pool(pool, iemocap, {"excited": "happy", "frustration": ["anger", "sad"]})
    assert mapped.counts() == {"happy": 2, "sad": 1, "neutral": 1, "anger": 1, "excited": 2, "frustration": 2}
    assert mapped.info["mapping"]["frustration"] == ["anger", "sad"]
    # excited reuses the happy images (same sources)
    happy = [s for s, label in zip(mapped.sources, mapped.labels, strict=True) if label == "happy"]
    excited = [s for s, label in zip(mapped.sources, mapped.labels, strict=True) if label == "excited"]
    assert happy == excited
    with pytest.raises(ValueError, match="not in classes"):
        map_pool(pool, ["happy"], {"calm": "neutral"})
    # aliases: target "angry" takes the pool's anger
    assert map_pool(pool, ["angry"]).counts() == {"angry": 1}


def test_parse_mapping() -> None:
    assert parse_mapping(["excited=happy", "frustration = anger+disgust"]) == {
        "excited": ["happy"],
        "frustration": ["anger", "disgust"],
    }
    with pytest.raises(ValueError, match="TARGET=SOURCE"):
        parse_mapping(["excited"])


def test_load_pool_and_source_images_round_trip(tmp_path: Path, make_image) -> None:
    csv_path = write_fer2013(tmp_path / "fer2013.csv", FER_ROWS)
    pool = load_pool("fer2013", csv_path)
    make_image(0).save(tmp_path / "face.png")
    opened = load_source_images([pool.sources[3], "face.png", "missing.png"], root=tmp_path)
    assert opened[0] is not None and opened[0].mode == "RGB" and opened[0].size == (48, 48)
    assert np.array_equal(np.asarray(opened[0])[..., 0], np.asarray(pool.images[3]))
    assert opened[1] is not None and opened[2] is None
    with pytest.raises(ValueError, match="unknown pool"):
        load_pool("ckplus", csv_path)
    with pytest.raises(ValueError, match="--ferplus-csv"):
        load_pool("ferplus", csv_path)
    with pytest.raises(ValueError, match="same length"):
        ExemplarPool(["a.png"], [], [])
