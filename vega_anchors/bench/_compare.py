"""``python -m vega_anchors.bench compare``: the statistics of ``vega-anchors compare`` on a MELD-sized
synthetic split (generated data: 280 dialogues, 2,610 utterances, 7 classes; 3 seeds per run)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

MELD_TEST_DIALOGUES = 280
MELD_TEST_UTTERANCES = 2610


def synthetic_runs(
    num_dialogues: int = MELD_TEST_DIALOGUES,
    num_utterances: int = MELD_TEST_UTTERANCES,
    num_classes: int = 7,
    seeds: int = 3,
    seed: int = 0,
) -> list[Any]:
    """Two synthetic runs (generated predictions: A right ~60% of the time, B ~57%) on one split."""
    from ..compare import RunPredictions

    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, num_utterances), num_dialogues - 1, replace=False))
    lengths = np.diff(np.concatenate([[0], cuts, [num_utterances]])).tolist()
    labels = rng.integers(0, num_classes, num_utterances)
    classes = [f"class{c}" for c in range(num_classes)]
    ids = [f"d{i}" for i in range(num_dialogues)]

    def predictions(error: float) -> dict[int, np.ndarray]:
        wrong = {s: rng.random(num_utterances) < error for s in range(seeds)}
        shift = rng.integers(1, num_classes, num_utterances)
        return {s: np.where(w, (labels + shift) % num_classes, labels) for s, w in wrong.items()}

    return [
        RunPredictions(name, classes, ids, lengths, labels, predictions(error), "synthetic")
        for name, error in (("A", 0.40), ("B", 0.43))
    ]


def bench_compare(*, resamples: int = 1000, repeats: int = 5, **sizes: Any) -> list[dict[str, Any]]:
    """Seconds of :func:`~vega_anchors.compare.compare_predictions` (bootstrap, seed-paired and
    per-class statistics; model predictions excluded) on a MELD-test-sized synthetic split."""
    from ..compare import compare_predictions

    runs = synthetic_runs(**sizes)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        compare_predictions(runs, resamples=resamples)
        seconds.append(time.perf_counter() - start)
    return [
        {
            "workload": "compare",
            "data": "synthetic (generated predictions)",
            "dialogues": len(runs[0].lengths),
            "utterances": int(sum(runs[0].lengths)),
            "classes": len(runs[0].class_names),
            "seeds_per_run": len(runs[0].predictions),
            "resamples": resamples,
            "median_s": round(float(np.median(seconds)), 4),
            "max_s": round(float(np.max(seconds)), 4),
            "repeats": repeats,
        }
    ]
