"""Per-utterance baselines on the features of a store: what the dialogue model has to beat.

:func:`logistic_regression_baseline` fits a multinomial logistic regression on each utterance's
features alone (all modalities concatenated, standardised with training statistics; no dialogue
context, no speakers), with the inverse regularisation ``C`` chosen on dev weighted F1 over a wide
log-spaced grid (:data:`C_GRID`, 1e-4 … 1e3); the result says when the choice is at the grid's
edge. :func:`majority_baseline` predicts the most frequent training class. Both report in the
``metrics.json`` layout of :func:`~vega_anchors.runs.train_run` (``"kind": "baseline"``), so the
two compare side by side. Needs scikit-learn (``pip install "vega-anchors[baseline]"``).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ._rundir import RunFiles
from .data import Dialogue, FeatureSet, load_features
from .metrics import ClassificationMetrics, compute_metrics, metrics_summary

logger = logging.getLogger(__name__)

__all__ = ["C_GRID", "baseline_report", "logistic_regression_baseline", "majority_baseline"]

C_GRID: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 3, 15))
"""The default ``C`` grid: 15 values, 1e-4 … 1e3, half a decade apart."""


def _rows(dialogues: Sequence[Dialogue], modalities: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``[N, ΣD]`` features and ``[N]`` labels of the labelled utterances."""
    x = torch.cat([torch.cat([d.features[m].float() for m in modalities], dim=-1) for d in dialogues]).numpy()
    y = torch.cat([d.labels for d in dialogues]).numpy()
    keep = y >= 0
    return x[keep], y[keep]


def _selection(fs: FeatureSet, validation_fraction: float) -> tuple[list[Dialogue], list[Dialogue], str]:
    """The store's dev split, else the training hold-out of seed 0 (the one choice: ``selection_split``)."""
    from .training.evaluate import selection_split

    return selection_split(fs.train, val=fs.dev, val_fraction=validation_fraction, seed=0, val_name="dev")


def _summary(metrics: ClassificationMetrics | None) -> dict[str, float] | None:
    return metrics_summary([metrics] if metrics is not None else [])


def majority_baseline(
    features: FeatureSet | str | os.PathLike[str], *, validation_fraction: float = 0.1
) -> dict[str, Any]:
    """Predict the most frequent training class everywhere.

    Returns:
        ``{"kind": "baseline", "model": "majority", "class_names", "selected_on", "majority_class",
        "test": {...}, "dev": {...}, "seeds": {"0": {"test": to_dict(), "dev": to_dict()}}}``.
    """
    fs = features if isinstance(features, FeatureSet) else load_features(features)
    names = list(fs.label_names)
    train, selection, selected_on = _selection(fs, validation_fraction)
    y_train = torch.cat([d.labels for d in train])
    counts = torch.bincount(y_train[y_train >= 0], minlength=len(names))
    majority = int(counts.argmax())

    def score(dialogues: Sequence[Dialogue]) -> ClassificationMetrics | None:
        if not dialogues:
            return None
        y = torch.cat([d.labels for d in dialogues])
        y = y[y >= 0]
        if y.numel() == 0:
            return None
        return compute_metrics(y, torch.full_like(y, majority), num_classes=len(names), class_names=names)

    dev, test = score(selection), score(fs.test)
    return {
        "kind": "baseline",
        "model": "majority",
        "class_names": names,
        "selected_on": selected_on,
        "majority_class": names[majority],
        "test": _summary(test),
        "dev": _summary(dev),
        "seeds": {"0": {"test": test.to_dict() if test else None, "dev": dev.to_dict() if dev else None}},
    }


def logistic_regression_baseline(
    features: FeatureSet | str | os.PathLike[str],
    *,
    grid: Sequence[float] = C_GRID,
    modalities: Sequence[str] | None = None,
    max_iter: int = 2000,
    validation_fraction: float = 0.1,
) -> dict[str, Any]:
    """A per-utterance logistic regression, ``C`` chosen on dev weighted F1 over ``grid``.

    Args:
        features: a feature store path or a :class:`~vega_anchors.data.FeatureSet`.
        grid: the ``C`` values tried (default :data:`C_GRID`, 1e-4 … 1e3), fitted from small to large
            with warm starts.
        modalities: which modalities to concatenate (default: all, in store order).
        max_iter: lbfgs iterations per fit.
        validation_fraction: without a dev split, the share of training dialogues held out for the
            choice of ``C`` (``"selected_on": "validation"``).

    Returns:
        The ``metrics.json`` layout of a train run, ``"kind": "baseline"``, plus ``"model":
        "logistic_regression"``, ``"C"`` (chosen), ``"C_grid"``, ``"C_at_edge"`` (bool),
        ``"dev_by_C"`` (dev weighted F1 per ``C``) and ``"seconds"``/``"cpu_seconds"``.
    """
    ConvergenceWarning, LogisticRegression, StandardScaler = _sklearn()
    fs = features if isinstance(features, FeatureSet) else load_features(features)
    names = list(fs.label_names)
    used = list(modalities) if modalities is not None else list(fs.modality_dims)
    if not grid:
        raise ValueError("grid is empty: give at least one C value")
    train, selection, selected_on = _selection(fs, validation_fraction)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    x_train, y_train = _rows(train, used)
    x_sel, y_sel = _rows(selection, used)
    scaler = StandardScaler().fit(x_train)
    x_train, x_sel = scaler.transform(x_train), scaler.transform(x_sel)
    values = sorted(float(c) for c in grid)
    clf = LogisticRegression(C=values[0], max_iter=max_iter, warm_start=True)
    chosen, dev_by_c = _choose_c(
        clf, values, (x_train, y_train), (x_sel, y_sel), names, selected_on, ConvergenceWarning
    )
    at_edge = len(values) > 1 and chosen in (values[0], values[-1])
    if at_edge:
        logger.warning("logistic regression: C=%.4g is at the edge of the grid %s; widen it", chosen, values)
    dev = _score_split(clf, scaler, selection, used, names)
    test = _score_split(clf, scaler, fs.test, used, names)
    return {
        "kind": "baseline",
        "model": "logistic_regression",
        "class_names": names,
        "selected_on": selected_on,
        "modalities": used,
        "C": chosen,
        "C_grid": values,
        "C_at_edge": at_edge,
        "dev_by_C": dev_by_c,
        "test": _summary(test),
        "dev": _summary(dev),
        "seeds": {"0": {"test": test.to_dict() if test else None, "dev": dev.to_dict() if dev else None}},
        "seconds": time.perf_counter() - wall0,
        "cpu_seconds": time.process_time() - cpu0,
    }


def _sklearn() -> tuple[Any, Any, Any]:
    """scikit-learn's ``ConvergenceWarning``, ``LogisticRegression`` and ``StandardScaler`` (or an install hint)."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError as err:
        raise ImportError(
            'the logistic regression baseline needs scikit-learn: pip install "vega-anchors[baseline]"'
        ) from err
    return ConvergenceWarning, LogisticRegression, StandardScaler


def _choose_c(
    clf: Any,
    values: Sequence[float],
    train: tuple[np.ndarray, np.ndarray],
    selection: tuple[np.ndarray, np.ndarray],
    names: list[str],
    selected_on: str,
    convergence_warning: type[Warning],
) -> tuple[float, dict[str, float]]:
    """Fit ``clf`` over ``values`` (warm starts), leave it at the best ``C``; return that ``C`` and the scores."""
    x_train, y_train = train
    x_sel, y_sel = selection
    dev_by_c: dict[str, float] = {}
    best: tuple[float, float, Any] | None = None
    for c in values:
        clf.set_params(C=c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", convergence_warning)
            clf.fit(x_train, y_train)
        score = compute_metrics(y_sel, clf.predict(x_sel), num_classes=len(names), class_names=names).weighted_f1
        dev_by_c[f"{c:.4g}"] = float(score)
        logger.info("logistic regression C=%.4g: %s weighted F1 %.4f", c, selected_on, score)
        if best is None or score > best[1]:
            best = (c, score, (clf.coef_.copy(), clf.intercept_.copy()))
    assert best is not None
    chosen, _, (coef, intercept) = best
    clf.coef_, clf.intercept_ = coef, intercept
    return chosen, dev_by_c


def _score_split(
    clf: Any, scaler: Any, dialogues: Sequence[Dialogue], used: Sequence[str], names: list[str]
) -> ClassificationMetrics | None:
    """The fitted regression's metrics on ``dialogues`` (None when they have no labelled utterance)."""
    if not dialogues:
        return None
    x, y = _rows(dialogues, used)
    if y.size == 0:
        return None
    return compute_metrics(y, clf.predict(scaler.transform(x)), num_classes=len(names), class_names=names)


def baseline_report(
    features: FeatureSet | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    grid: Sequence[float] = C_GRID,
    validation_fraction: float = 0.1,
) -> dict[str, Any]:
    """Both baselines; with ``out``, writes ``out/metrics.json`` (the logistic regression in the train
    layout, the majority class under ``"majority"``) and ``out/per_class.csv`` (logistic regression, test).

    Returns:
        The ``metrics.json`` content.
    """
    fs = features if isinstance(features, FeatureSet) else load_features(features)
    report = logistic_regression_baseline(fs, grid=grid, validation_fraction=validation_fraction)
    report["features"] = str(features) if not isinstance(features, FeatureSet) else fs.source
    report["majority"] = majority_baseline(fs, validation_fraction=validation_fraction)
    if out is not None:
        seed = report["seeds"]["0"]
        rows = [seed["test"]] if seed["test"] else ([seed["dev"]] if seed["dev"] else [])
        RunFiles(out).write_metrics(report, rows)
    return report
