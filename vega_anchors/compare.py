"""Is run A really better than run B? Paired statistics on the same utterances — what
``vega-anchors compare`` and ``vega-anchors ablate`` print.

Each seed's model of each run predicts the same split of the same utterances
(:func:`run_predictions`); :func:`compare_predictions` then compares the first run with every other:

* **Paired bootstrap over dialogues.** Dialogues, not utterances, are drawn with replacement
  (utterances within a dialogue are correlated); every run and every seed is scored on the *same*
  resampled dialogues, so the differences are paired. Several seeds: in each resample, each seed's
  metric is computed on the resample and the seeds' metrics are averaged (the mean over seeds that
  ``metrics.json`` reports), so the interval covers both test-set and seed variation as far as the
  given seeds show it. The interval is the 95% percentile interval of the resampled differences
  A − B; ``p_a_better`` is the share of resamples with A > B (ties count one half, so identical runs
  give 0.5). Vectorised: one matrix product of resample weights ``[R, D]`` and per-dialogue
  confusion counts ``[D, S·C·C]`` (:mod:`vega_anchors._bootstrap`).
* **Seed-paired differences** when both runs have the same seeds: per seed, A's metric minus B's on
  the whole split; their mean and a 95% Student-t interval (the spread of training seeds; with
  3 seeds the interval is wide — 2 degrees of freedom).
* **Per-class F1 differences** with bootstrap intervals.

A difference whose interval contains 0 is not distinguishable from noise at this test-set size.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import _bootstrap as bs
from .data import FeatureSet
from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "Comparison",
    "Difference",
    "PairComparison",
    "RunPredictions",
    "SeedDifference",
    "compare_predictions",
    "compare_runs",
    "comparison_table",
    "plot_comparison",
    "run_predictions",
    "write_comparison",
]


@dataclass
class RunPredictions:
    """One run's per-seed predictions on one split.

    Attributes:
        name: how tables name the run.
        class_names: the classes, in label order.
        dialogue_ids: the split's dialogue ids, in order ``[D]``.
        lengths: utterances per dialogue ``[D]``.
        labels: ``[N]`` true class ids of every utterance (``N = sum(lengths)``; -1: unlabelled).
        predictions: seed → ``[N]`` predicted class ids (that seed's model alone).
        features: the feature store the predictions come from.
    """

    name: str
    class_names: list[str]
    dialogue_ids: list[str]
    lengths: list[int]
    labels: np.ndarray
    predictions: dict[int, np.ndarray]
    features: str = ""


class Difference(NamedTuple):
    """A − B of one metric: both values, the difference on the split, its bootstrap interval and
    the share of resamples with A > B."""

    a: float
    b: float
    diff: float
    low: float
    high: float
    p_a_better: float


class SeedDifference(NamedTuple):
    """Seed-paired A − B of one metric: per-seed differences, their mean and 95% t interval (NaN
    with one seed)."""

    per_seed: dict[int, float]
    mean: float
    low: float
    high: float


@dataclass
class PairComparison:
    """Run ``a`` (the first run) against run ``b``.

    Attributes:
        metrics: ``"weighted_f1"``, ``"macro_f1"``, ``"accuracy"`` → :class:`Difference`.
        seeds: metric → :class:`SeedDifference`, or None when the runs' seeds differ.
        per_class: class name → :class:`Difference` of that class's F1.
        seeds_note: why there is no seed-paired comparison (empty when there is).
    """

    a: str
    b: str
    metrics: dict[str, Difference]
    seeds: dict[str, SeedDifference] | None
    per_class: dict[str, Difference]
    seeds_note: str = ""


@dataclass
class Comparison:
    """The result of :func:`compare_runs` / :func:`compare_predictions`: the first run against each other."""

    runs: list[dict[str, Any]]
    pairs: list[PairComparison]
    class_names: list[str]
    num_dialogues: int
    num_utterances: int
    resamples: int
    seed: int
    level: float
    split: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain values (the ``compare.json`` content); NaN becomes None."""
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return _plain(value._asdict())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _check_same_utterances(preds: Sequence[RunPredictions]) -> None:
    """Refuse runs scored on other utterances or classes than the first run."""
    if len(preds) < 2:
        raise ConfigError(
            f"{len(preds)} run given: a comparison needs at least two runs",
            python_fix="pass two or more runs: compare_runs([run_a, run_b], features)",
            cli_fix="give two or more run directories: vega-anchors compare RUN_A RUN_B --features F",
        )
    ref = preds[0]
    for other in preds[1:]:
        problem = ""
        if other.class_names != ref.class_names:
            problem = f"classes {other.class_names}, not {ref.class_names}"
        elif other.dialogue_ids != ref.dialogue_ids or other.lengths != ref.lengths:
            mine = list(zip(ref.dialogue_ids, ref.lengths, strict=False))
            pairs = zip(mine, zip(other.dialogue_ids, other.lengths, strict=False), strict=False)
            diff = next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(ref.lengths), len(other.lengths)))
            problem = (
                f"other utterances ({len(other.dialogue_ids)} dialogues / {sum(other.lengths)} utterances, not "
                f"{len(ref.dialogue_ids)} / {sum(ref.lengths)}; first difference at dialogue #{diff})"
            )
        elif not np.array_equal(other.labels, ref.labels):
            problem = f"other labels on the same utterances ({int((other.labels != ref.labels).sum())} differ)"
        if problem:
            raise ConfigError(
                f"run {other.name!r} was scored on {problem} than run {ref.name!r} ({other.features} vs "
                f"{ref.features}): paired statistics need the same utterances and classes",
                python_fix="score every run on the same split of stores holding the same utterances and labels",
                cli_fix="give --features stores holding the same utterances and labels (same tables, same --labels)",
            )
        if not other.predictions:
            raise ConfigError(f"run {other.name!r} has no seeds", python_fix="train it first", cli_fix="train it first")


def _seed_differences(
    full_a: dict[str, np.ndarray], full_b: dict[str, np.ndarray], seeds_a: list[int], seeds_b: list[int]
) -> tuple[dict[str, SeedDifference] | None, str]:
    if sorted(seeds_a) != sorted(seeds_b):
        return None, f"the runs have different seeds ({seeds_a} vs {seeds_b}): no seed-paired differences"
    order_b = [seeds_b.index(s) for s in seeds_a]
    out: dict[str, SeedDifference] = {}
    for name in bs.METRICS:
        a, b = full_a[f"per_seed_{name}"][0], full_b[f"per_seed_{name}"][0][order_b]
        diffs = {int(s): float(x - y) for s, x, y in zip(seeds_a, a, b, strict=True)}
        mean, low, high = bs.t_interval(list(diffs.values()))
        out[name] = SeedDifference(diffs, mean, low, high)
    note = "" if len(seeds_a) > 1 else "one seed: no t interval"
    return out, note


def _difference(a: np.ndarray, b: np.ndarray, boot_a: np.ndarray, boot_b: np.ndarray, level: float) -> list[Difference]:
    """Differences of ``[K]`` point values with ``[R, K]`` resamples, one per column."""
    diff = boot_a - boot_b
    low, high = bs.interval(diff, level)
    p = bs.share_greater(diff)
    return [
        Difference(float(a[k]), float(b[k]), float(a[k] - b[k]), float(low[k]), float(high[k]), float(p[k]))
        for k in range(a.shape[0])
    ]


def compare_predictions(
    predictions: Sequence[RunPredictions], *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> Comparison:
    """Compare the first run's predictions with each other run's (see the module docstring).

    Args:
        predictions: two or more runs on the same utterances (:func:`run_predictions`).
        resamples: bootstrap resamples ``R`` of the dialogues.
        seed: the bootstrap's random seed (the same resamples for every run and seed).
        level: the intervals' coverage.

    Raises:
        ConfigError: fewer than two runs, or runs on other utterances, labels or classes.
    """
    _check_same_utterances(predictions)
    if resamples < 1:
        raise ConfigError(f"resamples={resamples}", python_fix="pass resamples >= 1", cli_fix="give --resamples 1000")
    start = time.perf_counter()
    ref = predictions[0]
    num_classes, num_dialogues = len(ref.class_names), len(ref.lengths)
    labelled = ref.labels >= 0
    dialogue_index = np.repeat(np.arange(num_dialogues), ref.lengths)[labelled]
    y_true = ref.labels[labelled]
    weights = bs.resample_weights(num_dialogues, resamples, np.random.default_rng(seed))
    full, boot, runs = [], [], []
    for p in predictions:
        seeds = sorted(p.predictions)
        y_pred = np.stack([p.predictions[s][labelled] for s in seeds])
        counts = bs.dialogue_confusions(dialogue_index, y_true, y_pred, num_dialogues, num_classes)
        full.append(bs.seed_mean_metrics(counts))
        boot.append(bs.seed_mean_metrics(counts, weights))
        runs.append(
            {"name": p.name, "features": p.features, "seeds": seeds}
            | {name: float(full[-1][name][0]) for name in bs.METRICS}
            | {f"{name}_per_seed": full[-1][f"per_seed_{name}"][0].tolist() for name in bs.METRICS}
        )
    pairs = []
    for k in range(1, len(predictions)):
        a, b = full[0], full[k]
        metrics = _difference(
            np.array([a[m][0] for m in bs.METRICS]), np.array([b[m][0] for m in bs.METRICS]),
            np.stack([boot[0][m] for m in bs.METRICS], 1), np.stack([boot[k][m] for m in bs.METRICS], 1), level,
        )  # fmt: skip
        per_class = _difference(a["f1"][0], b["f1"][0], boot[0]["f1"], boot[k]["f1"], level)
        seeds, note = _seed_differences(a, b, runs[0]["seeds"], runs[k]["seeds"])
        pairs.append(
            PairComparison(
                ref.name, predictions[k].name, dict(zip(bs.METRICS, metrics, strict=True)), seeds,
                dict(zip(ref.class_names, per_class, strict=True)), note,
            )
        )  # fmt: skip
    return Comparison(
        runs, pairs, list(ref.class_names), num_dialogues, int(labelled.sum()), resamples, seed, level,
        seconds=time.perf_counter() - start,
    )  # fmt: skip


def run_predictions(
    run: Any,
    features: FeatureSet | str | os.PathLike[str],
    *,
    split: str = "test",
    name: str | None = None,
    batch_size: int = 16,
) -> RunPredictions:
    """Each seed's own predictions (fused head, eval mode) of ``run`` on one split of ``features``.

    Args:
        run: a :class:`~vega_anchors.runs.Run` or a run directory.
        features: the feature store (path or :class:`FeatureSet`).

    Raises:
        ConfigError: features with other classes, modalities or encoder than the run's; no such
            split, or no labels in it.
    """
    from .runs import Run, load_run, run_split
    from .training import evaluate

    run = run if isinstance(run, Run) else load_run(run)
    _, path, dialogues = run_split(run, features, split)
    labels = np.concatenate([d.labels.numpy().astype(np.int64) for d in dialogues])
    if not (labels >= 0).any():
        raise ConfigError(
            f"the {split} split of {path} has no labels to compare on",
            python_fix="compare on a labelled split (split='test' or 'dev')",
            cli_fix="use --split with a labelled split (test or dev)",
        )
    predictions = {}
    for seed, net in run.models.items():
        result = evaluate(net, dialogues, batch_size=batch_size, class_names=run.class_names, with_loss=False)
        predictions[int(seed)] = np.concatenate([np.asarray(result.predictions[d.id]) for d in dialogues])
    return RunPredictions(
        name or run.directory.name, run.class_names, [d.id for d in dialogues], [d.length for d in dialogues],
        labels, predictions, path,
    )  # fmt: skip


def _same_store(trained_on: str, given: str) -> bool:
    try:
        return Path(trained_on).resolve() == Path(given).resolve()
    except OSError:
        return trained_on == given


def _store_per_run(
    runs: list[Any], features: FeatureSet | str | os.PathLike[str] | Sequence[Any]
) -> list[FeatureSet | str | os.PathLike[str]]:
    """One store per run; a single store must be the one every run was trained on."""
    if isinstance(features, (FeatureSet, str, os.PathLike)):
        given = features.source if isinstance(features, FeatureSet) else str(features)
        for run in runs:
            trained = str(run.config.get("features", ""))
            if trained and not _same_store(trained, given):
                raise ConfigError(
                    f"run {str(run.directory)!r} was trained on {trained}, not on {given}: runs from different "
                    "stores are not compared on one store",
                    python_fix="pass features=[store_a, store_b, ...] (one per run, each run's own store; the split "
                    "must hold the same utterances), or compare runs trained on the same store",
                    cli_fix="give --features once per run, in run order (each run's own store; the split must hold "
                    "the same utterances), or compare runs trained on the same store",
                )
        return [features] * len(runs)
    stores = list(features)
    if len(stores) != len(runs):
        raise ConfigError(
            f"{len(stores)} feature stores for {len(runs)} runs",
            python_fix="pass one store, or one per run", cli_fix="give --features once, or once per run",
        )  # fmt: skip
    return stores


def compare_runs(
    runs: Sequence[Any],
    features: FeatureSet | str | os.PathLike[str] | Sequence[FeatureSet | str | os.PathLike[str]],
    *,
    split: str = "test",
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    names: Sequence[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
) -> Comparison:
    """Compare the first run with each other run on one split (paired bootstrap over dialogues,
    seed-paired differences, per-class F1; see the module docstring).

    Args:
        runs: two or more run directories (or :class:`~vega_anchors.runs.Run`).
        features: the store every run was trained on, or one store per run (their split must hold
            the same utterances and labels, e.g. stores with other context K of the same tables).
        split: ``"test"``, ``"dev"`` or ``"train"``.
        names: how tables name the runs (default: the run directories' names).
        out: a directory for ``compare.json`` and ``compare.png`` (atomic writes).

    Raises:
        ConfigError: fewer than two runs; a run trained on another store than the one given; a
            missing or unlabelled split; runs on other utterances, labels or classes.
    """
    from .runs import Run, load_run

    if len(runs) < 2:
        _check_same_utterances([])  # the "at least two runs" error
    loaded = [r if isinstance(r, Run) else load_run(r) for r in runs]
    stores = _store_per_run(loaded, features)
    labels = list(names) if names else _run_names(loaded)
    preds = [
        run_predictions(r, s, split=split, name=n, batch_size=batch_size)
        for r, s, n in zip(loaded, stores, labels, strict=True)
    ]
    result = compare_predictions(preds, resamples=resamples, seed=seed, level=level)
    result.split = split
    if out is not None:
        write_comparison(result, out)
    return result


def _run_names(runs: list[Any]) -> list[str]:
    names = [r.directory.name for r in runs]
    return names if len(set(names)) == len(names) else [str(r.directory) for r in runs]


def write_comparison(result: Comparison, out: str | os.PathLike[str], *, stem: str = "compare") -> tuple[Path, Path]:
    """Write ``out/<stem>.json`` and ``out/<stem>.png`` atomically; their paths."""
    import json

    from ._io import atomic_write_text

    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = atomic_write_text(directory / f"{stem}.json", json.dumps(result.to_dict(), indent=1) + "\n")
    return json_path, plot_comparison(result, directory / f"{stem}.png")


def _fmt(value: float, signed: bool = False) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def comparison_table(result: Comparison) -> str:
    """The plain-text table of :func:`compare_predictions`' result (values in points: ×100)."""
    pct = f"{100 * result.level:.0f}%"
    header = f"{'A − B':<34} {'metric':<12} {'A':>6} {'B':>6} {'A−B':>7} {pct + ' bootstrap':>18} {'P(A>B)':>7}"
    header += f"  {'seed-paired mean [t ' + pct + ']':<30}"
    lines = [
        f"{result.split or 'split'}: {result.num_dialogues} dialogues, {result.num_utterances} labelled utterances; "
        f"paired bootstrap over dialogues, {result.resamples} resamples (seed {result.seed}); values ×100",
        header,
        "-" * len(header),
    ]
    for pair in result.pairs:
        label = f"{pair.a} − {pair.b}"[:34]
        for name, d in pair.metrics.items():
            s = pair.seeds[name] if pair.seeds else None
            seeds = f"{_fmt(s.mean, True)} [{_fmt(s.low, True)}, {_fmt(s.high, True)}]" if s else "n/a"
            noise = "" if d.low > 0 or d.high < 0 else "  (contains 0)"
            lines.append(
                f"{label:<34} {name:<12} {_fmt(d.a):>6} {_fmt(d.b):>6} {_fmt(d.diff, True):>7} "
                f"{'[' + _fmt(d.low, True) + ', ' + _fmt(d.high, True) + ']':>18} {d.p_a_better:>7.3f}  "
                f"{seeds:<30}{noise}"
            )
            label = ""
        classes = ", ".join(
            f"{c} {_fmt(d.diff, True)} [{_fmt(d.low, True)}, {_fmt(d.high, True)}]" for c, d in pair.per_class.items()
        )
        lines.append(f"{'':<34} per-class F1 A−B: {classes}")
        if pair.seeds_note:
            lines.append(f"{'':<34} note: {pair.seeds_note}")
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)


def plot_comparison(result: Comparison, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """A PNG with every difference A − B (points ×100) and its bootstrap interval: the summary
    metrics (left) and per-class F1 (right), one colour per compared run; the line at 0 is "no
    difference". Written atomically; returns the path."""
    from .plots import new_figure, save_figure

    pairs = result.pairs
    classes = result.class_names
    height = max(3.0, 0.3 * len(pairs) * max(len(bs.METRICS), len(classes)) + 1.5)
    fig = new_figure((11.0, height), dpi)
    axes = fig.subplots(1, 2)
    step = 0.8 / max(len(pairs), 1)
    for ax, keys, title in ((axes[0], list(bs.METRICS), "summary metrics"), (axes[1], classes, "per-class F1")):
        for k, pair in enumerate(pairs):
            values = [pair.metrics[m] if m in pair.metrics else pair.per_class[m] for m in keys]
            y = np.arange(len(keys)) - 0.4 + step * (k + 0.5)
            x = np.array([100 * v.diff for v in values])
            err = np.array([[100 * (v.diff - v.low), 100 * (v.high - v.diff)] for v in values]).T
            ax.errorbar(x, y, xerr=err, fmt="o", capsize=3, label=f"{pair.a} − {pair.b}")
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(np.arange(len(keys)), keys)
        ax.invert_yaxis()
        ax.set_xlabel(f"A − B (points), {100 * result.level:.0f}% bootstrap interval")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(pairs), 4), fontsize="small")
    fig.suptitle(
        f"{result.split or 'split'}: {result.num_dialogues} dialogues, {result.resamples} resamples over dialogues"
    )
    return save_figure(fig, path)
