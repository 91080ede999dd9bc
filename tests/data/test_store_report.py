"""The data report: scale warnings, absent classes, defects, numbers."""

from __future__ import annotations

import math

import pytest
import torch

from vega_anchors.data import Dialogue, FeatureSet, feature_report
from vega_anchors.data.store_report import CONTEXT_RMS, MIN_FEATURE_RMS


def dialogue(i: int, text: torch.Tensor, labels: list[int], speakers: list[int] | None = None) -> Dialogue:
    n = text.shape[0]
    return Dialogue(f"d{i}", {"text": text}, torch.tensor(speakers or [0] * n), torch.tensor(labels))


def feature_set(train: list[Dialogue], test: list[Dialogue], dev: list[Dialogue] | None = None) -> FeatureSet:
    return FeatureSet(
        train=train,
        dev=dev or [],
        test=test,
        label_names=("a", "b", "c"),
        num_speakers=2,
        modality_dims={"text": train[0].features["text"].shape[1]},
        layout="table",
        source="unit",
        extras={"speaker_names": ["Ann", "other"]},
    )


def unit_rows(n: int, dim: int, seed: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_unit_norm_sentence_embeddings_are_flagged_and_standardize_recommended() -> None:
    dim = 384
    report = feature_report(
        feature_set(
            [dialogue(0, unit_rows(6, dim, 0), [0, 1, 2, 0, 1, 2], [0, 1, 0, 0, 1, 0])],
            [dialogue(1, unit_rows(3, dim, 1), [0, 1, 2])],
        )
    )
    stats = report.modalities["text"]
    assert stats.rms["train"] == pytest.approx(1 / math.sqrt(dim), rel=1e-6)
    assert stats.mean_norm["train"] == pytest.approx(1.0, rel=1e-6)
    assert stats.projected_ratio == pytest.approx(CONTEXT_RMS * math.sqrt(3) * math.sqrt(dim), rel=1e-6)
    assert 40 < stats.projected_ratio < 43  # "about 40× smaller"
    (warning,) = report.warnings
    assert "text features are tiny: per-dim RMS 0.051" in warning
    assert 'VEGAConfig(input_norm="standardize")' in warning
    assert report.splits["train"].speaker_counts == {"Ann": 4, "other": 2}
    assert report.splits["train"].class_counts == {"a": 2, "b": 2, "c": 2}
    assert (report.splits["train"].min_length, report.splits["test"].max_length) == (6, 3)
    text = report.format()
    assert "WARNINGS (1):" in text and "text [384-d]" in text and "speakers: Ann 4, other 2" in text


def test_well_scaled_features_pass_and_threshold_is_configurable() -> None:
    gen = torch.Generator().manual_seed(0)
    train = [dialogue(0, torch.randn(50, 16, generator=gen), [0, 1, 2] * 16 + [0, 1])]
    test = [dialogue(1, torch.randn(9, 16, generator=gen), [0, 1, 2] * 3)]
    report = feature_report(feature_set(train, test))
    assert report.warnings == []
    assert "No warnings." in report.format()
    assert report.modalities["text"].rms["train"] > MIN_FEATURE_RMS
    assert feature_report(feature_set(train, test), min_rms=5.0).warnings[0].startswith("text features are tiny")
    assert "large" in feature_report(feature_set(train, test), max_rms=0.5).warnings[0]


def test_absent_class_and_defects_are_warned() -> None:
    gen = torch.Generator().manual_seed(0)
    text = torch.randn(5, 4, generator=gen)
    text[:, 2] = 3.0  # a constant dimension
    test_text = 20 * torch.randn(4, 4, generator=gen)  # split scale mismatch
    test_text[1, 0] = float("nan")
    fs = feature_set([dialogue(0, text, [0, 0, 1, 1, 0])], [dialogue(1, test_text, [0, 1, 2, -1])])
    report = feature_report(fs)
    joined = "\n".join(report.warnings)
    assert "class(es) ['c'] never occur in train: the model cannot learn them" in joined
    assert "1 of 4 dims are constant on train (e.g. [2])" in joined
    assert "text features of test hold 1 NaN/Inf values" in joined
    assert "text features of test have RMS" in joined and "off train's" in joined
    assert report.modalities["text"].constant_dims == [2]
    assert report.splits["test"].unlabelled == 1
    assert report.to_dict()["splits"]["train"]["class_counts"] == {"a": 3, "b": 2, "c": 0}


def test_class_absent_from_test_only() -> None:
    gen = torch.Generator().manual_seed(0)
    fs = feature_set(
        [dialogue(0, torch.randn(3, 4, generator=gen), [0, 1, 2])],
        [dialogue(1, torch.randn(2, 4, generator=gen), [0, 0])],
    )
    (warning,) = feature_report(fs).warnings
    assert warning == "class(es) ['b', 'c'] never occur in test: their F1 is undefined there"
