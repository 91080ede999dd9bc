"""``vega-anchors tune``: search the default recipe's hyper-parameters on Optuna → a tune directory.

``vega-anchors tune --features F.safetensors --out TUNE_DIR [--n-trials N] [--timeout S] [--workers N]
[--storage URL] [--space SPACE.json] [--seeds ...] [--threads N]``
    Trials train on the train split and are scored and pruned on dev (the test split is never read);
    TUNE_DIR gets the study (study.db), trials.csv and best_recipe.json for ``train --config``.
    Running the same command again resumes the study.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _tune(args: argparse.Namespace) -> int:
    from ..tuning import tune

    recipe = None
    if args.config or any(getattr(args, k) is not None for k in ("epochs", "max_steps", "patience")):
        from ..recipes import read_recipe

        model, train = read_recipe(args.config) if args.config else ({}, {})
        for key in ("epochs", "max_steps", "patience"):
            if getattr(args, key) is not None:
                train[key] = getattr(args, key)
        if args.epochs is not None and args.max_steps is None:
            train["max_steps"] = None  # a budget in epochs replaces the recipe's step budget
        recipe = {"model": model, "train": train}
    result = tune(
        args.features, args.out, n_trials=args.n_trials, timeout=args.timeout, workers=args.workers,
        storage=args.storage, study_name=args.study_name, space=args.space, seeds=args.seeds, anchors=args.anchors,
        prompts=args.prompts, encoder=args.encoder, recipe=recipe, validation_fraction=args.validation_fraction,
        pruner="none" if args.no_pruning else "median", sampler_seed=args.sampler_seed, threads=args.threads,
        device=args.device,
    )  # fmt: skip
    if result.selected_on == "validation":
        print("note: the feature store has no dev split; trials were scored on a hold-out of the training dialogues")
    print(
        f"{result.complete} complete, {result.pruned} pruned, {result.failed} failed trials in study "
        f"{result.study_name!r} ({result.storage}); this run took {result.seconds:.0f} s"
    )
    if result.best_recipe_path is None:
        print("no trial completed yet: no best recipe")
        return 0
    print(f"best: trial {result.best_trial}, mean {result.selected_on} weighted F1 {result.best_value:.4f}")
    anchors = f" --anchors {args.anchors}" if args.anchors != "none" else ""
    print(f"wrote {result.best_recipe_path} and {result.directory / 'trials.csv'}; train it with:")
    print(f"  vega-anchors train --features {args.features} --config {result.best_recipe_path}{anchors} --out RUN_DIR")
    print(f"pictures: vega-anchors report {result.directory} --out {result.directory / 'report'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``tune`` to the ``vega-anchors`` command."""
    p = sub.add_parser(
        "tune",
        help="search the recipe's hyper-parameters (Optuna) → TUNE_DIR/best_recipe.json",
        description="Each trial trains a recipe on the train split and is scored (and pruned) on dev, or on a "
        "hold-out of the training dialogues without one; the test split is never read. Running the same command "
        "again resumes the study. Needs optuna (pip install 'vega-anchors[tune]').",
    )
    p.add_argument("--features", required=True, help="feature store (.safetensors from build-features)")
    p.add_argument("--out", required=True, help="tune directory: study.db, trials.csv, best_recipe.json")
    p.add_argument("--n-trials", type=int, default=20, help="finished trials the study should hold (default 20)")
    p.add_argument("--timeout", type=float, default=None, help="stop starting trials after S seconds")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine sharing the study (default 1)")
    p.add_argument(
        "--storage", default=None,
        help="Optuna storage URL (sqlite:///F.db, postgresql://USER:PW@HOST/DB) or journal:F.log; "
        "default sqlite:///TUNE_DIR/study.db",
    )  # fmt: skip
    p.add_argument("--study-name", default="vega-anchors", help="the study's name in the storage")
    p.add_argument("--space", default=None, help="JSON search space overrides (docs/training.md, Tuning)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds per trial; value = mean (default 0)")
    p.add_argument("--config", default=None, help='fixed recipe part: JSON {"model": {...}, "train": {...}}')
    p.add_argument("--max-steps", type=int, default=None, help="fixed step budget of every trial")
    p.add_argument("--epochs", type=int, default=None, help="fixed budget of every trial in epochs (replaces steps)")
    p.add_argument("--patience", type=int, default=None, help="fixed early-stopping patience of every trial")
    p.add_argument("--anchors", default="none", help="none | text | BANK.safetensors (as train)")
    p.add_argument("--prompts", default=None, help="with --anchors text: JSON or 'class<TAB>sentence' lines")
    p.add_argument("--encoder", default=None, help="with --anchors text: the features' text encoder")
    p.add_argument(
        "--validation-fraction", type=float, default=0.1,
        help="without a dev split: share of training dialogues held out to score trials",
    )  # fmt: skip
    p.add_argument("--no-pruning", action="store_true", help="run every trial to its end")
    p.add_argument("--sampler-seed", type=int, default=None, help="seed of the TPE sampler")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per worker (1 on a shared machine)")
    p.set_defaults(run=_tune)
