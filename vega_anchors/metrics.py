"""Classification metrics for emotion recognition: weighted F1 and friends, without scikit-learn.

The numbers equal scikit-learn's defaults (``accuracy_score``, ``f1_score``/``precision_score``
with ``average="weighted"``/``"macro"``, ``precision_recall_fscore_support``,
``confusion_matrix``), including ``zero_division`` → 0.0 for classes never predicted or never seen.

Note: the official VEGA training code reports a column named "acc" that is scikit-learn's
*weighted precision*, not accuracy; it is :attr:`ClassificationMetrics.weighted_precision` here.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["SUMMARY_KEYS", "ClassificationMetrics", "compute_metrics", "metrics_summary"]


@dataclass(frozen=True, eq=False)
class ClassificationMetrics:
    """Scores over the labelled utterances.

    Averages (``weighted_*``, ``macro_f1``) follow scikit-learn's defaults: weighted averages weight
    each class by its true support; the macro average runs over the classes that occur in
    ``y_true`` or ``y_pred`` (scikit-learn's default ``labels``), so a class absent from both does
    not pull it down.

    Attributes:
        accuracy: share of correct predictions.
        weighted_f1: support-weighted F1 (the paper's headline metric).
        macro_f1: unweighted mean F1 over the classes present.
        weighted_precision: support-weighted precision (the official code's "acc" column).
        weighted_recall: support-weighted recall (equals ``accuracy``).
        precision, recall, f1: ``[C]`` per class (0.0 where undefined).
        support: ``[C]`` number of true labels per class.
        confusion: ``[C, C]`` counts, rows = true class, columns = predicted class.
        class_names: ``C`` names (``"0"``, ``"1"``, … when none were given).

    Instances compare by identity (``confusion`` is an array); compare :meth:`to_dict` outputs instead.
    """

    accuracy: float
    weighted_f1: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    confusion: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return len(self.class_names)

    @property
    def num_samples(self) -> int:
        """Number of scored (labelled) utterances."""
        return int(sum(self.support))

    def report(self, digits: int = 4) -> str:
        """A per-class table like scikit-learn's ``classification_report``."""
        width = max(len("weighted avg"), *(len(n) for n in self.class_names))
        header = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"
        lines = [header, ""]
        for i, name in enumerate(self.class_names):
            lines.append(
                f"{name:>{width}} {self.precision[i]:>9.{digits}f} {self.recall[i]:>9.{digits}f} "
                f"{self.f1[i]:>9.{digits}f} {self.support[i]:>9d}"
            )
        n = self.num_samples
        present = self._present()
        macro_p = float(np.mean(np.asarray(self.precision)[present])) if present.any() else 0.0
        macro_r = float(np.mean(np.asarray(self.recall)[present])) if present.any() else 0.0
        lines += [
            "",
            f"{'accuracy':>{width}} {'':>9} {'':>9} {self.accuracy:>9.{digits}f} {n:>9d}",
            f"{'macro avg':>{width}} {macro_p:>9.{digits}f} {macro_r:>9.{digits}f} "
            f"{self.macro_f1:>9.{digits}f} {n:>9d}",
            f"{'weighted avg':>{width}} {self.weighted_precision:>9.{digits}f} "
            f"{self.weighted_recall:>9.{digits}f} {self.weighted_f1:>9.{digits}f} {n:>9d}",
        ]
        return "\n".join(lines)

    def _present(self) -> np.ndarray:
        return (self.confusion.sum(axis=0) + self.confusion.sum(axis=1)) > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable plain values (per-class values as lists, confusion as nested lists)."""
        return {
            "accuracy": self.accuracy,
            "weighted_f1": self.weighted_f1,
            "macro_f1": self.macro_f1,
            "weighted_precision": self.weighted_precision,
            "weighted_recall": self.weighted_recall,
            "precision": list(self.precision),
            "recall": list(self.recall),
            "f1": list(self.f1),
            "support": list(self.support),
            "confusion": self.confusion.tolist(),
            "class_names": list(self.class_names),
            "num_samples": self.num_samples,
        }

    def __str__(self) -> str:
        return (
            f"weighted F1 {self.weighted_f1:.4f} | accuracy {self.accuracy:.4f} | "
            f"macro F1 {self.macro_f1:.4f} | weighted precision {self.weighted_precision:.4f} "
            f"({self.num_samples} utterances)"
        )


def _to_int_array(values: Any, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{what} must hold integer class ids, got non-integral floats")
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must hold integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64).reshape(-1)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def compute_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    ignore_index: int = -1,
) -> ClassificationMetrics:
    """Score predicted class ids against true ones.

    Args:
        y_true: true class ids, any shape (tensor, array or nested list), e.g. ``[B, T]`` labels
            with ``ignore_index`` at padding.
        y_pred: predicted class ids, same number of elements as ``y_true``.
        num_classes: ``C``; defaults to ``len(class_names)``, else the largest id seen + 1.
        class_names: names for the report; defaults to ``"0"``…``"C-1"``.
        ignore_index: positions where ``y_true`` equals it are dropped (padding, unlabelled).

    Returns:
        :class:`ClassificationMetrics`.

    Raises:
        ValueError: shapes differ, nothing is left to score, or an id falls outside ``[0, C)``.
    """
    true = _to_int_array(y_true, "y_true")
    pred = _to_int_array(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} elements but y_pred has {pred.size}")
    keep = true != ignore_index
    true, pred = true[keep], pred[keep]
    if true.size == 0:
        raise ValueError(f"no labelled positions to score (every y_true equals ignore_index={ignore_index})")
    if class_names is not None and num_classes is not None and len(class_names) != num_classes:
        raise ValueError(
            f"{len(class_names)} class_names given for num_classes={num_classes}; the model's num_classes must be "
            "the number of class names: build its config with num_classes=len(class_names) (as "
            "vega_anchors.recipes.default_model_config and `vega-anchors train` do)"
        )
    if num_classes is None:
        num_classes = len(class_names) if class_names is not None else int(max(true.max(), pred.max())) + 1
    for what, arr in (("y_true", true), ("y_pred", pred)):
        bad = arr[(arr < 0) | (arr >= num_classes)]
        if bad.size:
            raise ValueError(f"{what} holds class id {int(bad[0])}, outside [0, {num_classes})")
    names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(num_classes))

    confusion = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _safe_divide(tp, predicted.astype(np.float64))
    recall = _safe_divide(tp, support.astype(np.float64))
    f1 = _safe_divide(2.0 * tp, (support + predicted).astype(np.float64))
    weights = support / support.sum()
    present = (support + predicted) > 0

    return ClassificationMetrics(
        accuracy=float(tp.sum() / true.size),
        weighted_f1=float(np.sum(weights * f1)),
        macro_f1=float(np.mean(f1[present])),
        weighted_precision=float(np.sum(weights * precision)),
        weighted_recall=float(np.sum(weights * recall)),
        precision=tuple(float(v) for v in precision),
        recall=tuple(float(v) for v in recall),
        f1=tuple(float(v) for v in f1),
        support=tuple(int(v) for v in support),
        confusion=confusion,
        class_names=names,
    )


SUMMARY_KEYS = ("weighted_f1", "accuracy", "macro_f1")
"""The metrics that a run's ``metrics.json`` averages over seeds (each with a ``_std``)."""


def metrics_summary(per_seed: Sequence[ClassificationMetrics | Mapping[str, Any]]) -> dict[str, float] | None:
    """The one summary of scores over seeds (train runs, evaluations and baselines): mean and sample
    std (0 for one seed) of weighted F1, accuracy and macro F1, as ``{"weighted_f1",
    "weighted_f1_std", "accuracy", "accuracy_std", "macro_f1", "macro_f1_std"}``; None for no seeds."""
    if not per_seed:
        return None
    rows = [m.to_dict() if isinstance(m, ClassificationMetrics) else dict(m) for m in per_seed]
    out: dict[str, float] = {}
    for key in SUMMARY_KEYS:
        values = [float(r[key]) for r in rows]
        out[key] = statistics.mean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out
