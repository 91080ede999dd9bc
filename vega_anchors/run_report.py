"""Training reports: PNG pictures and one self-contained HTML page for a training run.

Inputs (:func:`load_run`, :func:`load_fit_outputs`):

* a run directory of ``vega-anchors train``: ``config.json``, ``metrics.json``, ``per_class.csv``,
  ``anchors.safetensors`` (when the run has anchors) and ``seed-<s>/history.json`` (fit's log);
* or :func:`~vega_anchors.training.fit`'s own outputs: the ``TrainConfig.log_path`` JSON, optionally a
  checkpoint (``best.pt``/``last.pt`` from ``checkpoint_dir``; an anchor bank found in its model
  weights is drawn) and a metrics JSON (``ClassificationMetrics.to_dict()`` or a ``metrics.json``).

:func:`write_report` draws what the inputs allow (loss curves per family, selection-split weighted
F1 per epoch, learning rate, the row-normalised test confusion matrix, per-class F1 bars, the
anchor-centre heatmap) and writes ``index.html`` that references only the PNGs it wrote, by
relative path: copy the folder anywhere. Needs matplotlib (``vega-anchors[plots]``).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_text
from ._rundir import RunFiles, read_history, read_json
from .anchors.bank import AnchorBank

__all__ = ["PAGE_STYLE", "RunData", "load_fit_outputs", "load_run", "write_report"]

logger = logging.getLogger(__name__)


@dataclass
class RunData:
    """What a report draws from.

    Attributes:
        title: page title (the run directory or log name).
        histories: ``{label: fit history}`` (one per seed: ``"seed 0"``...), each a list of per-epoch
            records (``epoch``, ``train_loss`` {family: value}, ``<split>_loss``,
            ``<split>_weighted_f1``, ``lr``...).
        class_names: class names, when known.
        metrics: ``metrics.json`` of a run (or ``{"test": ClassificationMetrics.to_dict()}``), or None.
        per_class: rows of ``per_class.csv`` (``class, support, precision, recall, f1``), or None.
        confusion: ``[C][C]`` test confusion counts (summed over seeds), or None.
        bank: the run's anchor bank, or None.
        config: ``config.json`` (or a checkpoint's configs), or None.
        sources: the files read.
    """

    title: str
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    class_names: list[str] | None = None
    metrics: dict[str, Any] | None = None
    per_class: list[dict[str, Any]] | None = None
    confusion: list[list[float]] | None = None
    bank: AnchorBank | None = None
    config: dict[str, Any] | None = None
    sources: list[str] = field(default_factory=list)


def _confusion_from_metrics(metrics: Mapping[str, Any]) -> list[list[float]] | None:
    seeds = metrics.get("seeds")
    mats = []
    if isinstance(seeds, Mapping):
        tests = [s.get("test") for s in seeds.values() if isinstance(s, Mapping)]
        mats = [np.asarray(t["confusion"], dtype=float) for t in tests if isinstance(t, Mapping) and "confusion" in t]
    elif isinstance(metrics.get("test"), Mapping) and "confusion" in metrics["test"]:
        mats = [np.asarray(metrics["test"]["confusion"], dtype=float)]
    if not mats:
        return None
    return sum(mats[1:], mats[0]).tolist()  # type: ignore[no-any-return]


def _per_class_from_metrics(metrics: Mapping[str, Any], names: list[str] | None) -> list[dict[str, Any]] | None:
    tests = []
    seeds = metrics.get("seeds")
    if isinstance(seeds, Mapping):
        tests = [s["test"] for s in seeds.values() if isinstance(s, Mapping) and isinstance(s.get("test"), Mapping)]
    elif isinstance(metrics.get("test"), Mapping):
        tests = [metrics["test"]]
    tests = [t for t in tests if "f1" in t]
    if not tests:
        return None
    names = names or list(tests[0].get("class_names") or [f"class {i}" for i in range(len(tests[0]["f1"]))])
    rows = []
    for c, name in enumerate(names):
        rows.append(
            {
                "class": name,
                "support": int(tests[0]["support"][c]) if "support" in tests[0] else None,
                **{k: float(np.mean([t[k][c] for t in tests])) for k in ("precision", "recall", "f1") if k in tests[0]},
            }
        )
    return rows


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Read a ``vega-anchors train`` run directory (layout in the module docstring); missing optional
    files are skipped, an unreadable one is an error naming it."""
    files = RunFiles(run_dir)
    root = files.root
    if not root.is_dir():
        raise FileNotFoundError(f"run directory not found: {root}")
    run = RunData(title=f"Training run {root.resolve().name}")
    run.config, run.metrics = files.read_config(), files.read_metrics()
    pairs = ((files.config, run.config), (files.metrics, run.metrics))
    run.sources += [str(path) for path, data in pairs if data is not None]
    names = (run.metrics or {}).get("class_names") or (run.config or {}).get("class_names")
    run.class_names = list(names) if names else None
    for label, (path, history) in files.histories().items():
        run.histories[label] = history
        run.sources.append(str(path))
    run.per_class = files.read_per_class()
    if run.per_class is not None:
        run.sources.append(str(files.per_class))
    elif run.metrics:
        run.per_class = _per_class_from_metrics(run.metrics, run.class_names)
    if run.metrics:
        run.confusion = _confusion_from_metrics(run.metrics)
    if files.anchors.is_file():
        run.bank = AnchorBank.load(files.anchors)
        run.sources.append(str(files.anchors))
    if not (run.histories or run.metrics or run.bank):
        raise FileNotFoundError(
            f"{root} holds none of metrics.json, seed-*/history.json, anchors.safetensors: is it the --out folder "
            "of vega-anchors train? For fit's own files use --log history.json [--checkpoint best.pt]"
        )
    return run


def _bank_from_state(state: Mapping[str, Any], class_names: list[str] | None) -> AnchorBank | None:
    """An AnchorBank found in model weights by its own buffer names (``...exemplars``, ``...counts``,
    ``...center_means``), independent of where the model keeps it."""
    for key in state:
        if not key.endswith("exemplars"):
            continue
        prefix = key[: -len("exemplars")]
        if f"{prefix}counts" in state and f"{prefix}center_means" in state:
            exemplars = state[key].float()
            names = class_names if class_names and len(class_names) == exemplars.shape[0] else None
            names = names or [f"class {i}" for i in range(exemplars.shape[0])]
            return AnchorBank(names, exemplars, state[f"{prefix}counts"], center_means=state[f"{prefix}center_means"])
    return None


def load_fit_outputs(
    log: str | os.PathLike[str] | None = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    metrics: str | os.PathLike[str] | None = None,
    class_names: list[str] | None = None,
) -> RunData:
    """Read :func:`~vega_anchors.training.fit`'s log (``TrainConfig.log_path``), and optionally a
    checkpoint (``best.pt``/``last.pt``; ``last.pt`` also carries the history when ``log`` is None)
    and a metrics JSON (``ClassificationMetrics.to_dict()`` or a run's ``metrics.json``)."""
    if log is None and checkpoint is None:
        raise ValueError("give a fit log (--log history.json) and/or a checkpoint (--checkpoint best.pt)")
    run = RunData(title=f"Training log {Path(log).name if log else Path(checkpoint or '').name}")
    if log is not None:
        run.histories["run"] = read_history(log)
        run.sources.append(str(log))
    if checkpoint is not None:
        from .training import load_checkpoint

        state = load_checkpoint(checkpoint)
        run.sources.append(str(checkpoint))
        run.config = {k: state[k] for k in ("config", "train_config", "epoch") if k in state}
        if not run.histories and isinstance(state.get("history"), list):
            run.histories["run"] = state["history"]
        model_state = state.get("best_model") or state.get("model") or {}
        run.bank = _bank_from_state(model_state, class_names)
    if metrics is not None:
        data = read_json(metrics)
        run.metrics = data if ("test" in data or "seeds" in data) else {"test": data}
        run.sources.append(str(metrics))
        names = run.metrics.get("class_names") or run.metrics["test"].get("class_names")
        class_names = class_names or (list(names) if names else None)
        run.confusion = _confusion_from_metrics(run.metrics)
        run.per_class = _per_class_from_metrics(run.metrics, class_names)
    run.class_names = class_names
    if run.bank is not None and class_names and len(class_names) == run.bank.num_classes:
        run.bank.class_names = list(class_names)
    return run


# ---- HTML ---------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return html.escape(str(value))


def _summary_table(metrics: Mapping[str, Any]) -> str:
    rows = []
    for split in ("test", "dev", "validation"):
        part = metrics.get(split)
        if not isinstance(part, Mapping):
            continue
        cells = []
        for key in ("weighted_f1", "accuracy", "macro_f1"):
            if key in part:
                std = part.get(f"{key}_std")
                cells.append(f"{_fmt(part[key])}" + (f" ± {_fmt(std)}" if isinstance(std, (int, float)) else ""))
            else:
                cells.append("")
        rows.append(f"<tr><th>{html.escape(split)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        return ""
    head = "<tr><th></th><th>weighted F1</th><th>accuracy</th><th>macro F1</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _seed_table(metrics: Mapping[str, Any]) -> str:
    """Per seed: test weighted F1, the selected epoch and step, the budget, still improving, seconds;
    a warning above the table names the seeds whose best step is in the last 10% of the budget."""
    seeds = metrics.get("seeds")
    if not isinstance(seeds, Mapping) or not seeds:
        return ""
    rows, improving = [], []
    for seed, entry in seeds.items():
        entry = entry if isinstance(entry, Mapping) else {}
        test = entry.get("test") or {}
        flag = entry.get("still_improving")
        if flag:
            improving.append(str(seed))
        budget = (
            f"{entry['budget_steps']} steps / {entry.get('budget_epochs', '?')} epochs"
            if "budget_steps" in entry
            else ""
        )
        cells = [seed, _fmt(test.get("weighted_f1", "")), entry.get("best_epoch", ""), entry.get("best_step", ""),
                 budget, {True: "yes", False: "no"}.get(flag, ""), _fmt(entry.get("seconds", ""))]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = (
        "<tr><th>seed</th><th>test weighted F1</th><th>best epoch</th><th>best step</th><th>budget</th>"
        "<th>still improving</th><th>seconds</th></tr>"
    )
    warning = (
        f"<p class='warn'>Still improving: seed(s) {', '.join(improving)} selected a checkpoint in the last 10% of "
        "the training budget; a larger budget (train --max-steps) may score higher.</p>"
        if improving
        else ""
    )
    return f"<h2>Seeds</h2>{warning}<table>{head}{''.join(rows)}</table>"


PAGE_STYLE = (  # the CSS of every report page (run and tune reports)
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}figcaption{color:#555;font-size:90%}"
    "pre{background:#f6f6f6;padding:1em;overflow:auto}.warn{color:#a40}"
)


def write_report(run: RunData, out: str | os.PathLike[str]) -> Path:
    """Draw the pictures ``run`` allows into ``out`` and write ``out/index.html``; returns its path.

    Pictures (each only when its data exists): ``loss.png`` (loss per family), ``selection_f1.png``
    (selection-split weighted F1 per epoch), ``lr.png``, ``confusion.png`` (row-normalised test
    confusion), ``per_class_f1.png``, ``anchor_heatmap.png``. The page references only these files,
    by relative path, and embeds everything else (tables, warnings, config) as text.
    """
    from . import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []
    if run.histories:
        plots.plot_loss_curves(run.histories, out / "loss.png")
        figures.append(("loss.png", "Training loss per family and the selection split's loss, per epoch."))
        if any(k.endswith("_weighted_f1") for h in run.histories.values() for r in h for k in r):
            plots.plot_metric_curve(run.histories, out / "selection_f1.png")
            figures.append(("selection_f1.png", "Weighted F1 on the model-selection split per epoch; star = selected."))
        if any("lr" in r for h in run.histories.values() for r in h):
            plots.plot_learning_rate(run.histories, out / "lr.png")
            figures.append(("lr.png", "Learning rate per epoch."))
    names = run.class_names
    if run.confusion is not None:
        n = len(run.confusion)
        names = names if names and len(names) == n else [f"class {i}" for i in range(n)]
        plots.plot_confusion_matrix(
            run.confusion, names, out / "confusion.png", title="Test confusion (row-normalised)"
        )
        figures.append(("confusion.png", "Test confusion matrix, each row divided by its total (summed over seeds)."))
    if run.per_class:
        f1 = [float(r["f1"]) for r in run.per_class]
        support = [int(r["support"]) for r in run.per_class] if all("support" in r for r in run.per_class) else None
        plots.plot_per_class_f1(f1, [str(r["class"]) for r in run.per_class], out / "per_class_f1.png", support=support,
                                title="Per-class test F1 (mean over seeds)")  # fmt: skip
        figures.append(("per_class_f1.png", "Per-class test F1 (n = test support)."))
    anchor_html = ""
    if run.bank is not None:
        diag = run.bank.diagnostics()
        plots.plot_center_heatmap(diag, out / "anchor_heatmap.png")
        figures.append(("anchor_heatmap.png", "Cosine similarity between the anchor class centres."))
        warns = "".join(f"<li class='warn'>{html.escape(w)}</li>" for w in diag.warnings) or "<li>no warnings</li>"
        anchor_html = (
            f"<h2>Anchors</h2><p>{run.bank.num_classes} classes, {sum(diag.counts)} exemplars; leave-one-out "
            f"nearest-centre accuracy {diag.loo_accuracy:.3f} (chance {diag.chance:.3f}).</p><ul>{warns}</ul>"
        )
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(run.title)}</title><style>{PAGE_STYLE}</style></head><body>",
        f"<h1>{html.escape(run.title)}</h1>",
    ]
    if run.metrics:
        parts += ["<h2>Scores</h2>", _summary_table(run.metrics), _seed_table(run.metrics)]
    for name, caption in figures:
        parts.append(
            f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        if name == "anchor_heatmap.png":
            parts.append(anchor_html)
    if run.config:
        parts.append(
            "<h2>Configuration</h2><details><summary>config</summary><pre>"
            + html.escape(json.dumps(run.config, indent=1, default=str))
            + "</pre></details>"
        )
    parts.append("<h2>Inputs</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in run.sources) + "</ul>")
    parts.append("</body></html>")
    page = atomic_write_text(out / "index.html", "\n".join(parts))
    logger.info("report with %d pictures written to %s", len(figures), page)
    return page
