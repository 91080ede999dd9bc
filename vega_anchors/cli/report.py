"""``vega-anchors report``: PNGs and one self-contained HTML page for a training run or a tune directory.

``vega-anchors report RUN_DIR --out DIR`` (or ``--log history.json [--checkpoint best.pt] [--metrics M.json]``)
    Loss curves, selection F1, learning rate, confusion matrix, per-class F1 and the anchor heatmap.
``vega-anchors report TUNE_DIR --out DIR``
    Optimisation history and parameter importances of a ``vega-anchors tune`` study.
"""

from __future__ import annotations

import argparse

from .anchors import class_names

__all__ = ["register"]


def _report(args: argparse.Namespace) -> int:
    from ..run_report import load_fit_outputs, load_run, write_report
    from ..tuning import is_tune_dir, write_tune_report

    if args.run_dir is not None and is_tune_dir(args.run_dir):
        page = write_tune_report(args.run_dir, args.out, storage=args.storage)
        print(f"wrote {page} (open it in a browser)")
        return 0
    classes = class_names(args.classes) if args.classes else None
    if args.run_dir is not None:
        if args.log or args.checkpoint or args.metrics:
            raise ValueError("give either RUN_DIR or --log/--checkpoint/--metrics, not both")
        run = load_run(args.run_dir)
        if classes:
            run.class_names = classes
    elif args.log or args.checkpoint:
        run = load_fit_outputs(args.log, checkpoint=args.checkpoint, metrics=args.metrics, class_names=classes)
    else:
        raise ValueError("give a run directory (vega-anchors report RUN_DIR --out DIR) or --log history.json")
    page = write_report(run, args.out)
    print(f"wrote {page} (open it in a browser)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``report`` to the ``vega-anchors`` parser."""
    p = sub.add_parser(
        "report",
        help="PNGs and an HTML page for a training run or a tune directory",
        description="Draw loss curves, selection F1, learning rate, confusion matrix, per-class F1 and the anchor "
        "heatmap, and write DIR/index.html. Input: a vega-anchors train run directory, or fit's --log (+ "
        "--checkpoint, --metrics). For a vega-anchors tune directory: optimisation history and parameter "
        "importances.",
    )
    p.add_argument("run_dir", nargs="?", default=None, help="run directory of vega-anchors train, or TUNE_DIR of tune")
    p.add_argument("--log", default=None, help="fit's TrainConfig.log_path JSON (instead of RUN_DIR)")
    p.add_argument("--checkpoint", default=None, help="fit checkpoint (best.pt / last.pt): anchors, config")
    p.add_argument("--metrics", default=None, help="ClassificationMetrics.to_dict() JSON or metrics.json")
    p.add_argument("--classes", default=None, help="class names (comma list or iemocap / meld)")
    p.add_argument("--storage", default=None, help="TUNE_DIR: the study's storage URL when tune.json hides a password")
    p.add_argument("--out", required=True, help="output folder (index.html + PNGs)")
    p.set_defaults(run=_report)
