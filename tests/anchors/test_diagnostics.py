"""Anchor diagnostics on constructed banks whose separability is known."""

from __future__ import annotations

import json
import math

import pytest
import torch

from vega_anchors import AnchorBank
from vega_anchors.anchors.diagnostics import (
    CENTER_COSINE_WARN,
    DUPLICATE_COSINE,
    AnchorDiagnostics,
    anchor_diagnostics,
)


def bank_of(centres: torch.Tensor, per_class: int = 30, noise: float = 1.0, seed: int = 0) -> AnchorBank:
    g = torch.Generator().manual_seed(seed)
    dim = centres.shape[1]
    return AnchorBank.from_features(
        {f"c{i}": centres[i] + noise * torch.randn(per_class, dim, generator=g) for i in range(len(centres))}
    )


def test_same_distribution_classes_score_near_chance_and_warn() -> None:
    accs = []
    for seed in range(5):
        common = torch.randn(1, 32, generator=torch.Generator().manual_seed(100 + seed)).repeat(5, 1)
        diag = bank_of(common, seed=seed).diagnostics()
        accs.append(diag.loo_accuracy)
        assert diag.chance == pytest.approx(0.2)
        assert any("poorly separable" in w for w in diag.warnings)
        assert any("teaches little" in w for w in diag.warnings)
    assert abs(sum(accs) / len(accs) - 0.2) < 0.1  # ≈ chance


def test_well_separated_classes_are_perfect_and_quiet() -> None:
    centres = torch.eye(4, 32) * 20
    diag = bank_of(centres).diagnostics()
    assert diag.loo_accuracy == 1.0 and diag.loo_per_class == [1.0] * 4
    assert diag.num_nearer_other == [0, 0, 0, 0] and diag.num_near_duplicates == 0
    assert diag.warnings == []
    assert diag.counts == [30] * 4
    assert all(0.9 < s < 1.0 for s in diag.spread)
    off = [diag.center_cosine[i][j] for i in range(4) for j in range(4) if i != j]
    assert max(off) < 0.1 and diag.center_cosine[0][0] == pytest.approx(1.0)
    assert diag.loo_confusion == [[30 if i == j else 0 for j in range(4)] for i in range(4)]


def test_spread_and_centre_cosine_are_exact_on_a_small_bank() -> None:
    s = math.sqrt(0.5)
    bank = AnchorBank.from_features(
        {"a": torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "b": torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])}
    )
    diag = anchor_diagnostics(bank, min_count=2)
    assert diag.spread[0] == pytest.approx(s) and diag.spread[1] == pytest.approx(1.0)
    assert diag.center_cosine[0][1] == pytest.approx(0.0, abs=1e-7)
    # b's two exemplars are identical directions: one near-duplicate pair
    assert diag.num_near_duplicates == 1
    assert diag.near_duplicates[0] == {"a": "b", "i": 0, "b": "b", "j": 1, "cosine": 1.0}
    assert any("near-duplicate" in w for w in diag.warnings)


def test_misplaced_exemplars_and_small_classes_warn() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.tensor([10.0, 0, 0, 0]) + torch.randn(10, 4, generator=g)
    b = torch.tensor([0.0, 10, 0, 0]) + torch.randn(3, 4, generator=g)
    a[:3] = torch.tensor([0.0, 10, 0, 0]) + torch.randn(3, 4, generator=g)  # three "a" exemplars look like "b"
    diag = AnchorBank.from_features({"a": a, "b": b}).diagnostics()
    assert diag.num_nearer_other[0] == 3 and {m["nearest"] for m in diag.nearer_other} == {"b"}
    assert any("'b' has 3 exemplar(s) (< 5)" in w for w in diag.warnings)
    assert any("3 of 10 exemplars are nearer another" in w for w in diag.warnings)


def test_output_is_named_serialisable_and_formatted() -> None:
    diag = bank_of(torch.eye(3, 8) * 10).diagnostics(duplicate_cosine=0.5)
    assert isinstance(diag, AnchorDiagnostics)
    data = json.loads(json.dumps(diag.to_dict()))
    assert data["thresholds"]["duplicate_cosine"] == 0.5 and data["loo_accuracy"] == 1.0
    text = diag.format()
    assert "leave-one-out nearest-centre accuracy: 1.000 (chance 0.333)" in text and "c2" in text
    assert CENTER_COSINE_WARN == 0.95 and DUPLICATE_COSINE == 0.98
    single = AnchorBank.from_features({"x": torch.ones(1, 4), "y": torch.randn(3, 4)}).diagnostics()
    assert math.isnan(single.loo_per_class[0]) and single.to_dict()["loo_per_class"][0] is None
