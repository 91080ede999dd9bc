"""The one image lister: folders (find_class_images) and pools (AffectNet folders) skip the same entries."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from vega_anchors.anchors.folder import find_class_images
from vega_anchors.anchors.pools import read_affectnet
from vega_anchors.images import list_images


def _tree(root: Path) -> None:
    names = ["b.png", "a-c.jpg", "a/b.JPG", ".hidden.png", ".cache/x.png", "a/.deep/y.png", "notes.txt"]
    for i, rel in enumerate(names):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), (i * 30, 0, 0)).save(path, format="PNG")


def test_list_images_skips_hidden_entries_and_sorts_by_relative_path(tmp_path: Path) -> None:
    _tree(tmp_path / "anger")
    found = [p.relative_to(tmp_path / "anger").as_posix() for p in list_images(tmp_path / "anger")]
    assert found == ["a-c.jpg", "a/b.JPG", "b.png"]  # "-" sorts before "/" in the relative path


def test_folders_and_pools_list_the_same_images(tmp_path: Path) -> None:
    _tree(tmp_path / "folders" / "anger")
    _tree(tmp_path / "affectnet" / "6")  # AffectNet id 6 = anger
    from_folder = find_class_images(tmp_path / "folders", ["anger"])["anger"]
    pool = read_affectnet(tmp_path / "affectnet")
    rel = [p.relative_to(tmp_path / "folders" / "anger").as_posix() for p in from_folder]
    assert rel == [Path(p).relative_to(tmp_path / "affectnet" / "6").as_posix() for p in pool.images]
    assert set(pool.labels) == {"anger"} and len(rel) == 3
