"""The report of a tune directory: optimisation history and parameter importances (PNG) and one HTML page."""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from typing import Any

from .._io import atomic_write_text

logger = logging.getLogger(__name__)


def is_tune_dir(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` is a tune directory (it holds ``tune.json``)."""
    return (Path(directory) / "tune.json").is_file()


def _trial_rows(study: Any) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        steps = sorted(t.intermediate_values)
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "last_score": t.intermediate_values[steps[-1]] if steps else None,
                "evaluations": len(steps),
                "params": dict(t.params),
            }
        )
    return rows


def _importances(study: Any) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances of the completed trials (seeded), or None and why not."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 3:
        return None, f"parameter importances need at least 3 completed trials ({len(complete)} so far)"
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
        return dict(importances), f"from {len(complete)} completed trials"
    except (ImportError, RuntimeError, ValueError) as err:
        return None, f"parameter importances could not be computed ({type(err).__name__}: {err})"


def write_tune_report(
    tune_dir: str | os.PathLike[str], out: str | os.PathLike[str], *, storage: str | None = None
) -> Path:
    """Draw ``history.png`` (each trial's value, pruned trials at their last score, best so far) and
    ``importances.png`` (fANOVA parameter importances, from 3 completed trials on) into ``out``, and
    write ``out/index.html`` with the best recipe and the trials. Returns the page's path.

    ``storage``: the study's storage URL when ``tune.json`` hides its password.
    """
    from .. import plots
    from ._study import import_optuna, open_storage

    optuna = import_optuna()
    root = Path(tune_dir)
    if not is_tune_dir(root):
        raise FileNotFoundError(f"{root} is not a tune directory (no tune.json); make one with vega-anchors tune")
    made_for = json.loads((root / "tune.json").read_text(encoding="utf-8"))
    url = storage or made_for["storage"]
    study = optuna.load_study(study_name=made_for["study_name"], storage=open_storage(url))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = _trial_rows(study)
    metric = f"{str(made_for.get('selected_on', 'dev')).split()[0]} weighted F1"
    plots.plot_optimization_history(rows, out / "history.png", metric=f"mean {metric}")
    figures = [("history.png", f"Mean {metric} of each trial; crosses: pruned trials at their last score.")]
    importances, why_not = _importances(study)
    if importances:
        title = f"Parameter importances (fANOVA, {why_not})"
        why_not = ""
        plots.plot_param_importances(importances, out / "importances.png", title=title)
        figures.append(("importances.png", "How much of the value's variance each parameter explains (fANOVA)."))
    best_path = root / "best_recipe.json"
    best = json.loads(best_path.read_text(encoding="utf-8")) if best_path.is_file() else None
    page = atomic_write_text(out / "index.html", _page(root, made_for, rows, figures, best, why_not))
    logger.info("tune report with %d pictures written to %s", len(figures), page)
    return page


def _page(
    root: Path,
    made_for: dict[str, Any],
    rows: list[dict[str, Any]],
    figures: list[tuple[str, str]],
    best: dict[str, Any] | None,
    note: str,
) -> str:
    from ..run_report import PAGE_STYLE  # one page style for run and tune reports

    states = [r["state"] for r in rows]
    title = f"Tuning {root.resolve().name}"
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>{len(rows)} trials: {states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, "
        f"{states.count('FAIL')} failed, {states.count('RUNNING')} running. Features "
        f"{html.escape(str(made_for.get('features_path')))}, seeds {made_for.get('seeds')}, selected on "
        f"{html.escape(str(made_for.get('selected_on')))}; the test split was not read.</p>",
    ]
    if best:
        parts.append(
            f"<h2>Best recipe</h2><p>trial {best['tune']['trial']}, value {best['tune']['value']:.4f}; "
            f"train it with <code>vega-anchors train --config {html.escape(str(root / 'best_recipe.json'))}</code>"
            f"</p><pre>{html.escape(json.dumps({k: best[k] for k in ('model', 'train')}, indent=1))}</pre>"
        )
    for name, caption in figures:
        parts.append(
            f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    if note:
        parts.append(f"<p class='warn'>{html.escape(note)}</p>")
    top = sorted((r for r in rows if r["value"] is not None), key=lambda r: -r["value"])[:10]
    head = "<tr><th>trial</th><th>state</th><th>value</th><th>evaluations</th><th>parameters</th></tr>"
    body = "".join(
        f"<tr><td>{r['number']}</td><td>{r['state']}</td><td>{r['value']:.4f}</td><td>{r['evaluations']}</td>"
        f"<td style='text-align:left'>{html.escape(json.dumps(r['params']))}</td></tr>"
        for r in top
    )
    parts.append(f"<h2>Best trials</h2><table>{head}{body}</table></body></html>")
    return "\n".join(parts)
