"""compute_metrics equals scikit-learn's defaults, handles masks, and reports/serialises."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)

from vega_anchors.metrics import ClassificationMetrics, compute_metrics


@st.composite
def label_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    num_classes = draw(st.integers(1, 7))
    n = draw(st.integers(1, 60))
    ids = st.integers(0, num_classes - 1)
    y_true = np.array(draw(st.lists(ids, min_size=n, max_size=n)), dtype=np.int64)
    y_pred = np.array(draw(st.lists(ids, min_size=n, max_size=n)), dtype=np.int64)
    return y_true, y_pred, num_classes


@settings(max_examples=150, deadline=None)
@given(label_pairs())
def test_equals_sklearn(pair: tuple[np.ndarray, np.ndarray, int]) -> None:
    y_true, y_pred, num_classes = pair
    m = compute_metrics(y_true, y_pred, num_classes=num_classes)
    labels = list(range(num_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on zero division; the value is 0.0
        assert m.accuracy == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
        assert m.weighted_f1 == pytest.approx(f1_score(y_true, y_pred, average="weighted"), abs=1e-12)
        assert m.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)
        assert m.weighted_precision == pytest.approx(precision_score(y_true, y_pred, average="weighted"), abs=1e-12)
        assert m.weighted_recall == pytest.approx(recall_score(y_true, y_pred, average="weighted"), abs=1e-12)
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels)
        confusion = confusion_matrix(y_true, y_pred, labels=labels)
    np.testing.assert_allclose(m.precision, p, atol=1e-12)
    np.testing.assert_allclose(m.recall, r, atol=1e-12)
    np.testing.assert_allclose(m.f1, f, atol=1e-12)
    assert list(m.support) == s.tolist()
    np.testing.assert_array_equal(m.confusion, confusion)


@settings(max_examples=50, deadline=None)
@given(label_pairs(), st.integers(0, 2**31 - 1))
def test_ignore_index_drops_positions(pair: tuple[np.ndarray, np.ndarray, int], seed: int) -> None:
    y_true, y_pred, num_classes = pair
    rng = np.random.default_rng(seed)
    padded_true = y_true.copy()
    drop = rng.random(len(y_true)) < 0.3
    drop[0] = False
    padded_true[drop] = -1
    masked = compute_metrics(padded_true, y_pred, num_classes=num_classes)
    direct = compute_metrics(y_true[~drop], y_pred[~drop], num_classes=num_classes)
    assert masked.to_dict() == direct.to_dict()


def test_missing_classes_and_zero_division() -> None:
    # class 2 never predicted, class 3 never true, class 4 in neither
    y_true = [0, 0, 1, 2, 2]
    y_pred = [0, 1, 1, 3, 0]
    m = compute_metrics(y_true, y_pred, num_classes=5)
    assert m.precision == pytest.approx((0.5, 0.5, 0.0, 0.0, 0.0))
    assert m.recall == pytest.approx((0.5, 1.0, 0.0, 0.0, 0.0))
    assert m.support == (2, 1, 2, 0, 0)
    assert m.accuracy == pytest.approx(0.4)
    # macro over the classes seen in y_true or y_pred (0..3), as sklearn does by default
    assert m.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0 + 0) / 4)
    assert m.weighted_f1 == pytest.approx((2 * 0.5 + 1 * 2 / 3) / 5)


def test_accepts_tensors_of_any_shape_with_padding() -> None:
    labels = torch.tensor([[0, 1, 2, -1], [2, 2, -1, -1]])
    preds = torch.tensor([[0, 1, 1, 5], [2, 0, 3, 3]])  # anything at padding is ignored
    m = compute_metrics(labels, preds, class_names=["a", "b", "c"])
    assert m.num_classes == 3 and m.num_samples == 5
    assert m.accuracy == pytest.approx(3 / 5)
    assert m.confusion.tolist() == [[1, 0, 0], [0, 1, 0], [1, 1, 1]]
    from_list = compute_metrics([[0, 1, 2, -1], [2, 2, -1, -1]], preds.numpy(), num_classes=3)
    assert from_list.to_dict() | {"class_names": ["a", "b", "c"]} == m.to_dict()
    floats = compute_metrics(labels.float(), preds.double(), num_classes=3)
    assert floats.accuracy == m.accuracy


def test_num_classes_inferred() -> None:
    assert compute_metrics([0, 1], [1, 3]).num_classes == 4
    assert compute_metrics([0], [0], class_names=["x", "y"]).class_names == ("x", "y")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 1], [0]), {}, "2 elements but y_pred has 1"),
        (([-1, -1], [0, 1]), {}, "no labelled positions"),
        (([0, 3], [0, 1]), {"num_classes": 3}, "y_true holds class id 3"),
        (([0, 1], [0, -2]), {"num_classes": 3}, "y_pred holds class id -2"),
        (([0, 1], [0, 1]), {"num_classes": 3, "class_names": ["a"]}, "1 class_names"),
        (([0.5, 1], [0, 1]), {}, "integer class ids"),
    ],
)
def test_errors(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_metrics(*args, **kwargs)


def test_report_and_to_dict() -> None:
    m = compute_metrics([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], class_names=["happy", "sad", "neutral"])
    assert isinstance(m, ClassificationMetrics)
    report = m.report()
    lines = report.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    happy = next(line for line in lines if line.strip().startswith("happy"))
    assert happy.split() == ["happy", "0.5000", "0.5000", "0.5000", "2"]
    assert any(line.split()[:2] == ["weighted", "avg"] for line in lines)
    assert "accuracy" in report and "0.6667" in report
    d = json.loads(json.dumps(m.to_dict()))
    assert d["class_names"] == ["happy", "sad", "neutral"]
    assert d["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert d["weighted_f1"] == pytest.approx(m.weighted_f1)
    assert "weighted F1" in str(m)
