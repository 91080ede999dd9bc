"""vega_anchors.compare: known answers of the paired bootstrap over dialogues (generated predictions)."""

from __future__ import annotations

import numpy as np
import pytest

from vega_anchors import _bootstrap as bs
from vega_anchors.bench._compare import bench_compare, synthetic_runs
from vega_anchors.compare import RunPredictions, compare_predictions, comparison_table
from vega_anchors.errors import ConfigError
from vega_anchors.metrics import compute_metrics

CLASSES = ["a", "b", "c", "d"]


def _runs(seed: int, *, dialogues: int = 120, gap: float = 0.05, seeds: int = 1) -> list[RunPredictions]:
    """Two runs on generated dialogues: dialogue d has A-accuracy p_d (dialogue-level correlation), B has
    p_d − gap on the same utterance draws, so the true accuracy difference is exactly ``gap``."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 16, dialogues)
    p = np.repeat(np.clip(0.6 + 0.15 * rng.standard_normal(dialogues), 0.2, 0.95), lengths)
    n = int(lengths.sum())
    labels = rng.integers(0, len(CLASSES), n)
    ids = [f"d{i}" for i in range(dialogues)]

    def predict(p_right: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.where(u < p_right, labels, (labels + 1) % len(CLASSES))

    draws = [rng.random(n) for _ in range(seeds)]
    a = {s: predict(p, u) for s, u in enumerate(draws)}
    b = {s: predict(p - gap, u) for s, u in enumerate(draws)}
    return [RunPredictions(name, CLASSES, ids, lengths.tolist(), labels, preds) for name, preds in (("A", a), ("B", b))]


def test_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    hits = 0
    for seed in range(100):
        result = compare_predictions(_runs(seed), resamples=400, seed=seed)
        d = result.pairs[0].metrics["accuracy"]
        hits += d.low <= 0.05 <= d.high
    assert 88 <= hits <= 99


def test_identical_runs_give_zero_and_one_half() -> None:
    a, _ = _runs(0, seeds=3)
    result = compare_predictions([a, a], resamples=200)
    for d in result.pairs[0].metrics.values():
        assert d.diff == 0.0 and d.low <= 0.0 <= d.high and d.p_a_better == 0.5
    assert all(s.mean == 0.0 for s in result.pairs[0].seeds.values())


def test_a_better_on_every_dialogue_gives_probability_one() -> None:
    a, b = _runs(1, seeds=2)
    a.predictions = {s: a.labels.copy() for s in a.predictions}  # A right everywhere, B wrong somewhere
    result = compare_predictions([a, b], resamples=300)
    for d in result.pairs[0].metrics.values():
        assert d.p_a_better == 1.0 and d.low > 0
    reverse = compare_predictions([b, a], resamples=300)
    assert all(d.p_a_better == 0.0 for d in reverse.pairs[0].metrics.values())


def test_point_values_are_compute_metrics_means_over_seeds_and_seed_pairs_line_up() -> None:
    a, b = _runs(2, seeds=3)
    result = compare_predictions([a, b], resamples=50)
    per_seed = [compute_metrics(a.labels, a.predictions[s], num_classes=4) for s in range(3)]
    run = result.runs[0]
    for name in ("weighted_f1", "macro_f1", "accuracy"):
        values = [getattr(m, name) for m in per_seed]
        assert run[f"{name}_per_seed"] == pytest.approx(values)
        assert run[name] == pytest.approx(np.mean(values))
    acc_b = [compute_metrics(b.labels, b.predictions[s], num_classes=4).accuracy for s in range(3)]
    seeds = result.pairs[0].seeds["accuracy"]
    assert seeds.per_seed == pytest.approx({s: per_seed[s].accuracy - acc_b[s] for s in range(3)})
    assert seeds.low < seeds.mean < seeds.high
    f1 = result.pairs[0].per_class["a"]
    assert f1.a == pytest.approx(np.mean([m.f1[0] for m in per_seed]))
    assert "A − B" in comparison_table(result) and "per-class F1" in comparison_table(result)


def test_vectorised_resamples_equal_a_loop_over_resampled_dialogues() -> None:
    a, _ = _runs(3, dialogues=20, seeds=2)
    d = len(a.lengths)
    index = np.repeat(np.arange(d), a.lengths)
    counts = bs.dialogue_confusions(index, a.labels, np.stack([a.predictions[0], a.predictions[1]]), d, 4)
    weights = bs.resample_weights(d, 5, np.random.default_rng(0))
    fast = bs.seed_mean_metrics(counts, weights)
    for r in range(5):
        keep = np.concatenate([np.flatnonzero(index == i) for i in np.repeat(np.arange(d), weights[r].astype(int))])
        slow = [compute_metrics(a.labels[keep], a.predictions[s][keep], num_classes=4) for s in (0, 1)]
        for name in ("weighted_f1", "macro_f1", "accuracy"):
            assert fast[name][r] == pytest.approx(np.mean([getattr(m, name) for m in slow]))


def test_bad_input_is_refused_with_one_clear_error() -> None:
    a, _ = _runs(4)
    with pytest.raises(ConfigError, match="at least two runs"):
        compare_predictions([a])
    other = RunPredictions("C", ["w", "x", "y", "z"], a.dialogue_ids, a.lengths, a.labels, a.predictions)
    with pytest.raises(ConfigError, match="classes"):
        compare_predictions([a, other])
    shorter = RunPredictions("D", CLASSES, a.dialogue_ids[:-1], a.lengths[:-1], a.labels, a.predictions)
    with pytest.raises(ConfigError, match="same utterances"):
        compare_predictions([a, shorter])
    relabelled = RunPredictions("E", CLASSES, a.dialogue_ids, a.lengths, (a.labels + 1) % 4, a.predictions)
    with pytest.raises(ConfigError, match="other labels"):
        compare_predictions([a, relabelled])


def test_different_seeds_give_no_seed_pairs_and_say_so() -> None:
    a, b = _runs(5, seeds=2)
    b.predictions = {7: b.predictions[0]}
    pair = compare_predictions([a, b], resamples=20).pairs[0]
    assert pair.seeds is None and "different seeds" in pair.seeds_note


def test_bench_workload_is_meld_sized() -> None:
    runs = synthetic_runs()
    assert sum(runs[0].lengths) == 2610 and len(runs[0].lengths) == 280
    (record,) = bench_compare(resamples=20, repeats=1)
    assert record["resamples"] == 20 and record["median_s"] > 0
