"""``vega-anchors finetune-text``: fine-tune a text encoder on a dialogue table's labels.

``vega-anchors finetune-text --train T.csv --dev D.csv --encoder NAME_OR_DIR --out ENCODER_DIR
[--context K] [--future-context K] [--epochs N] [--folds k] [table flags as build-features]``
    Writes ENCODER_DIR (Hugging Face format + ``vega_finetune.json``), which
    ``build-features --encoder ENCODER_DIR`` reads with the same context (docs/own_data.md).
"""

from __future__ import annotations

import argparse

from .features import add_table_arguments, parse_labels, table_columns

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    import torch

    from ..data.tables import load_dialogue_tables
    from ..finetune import FinetuneConfig, finetune_text

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    tables = load_dialogue_tables(
        {"train": args.train, "dev": args.dev},
        columns=table_columns(args),
        label_names=parse_labels(args.labels),
        encoding=args.encoding,
        speaker_multi=args.multi_speaker,
    )
    config = FinetuneConfig(
        context=args.context, future_context=args.future_context, max_length=args.max_length, epochs=args.epochs,
        batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr, head_lr=args.head_lr,
        precision=args.precision, folds=args.folds, seed=args.seed, device=args.device, progress=not args.quiet,
    )  # fmt: skip
    if tables.get("dev") is None:
        print(f"no --dev table: selecting on {config.holdout:.0%} of the training dialogues, held out")
    result = finetune_text(tables["train"], tables.get("dev"), encoder=args.encoder, out=args.out, config=config)
    for row in result.history:
        print(f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, {result.dev_source} weighted F1 "
              f"{row['dev_weighted_f1']:.4f}")  # fmt: skip
    print(f"selected epoch {result.best_epoch}: {result.dev_source} weighted F1 {result.dev_weighted_f1:.4f}")
    if result.fold_dev_weighted_f1:
        print("fold encoders, dev weighted F1: " + ", ".join(f"{v:.4f}" for v in result.fold_dev_weighted_f1))
    print(f"wrote {result.path}; use it with: vega-anchors build-features --encoder {result.path} ...")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``finetune-text`` to the ``vega-anchors`` command."""
    p = sub.add_parser("finetune-text", help="fine-tune a text encoder on the dialogues' labels, with context")
    p.add_argument("--train", required=True, help="training table (CSV/TSV/JSONL), labelled")
    p.add_argument("--dev", default=None, help="selection table; without it, 10%% of the training dialogues")
    p.add_argument("--encoder", required=True, help="Hugging Face encoder: hub name or directory with its tokenizer")
    p.add_argument("--out", required=True, help="encoder directory to write (replaced atomically at the end)")
    add_table_arguments(p)
    p.add_argument("--context", type=int, default=0, metavar="K", help="preceding turns read with each utterance")
    p.add_argument("--future-context", type=int, default=0, metavar="K", help="following turns read with each one")
    p.add_argument("--max-length", type=int, default=128, help="tokens per input; context is cut, never the utterance")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--grad-accum", type=int, default=1, help="batches per optimizer step")
    p.add_argument("--lr", type=float, default=2e-5, help="encoder learning rate")
    p.add_argument("--head-lr", type=float, default=1e-3, help="classification head learning rate")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="auto: bf16 (or fp16) autocast on a GPU, fp32 on CPU")  # fmt: skip
    p.add_argument("--folds", type=int, default=None, metavar="k",
                   help="also write k fold encoders: cross-fitted training features in build-features")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run)
