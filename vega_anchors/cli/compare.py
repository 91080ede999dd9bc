"""``vega-anchors compare`` and ``vega-anchors ablate``: is a difference real?

``vega-anchors compare RUN_A RUN_B [RUN_C ...] --features F [F_B ...] --split test [--resamples 1000] [--out DIR]``
    Every seed of every run predicts the same utterances; the first run is compared with each other
    (paired bootstrap over dialogues, seed-paired differences, per-class F1). Prints a table, writes
    ``compare.json`` and ``compare.png`` (default DIR: ``RUN_A/compare-<split>``).
``vega-anchors ablate --features F --out DIR [--anchors text] [--seeds 0 1 2] [--k0-features F0]``
    Trains the default recipe and its ablations over the same seeds; prints the full model against
    each ablation (``DIR/ablate.json``, ``DIR/ablate.png``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._budget import add_budget_flags, budget_overrides

__all__ = ["register"]


def _threads(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _compare(args: argparse.Namespace) -> int:
    from ..compare import compare_runs, comparison_table, write_comparison

    _threads(args)
    features: Any = args.features[0] if len(args.features) == 1 else args.features
    result = compare_runs(args.runs, features, split=args.split, resamples=args.resamples, seed=args.seed)
    out = Path(args.out) if args.out else Path(args.runs[0]) / f"compare-{args.split}"
    json_path, png_path = write_comparison(result, out)
    print(comparison_table(result))
    print(f"statistics {result.seconds:.2f} s; wrote {json_path} and {png_path}")
    return 0


def _ablate(args: argparse.Namespace) -> int:
    from ..ablations import ablate
    from ..compare import comparison_table

    _threads(args)
    if args.prompts and args.anchors != "text":
        raise ValueError("--prompts needs --anchors text")
    train = budget_overrides(args)

    def progress(name: str, metrics: dict[str, Any]) -> None:
        test = metrics["test"]
        score = f"{test['weighted_f1']:.4f} ± {test['weighted_f1_std']:.4f}" if test else "n/a"
        print(f"trained {name}: test weighted F1 {score}", flush=True)

    result = ablate(
        args.features, args.out, anchors=args.anchors, seeds=args.seeds, train=train, k0_features=args.k0_features,
        only=args.only, resamples=args.resamples, prompts=args.prompts, encoder=args.encoder,
        cache_dir=args.cache_dir, device=args.device, on_run=progress,
    )  # fmt: skip
    print(comparison_table(result))
    print(f"wrote {args.out} (ablate.json, ablate.png, one run directory each)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``compare`` and ``ablate`` to the ``vega-anchors`` command."""
    compare = sub.add_parser("compare", help="paired statistics: is run A really better than run B?")
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR", help="two or more run directories; the first is A")
    compare.add_argument(
        "--features", nargs="+", required=True,
        help="the store the runs were trained on, or one store per run (same utterances, e.g. another context K)",
    )  # fmt: skip
    compare.add_argument("--split", default="test", choices=["train", "dev", "test"])
    compare.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the dialogues")
    compare.add_argument("--seed", type=int, default=0, help="the bootstrap's random seed")
    compare.add_argument("--out", default=None, help="directory for compare.json, compare.png (RUN_A/compare-SPLIT)")
    compare.add_argument("--threads", type=int, default=None)
    compare.set_defaults(run=_compare)

    ablate = sub.add_parser("ablate", help="train the default recipe and its ablations; paired intervals")
    ablate.add_argument("--features", required=True, help="feature store (.safetensors from build-features)")
    ablate.add_argument("--out", required=True, help="directory: full/, one run per ablation, ablate.json/png")
    ablate.add_argument(
        "--anchors", default="none",
        help="the full model's anchors: none | text | BANK.safetensors (no-anchors and no-sampling need anchors)",
    )  # fmt: skip
    ablate.add_argument("--prompts", default=None, help="with --anchors text: JSON or 'class<TAB>sentence' lines")
    ablate.add_argument("--encoder", default=None, help="with --anchors text: the text encoder of the features")
    ablate.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the same seeds for every run")
    ablate.add_argument("--k0-features", default=None, help="a store of the same tables built with --context 0")
    ablate.add_argument("--only", nargs="+", default=None, help="a subset: no-anchors no-sampling no-distillation "
                        "no-speaker context-k0")  # fmt: skip
    add_budget_flags(ablate)
    ablate.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of the dialogues")
    ablate.add_argument("--cache-dir", default=None, help="embedding cache for the prompt sentences")
    ablate.add_argument("--device", default="cpu", help="torch device (default cpu)")
    ablate.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared machine)")
    ablate.set_defaults(run=_ablate)
