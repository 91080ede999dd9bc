"""``vega-anchors build-anchors`` and ``inspect-anchors`` end to end on a tiny random-weight CLIP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from png_helpers import assert_png

from vega_anchors import AnchorBank
from vega_anchors.cli import main
from vega_anchors.official import anchors_to_official


def write_fer2013(path: Path, rows: list[tuple[int, str]]) -> Path:
    """A small ``fer2013.csv``: ``emotion,pixels,Usage`` with random 48×48 pixel strings."""
    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"]
    lines += [f"{e},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}" for e, usage in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def build(tiny: str, pool: str, path: Path, out: Path, *extra: str) -> int:
    argv = ["build-anchors", "--pool", pool, "--pool-path", str(path), "--model", tiny, "--pretrained", "none"]
    return main([*argv, "--device", "cpu", "--batch-size", "4", "--out", str(out), *extra])


def test_build_and_inspect_from_a_folder_pool(
    tiny_clip_model_name: str, image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank_path = tmp_path / "bank.safetensors"
    extra = ["--classes", "anger,happy,sad,excited", "--map", "excited=happy", "--per-class", "2"]
    assert build(tiny_clip_model_name, "folder", image_folder, bank_path, *extra, "--select", "diverse") == 0
    out = capsys.readouterr().out
    assert "leave-one-out nearest-centre accuracy" in out
    bank = AnchorBank.load(bank_path)
    assert bank.class_names == ["anger", "happy", "sad", "excited"] and bank.counts.tolist() == [2, 2, 2, 2]
    assert bank.sources is not None and all(Path(s).is_file() for ids in bank.sources.values() for s in ids)
    assert bank.provenance is not None and bank.provenance["select"] == "diverse"

    assert main(["inspect-anchors", str(bank_path), "--out", str(tmp_path / "inspect")]) == 0
    printed = capsys.readouterr().out
    assert "WARNING" in printed  # 2 exemplars per class (< 5)
    data = json.loads((tmp_path / "inspect" / "diagnostics.json").read_text())
    assert data["diagnostics"]["counts"] == [2, 2, 2, 2] and "sources" in data["metadata"]
    assert_png(tmp_path / "inspect" / "center_heatmap.png", (640, 560))
    assert_png(tmp_path / "inspect" / "projection.png", (720, 560))
    assert_png(tmp_path / "inspect" / "contact_sheet.png")
    assert main(["inspect-anchors", str(bank_path), "--out", str(tmp_path / "i2"), "--strict"]) == 1


def test_build_from_fer2013_and_unmapped_classes_error(
    tiny_clip_model_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = write_fer2013(tmp_path / "fer2013.csv", [(e, "Training") for e in (0, 3, 4, 6, 0, 3, 4, 6)])
    out = tmp_path / "bank.safetensors"
    assert build(tiny_clip_model_name, "fer2013", csv_path, out, "--classes", "iemocap") == 2
    err = capsys.readouterr().err
    assert "['excited', 'frustration']" in err and "--map excited=happy" in err
    mapping = ["--map", "excited=happy", "--map", "frustration=anger"]
    assert build(tiny_clip_model_name, "fer2013", csv_path, out, "--classes", "iemocap", *mapping) == 0
    bank = AnchorBank.load(out)
    assert bank.sources is not None and bank.sources["happy"][0].startswith(f"{csv_path}#")
    assert main(["inspect-anchors", str(out), "--out", str(tmp_path / "inspect")]) == 0
    assert_png(tmp_path / "inspect" / "contact_sheet.png")  # FER rows decoded again from the CSV


def test_bank_without_sources_skips_the_contact_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    path = AnchorBank.from_features({"a": torch.randn(6, 4), "b": torch.randn(6, 4) + 3}).save(
        tmp_path / "b.safetensors"
    )
    assert main(["inspect-anchors", str(path), "--out", str(tmp_path / "o")]) == 0
    assert "no contact sheet" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "center_heatmap.png",
        "diagnostics.json",
        "projection.png",
    ]


def test_folder_bank_records_paths_and_official_files_are_inspected(
    tiny_clip_encoder, image_folder: Path, tmp_path: Path
) -> None:
    import torch

    bank = AnchorBank.from_image_folder(image_folder, tiny_clip_encoder)
    assert bank.sources is not None and [len(v) for v in bank.sources.values()] == [3, 2, 4]
    assert all(Path(s).is_file() for v in bank.sources.values() for s in v)
    path = bank.save(tmp_path / "folder.safetensors")
    assert main(["inspect-anchors", str(path), "--out", str(tmp_path / "a")]) == 0
    assert_png(tmp_path / "a" / "contact_sheet.png")
    torch.save(anchors_to_official(bank), tmp_path / "35_anchor.pt")
    argv = [
        "inspect-anchors",
        str(tmp_path / "35_anchor.pt"),
        "--classes",
        "sad,anger,happy",
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(argv) == 0
    data = json.loads((tmp_path / "b" / "diagnostics.json").read_text())
    assert data["diagnostics"]["class_names"] == ["sad", "anger", "happy"]


def test_ferplus_needs_its_votes_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = write_fer2013(tmp_path / "fer2013.csv", [(3, "Training")])
    argv = ["build-anchors", "--pool", "ferplus", "--pool-path", str(csv_path), "--classes", "happy"]
    assert main([*argv, "--out", str(tmp_path / "b.safetensors")]) == 2
    assert "--ferplus-csv fer2013new.csv" in capsys.readouterr().err
