"""feature_report on media features: counts from extras["media"], zero-shot accuracy against anchors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vega_anchors import AnchorBank
from vega_anchors.cli import main
from vega_anchors.data import Dialogue, FeatureSet, feature_report, save_features


def media_features() -> FeatureSet:
    eye = torch.eye(3)
    # visual rows equal the anchors of classes 0, 1, 2, 0; labels 0, 1, 2, 1 (the last row is wrong but masked)
    train = [Dialogue("a", {"visual": eye[[0, 1, 2, 0]]}, torch.zeros(4, dtype=torch.long), torch.tensor([0, 1, 2, 1]))]
    extras = {"media": {"stats": {"visual": {"train": {"utterances": 4, "masked": 1, "missing_media": 1, "failed": 0,
                                                       "no_face": 3}}},
                        "masked": {"visual": {"train": [{"dialogue": "a", "utterance": "3", "row": 3,
                                                         "reason": "no media"}]}}}}  # fmt: skip
    return FeatureSet(
        train=train,
        test=[],
        dev=[],
        layout="store",
        source="test",
        label_names=("neutral", "happy", "anger"),
        num_speakers=1,
        modality_dims={"visual": 3},
        extras=extras,
    )


def test_media_counts_and_zero_shot_skip_masked_rows(tmp_path: Path, capsys) -> None:
    features = media_features()
    bank = AnchorBank.from_features(
        {"happy": torch.eye(3)[1:2], "neutral": torch.eye(3)[:1], "anger": torch.eye(3)[2:]}
    )
    report = feature_report(features, anchors=bank)
    assert report.zero_shot == {"train": 1.0}  # 3 of 3 unmasked rows; the masked wrong one is left out
    assert report.media["visual"]["train"]["no_face_rate"] == pytest.approx(0.75)
    assert any("no face found in 75%" in w for w in report.warnings)
    assert any("1 of 4 utterances are masked" in w for w in report.warnings)
    assert "Zero-shot accuracy" in report.format()
    store, bank_file = tmp_path / "f.safetensors", tmp_path / "bank.safetensors"
    save_features(features, store)
    bank.save(bank_file)
    assert main(["inspect-features", str(store), "--anchors", str(bank_file)]) == 0
    assert "train 1.000" in capsys.readouterr().out


def test_zero_shot_needs_the_anchor_space() -> None:
    bank = AnchorBank.from_features({"happy": torch.randn(2, 5)})
    report = feature_report(media_features(), anchors=bank)
    assert report.zero_shot == {} and any("not the same space" in w for w in report.warnings)
