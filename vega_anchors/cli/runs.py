"""``vega-anchors train``, ``evaluate``, ``predict`` and ``baseline``: a feature store to a run directory.

``vega-anchors train --features F.safetensors --out RUN_DIR [--anchors none|text|BANK.safetensors] [--seeds 0 1 2]
[--config recipe.json]``
    Train with the default recipe (:mod:`vega_anchors.recipes`), select on dev (or on a validation
    split carved from train), write RUN_DIR (docs/own_data.md).
``vega-anchors evaluate RUN_DIR --features F --split test``
    Score the run's models; print and write ``RUN_DIR/evaluate-<split>.json`` (or ``--out``).
``vega-anchors predict RUN_DIR --features F --out predictions.csv``
    Per-utterance predictions and class probabilities, joinable with the input table.
``vega-anchors baseline --features F [--out DIR]``
    Per-utterance logistic regression (C on dev) and the majority class, in the train metrics layout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ._budget import add_budget_flags, budget_overrides
from ._checks import check_writable

__all__ = ["pretrained", "register"]

_MISMATCH_HELP = (
    "use a feature store built differently from the run's training store (RUN_DIR/feature_recipe.json: text "
    "encoder, layers, context, speakers, media extractors) anyway; each difference is logged"
)


def _threads(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def pretrained(value: str, kind: str) -> str:
    """A local path as given; a Hub id resolved to its downloaded folder
    (:func:`vega_anchors.hub.resolve_pretrained`)."""
    if Path(value).exists():
        return value
    try:
        from ..hub import resolve_pretrained
    except ImportError as err:
        raise ValueError(f"{value} is not a local path, and reading Hub ids needs huggingface_hub: "
                         "pip install 'vega-anchors[hub]'") from err  # fmt: skip
    return str(resolve_pretrained(value, kind))  # type: ignore[arg-type]


def _fmt(summary: dict[str, Any] | None, key: str = "weighted_f1") -> str:
    if not summary:
        return "n/a"
    return f"{summary[key]:.4f} ± {summary[key + '_std']:.4f}"


def _train(args: argparse.Namespace) -> int:
    from ..recipes import read_recipe
    from ..runs import train_run

    check_writable(args.out, directory=True)
    _threads(args)
    model, train = read_recipe(args.config) if args.config else ({}, {})
    train = budget_overrides(args, train)
    if args.ema_decay is not None:
        train["ema_decay"] = args.ema_decay or None
    if args.hidden_dim is not None:
        model["hidden_dim"] = args.hidden_dim
    if args.heads is not None:
        model["num_heads"] = args.heads
    if args.max_utterances is not None:
        model["max_utterances"] = args.max_utterances
    if args.prompts and args.anchors != "text":
        raise ValueError("--prompts needs --anchors text")
    anchors = args.anchors if args.anchors in ("none", "text") else pretrained(args.anchors, "anchors")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    metrics = train_run(
        args.features,
        args.out,
        anchors=anchors,
        seeds=args.seeds,
        model=model,
        train=train,
        prompts=args.prompts,
        encoder=args.encoder,
        validation_fraction=args.validation_fraction,
        device=args.device,
        progress=not args.quiet,
        cache_dir=args.cache_dir,
    )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    selected = metrics["selected_on"]
    if selected == "validation":
        print("note: the feature store has no dev split; selected on a validation split carved from train")
    for seed, record in metrics["seeds"].items():
        test = f"{record['test']['weighted_f1']:.4f}" if record["test"] else "n/a"
        improving = " STILL IMPROVING (best in the last 10% of the budget)" if record["still_improving"] else ""
        print(
            f"seed {seed}: best epoch {record['best_epoch']} (step {record['best_step']} of {record['budget_steps']})"
            f"{improving}, {selected} w-F1 {record['dev']['weighted_f1']:.4f}, test w-F1 {test} "
            f"({record['seconds']:.0f} s, {record['cpu_seconds']:.0f} s CPU)"
        )
    print(
        f"test weighted F1 ({selected}-selected, {len(metrics['seeds'])} seed(s), anchors {metrics['anchors']}): "
        f"{_fmt(metrics['test'])}; accuracy {_fmt(metrics['test'], 'accuracy')}"
    )
    if metrics["still_improving_seeds"]:
        print(
            f"note: still improving (seeds {metrics['still_improving_seeds']}): the selected checkpoint is in the last "
            "10% of the budget; try a larger --max-steps"
        )
    print(f"total {wall:.0f} s wall, {cpu:.0f} s CPU")
    print(f"wrote {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .._io import atomic_write_text
    from ..runs import evaluate_run

    run_dir = pretrained(args.run_dir, "run")
    local = run_dir == args.run_dir  # a Hub id's folder is the Hugging Face cache: write beside us instead
    out = Path(args.out) if args.out else (Path(run_dir) if local else Path()) / f"evaluate-{args.split}.json"
    check_writable(out)
    _threads(args)
    result = evaluate_run(
        run_dir, args.features, split=args.split, allow_feature_mismatch=args.allow_feature_mismatch
    )
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    summary = result[args.split]
    for seed, m in result["seeds"].items():
        print(f"seed {seed}: {args.split} weighted F1 {m['weighted_f1']:.4f}, accuracy {m['accuracy']:.4f}")
    print(
        f"{args.split} weighted F1 {_fmt(summary)}, accuracy {_fmt(summary, 'accuracy')}, "
        f"macro F1 {_fmt(summary, 'macro_f1')}"
    )
    print(f"wrote {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from ..runs import predict_run

    check_writable(args.out)
    _threads(args)
    rows = predict_run(
        pretrained(args.run_dir, "run"), args.features, split=args.split, out=args.out,
        allow_feature_mismatch=args.allow_feature_mismatch,
    )  # fmt: skip
    print(f"wrote {len(rows)} predictions ({args.split} split) to {args.out}")
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from ..baselines import C_GRID, baseline_report

    _threads(args)
    grid = args.c_grid if args.c_grid else C_GRID
    report = baseline_report(args.features, args.out, grid=grid, validation_fraction=args.validation_fraction)
    selected = report["selected_on"]
    edge = " — AT THE EDGE of the grid: widen --c-grid" if report["C_at_edge"] else ""
    test = f"{report['test']['weighted_f1']:.4f}" if report["test"] else "n/a"
    print(
        f"logistic regression (per utterance, C={report['C']:.4g} chosen on {selected} over "
        f"{len(report['C_grid'])} values {report['C_grid'][0]:.0e}..{report['C_grid'][-1]:.0e}{edge}): "
        f"{selected} w-F1 {report['dev']['weighted_f1']:.4f}, test w-F1 {test} ({report['cpu_seconds']:.0f} s CPU)"
    )
    majority = report["majority"]
    if majority["test"]:
        print(f"majority class ({majority['majority_class']}): test w-F1 {majority['test']['weighted_f1']:.4f}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _recipe_flags(train: argparse.ArgumentParser) -> None:
    """``train``'s flags that override the default recipe (their help names the recipe's values)."""
    from ..recipes import DEFAULT_MODEL, DEFAULT_TRAIN

    recipe = DEFAULT_TRAIN
    add_budget_flags(train)
    train.add_argument("--ema-decay", type=float, default=None, help=f"recipe: {recipe['ema_decay']}; 0 = off")
    train.add_argument("--hidden-dim", type=int, default=None, help=f"recipe: {DEFAULT_MODEL['hidden_dim']}")
    train.add_argument("--heads", type=int, default=None, help=f"recipe: {DEFAULT_MODEL['num_heads']}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``train``, ``evaluate``, ``predict`` and ``baseline`` to the ``vega-anchors`` command."""
    train = sub.add_parser("train", help="train the default recipe on a feature store → a run directory")
    train.add_argument("--features", required=True, help="feature store (.safetensors from build-features)")
    train.add_argument("--out", required=True, help="run directory to write")
    train.add_argument(
        "--anchors",
        default="none",
        help="none (backbone only) | text (prompt sentences embedded by the features' text encoder) | "
        "BANK.safetensors (AnchorBank.save) | a folder or Hub id owner/name (vega-anchors push BANK ...)",
    )
    train.add_argument("--prompts", default=None, help="with --anchors text: JSON or 'class<TAB>sentence' lines")
    train.add_argument(
        "--encoder", default=None, help="with --anchors text: the text encoder (default: the one the store records)"
    )
    train.add_argument("--seeds", type=int, nargs="+", default=[0], help="one model per seed (default 0)")
    train.add_argument("--config", default=None, help='recipe overrides: JSON {"model": {...}, "train": {...}}')
    _recipe_flags(train)
    train.add_argument(
        "--max-utterances", type=int, default=None, help="longest dialogue the model takes (default 512)"
    )
    train.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="without a dev split: share of training dialogues held out for selection",
    )
    train.add_argument("--cache-dir", default=None, help="embedding cache for the prompt sentences")
    train.add_argument("--device", default="cpu", help="torch device (default cpu)")
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared machine)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(
        run=_train,
        on_interrupt="kept: the run folder --out, marked incomplete (predict/evaluate refuse it); to finish, run the "
        "same train command again (it starts over)",
    )

    evaluate = sub.add_parser("evaluate", help="score a run's models on a split of a feature store")
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="run directory (from train), or a Hub id owner/name")
    evaluate.add_argument("--features", required=True, help="feature store with the run's classes and modalities")
    evaluate.add_argument("--split", default="test", choices=["train", "dev", "test"])
    evaluate.add_argument("--out", default=None, help="JSON output (default RUN_DIR/evaluate-<split>.json)")
    evaluate.add_argument("--threads", type=int, default=None)
    evaluate.add_argument("--allow-feature-mismatch", action="store_true", help=_MISMATCH_HELP)
    evaluate.set_defaults(run=_evaluate)

    predict = sub.add_parser("predict", help="per-utterance predictions and class probabilities as CSV")
    predict.add_argument("run_dir", metavar="RUN_DIR", help="run directory (from train), or a Hub id owner/name")
    predict.add_argument("--features", required=True, help="feature store with the run's classes and modalities")
    predict.add_argument("--out", required=True, help="CSV: dialogue, utterance, label, predicted, prob_<class>...")
    predict.add_argument("--split", default="test", choices=["train", "dev", "test"])
    predict.add_argument("--threads", type=int, default=None)
    predict.add_argument("--allow-feature-mismatch", action="store_true", help=_MISMATCH_HELP)
    predict.set_defaults(run=_predict)

    baseline = sub.add_parser("baseline", help="per-utterance logistic regression and majority class")
    baseline.add_argument("--features", required=True, help="feature store")
    baseline.add_argument("--out", default=None, help="directory for metrics.json and per_class.csv")
    baseline.add_argument(
        "--c-grid", type=float, nargs="+", default=None, help="C values to try (default 15 values, 1e-4..1e3)"
    )
    baseline.add_argument(
        "--validation-fraction",
        type=float,
        default=0.1,
        help="without a dev split: share of training dialogues held out to choose C",
    )
    baseline.add_argument("--threads", type=int, default=None)
    baseline.set_defaults(run=_baseline)
