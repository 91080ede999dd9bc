"""Vectorised paired bootstrap over dialogues (the machinery of :mod:`vega_anchors.compare`).

Every run and seed is reduced to per-dialogue confusion counts ``[seeds, dialogues, C, C]``; a
resample is a row of dialogue multiplicities ``[dialogues]`` (a multinomial draw: dialogues drawn
with replacement), so all resamples at once are one matrix product
``weights [R, D] @ counts [D, S·C·C] → [R, S, C, C]``, and the metrics of every resample come from
those confusion matrices with array arithmetic — no Python loop per resample.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

METRICS = ("weighted_f1", "macro_f1", "accuracy")
"""The metrics compared, in table order."""


def dialogue_confusions(
    dialogue_index: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, num_dialogues: int, num_classes: int
) -> np.ndarray:
    """Per-dialogue confusion counts of every seed.

    Args:
        dialogue_index: ``[N]`` dialogue position (0..D-1) of each labelled utterance.
        y_true: ``[N]`` true class ids.
        y_pred: ``[S, N]`` predicted class ids, one row per seed.

    Returns:
        ``[S, D, C, C]`` float64 counts (row: true class, column: predicted).
    """
    c = num_classes
    seeds = y_pred.shape[0]
    flat = (dialogue_index[None, :] * c + y_true[None, :]) * c + y_pred  # [S, N]
    flat = flat + (np.arange(seeds)[:, None] * num_dialogues * c * c)
    counts = np.bincount(flat.ravel(), minlength=seeds * num_dialogues * c * c)
    return counts.reshape(seeds, num_dialogues, c, c).astype(np.float64)


def resample_weights(num_dialogues: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``[R, D]`` multiplicities: each row draws D dialogues with replacement (sums to D)."""
    return rng.multinomial(num_dialogues, np.full(num_dialogues, 1.0 / num_dialogues), size=resamples).astype(
        np.float64
    )


def confusion_metrics(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Weighted F1, macro F1, accuracy and per-class F1 of confusion matrices ``[..., C, C]``.

    As :func:`vega_anchors.metrics.compute_metrics`: F1 is 0 where undefined, weighted F1 weighs each
    class by its true support, macro F1 averages the classes present in the truth or the predictions.

    Returns:
        ``{"weighted_f1": [...], "macro_f1": [...], "accuracy": [...], "f1": [..., C]}``.
    """
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(-1)
    predicted = confusion.sum(-2)
    total = support.sum(-1)
    denominator = support + predicted
    f1 = np.divide(2.0 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    present = denominator > 0
    safe_total = np.where(total > 0, total, 1.0)
    return {
        "weighted_f1": (f1 * support).sum(-1) / safe_total,
        "macro_f1": (f1 * present).sum(-1) / np.maximum(present.sum(-1), 1),
        "accuracy": tp.sum(-1) / safe_total,
        "f1": f1,
    }


def seed_mean_metrics(counts: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The metrics of each seed, then their mean over seeds.

    Args:
        counts: ``[S, D, C, C]`` from :func:`dialogue_confusions`.
        weights: ``[R, D]`` resample multiplicities; None: the split as it is (one "resample" of ones).

    Returns:
        name → ``[R]`` (``"f1"``: ``[R, C]``), each the mean over seeds of that seed's metric on
        the resample; plus ``"per_seed_<name>"`` → ``[R, S]`` for the three summary metrics.
    """
    s, d, c, _ = counts.shape
    if weights is None:
        weights = np.ones((1, d))
    flat = counts.transpose(1, 0, 2, 3).reshape(d, s * c * c)
    confusion = (weights @ flat).reshape(weights.shape[0], s, c, c)  # [R, S, C, C]
    per_seed = confusion_metrics(confusion)
    out = {name: values.mean(axis=1) for name, values in per_seed.items()}
    out.update({f"per_seed_{name}": per_seed[name] for name in METRICS})
    return out


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of ``samples [R, ...]`` along axis 0."""
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return low, high


def share_greater(diff: np.ndarray) -> np.ndarray:
    """Share of resamples with A > B along axis 0; ties count one half (identical runs give 0.5)."""
    return (diff > 0).mean(axis=0) + 0.5 * (diff == 0).mean(axis=0)


# Two-sided 95% Student t quantiles (0.975) for 1..30 degrees of freedom; the normal 1.96 beyond.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval of paired differences; the interval is NaN for one value."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    df = len(values) - 1
    q = _T975[df - 1] if df <= len(_T975) else 1.959964
    half = q * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half
