"""``vega-anchors push``: a trained run (or an anchor bank) to a Hugging Face Hub repository.

``vega-anchors push RUN_DIR REPO_ID [--private] [--license ID] [--dataset NAME ...] [--local-dir DIR]``
    Upload the run's weights (safetensors), files and a generated model card
    (:class:`vega_anchors.hub.PretrainedRun`); a bank file or folder instead of RUN_DIR pushes the bank
    (:class:`vega_anchors.hub.PretrainedBank`). ``--local-dir DIR`` writes the folder and uploads nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def _push(args: argparse.Namespace) -> int:
    try:
        from ..hub import PretrainedBank, PretrainedRun
    except ImportError as err:
        raise ValueError("push needs huggingface_hub: pip install 'vega-anchors[hub]'") from err
    from ..anchors.bank import AnchorBank
    from ..runs import load_run

    source = Path(args.source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist: give a run directory (from train) or an anchor bank file")
    is_run = (source / "config.json").is_file() and "seeds" in json.loads((source / "config.json").read_text())
    if is_run:
        shared: PretrainedRun | PretrainedBank = PretrainedRun(load_run(source))
        card = {"license": args.license, "datasets": args.dataset or ()}
    else:
        bank_file = source / "anchors.safetensors" if source.is_dir() else source
        shared, card = PretrainedBank(AnchorBank.load(bank_file), name=args.repo_id), {"license": args.license}
    what = "run" if is_run else "anchor bank"
    if args.local_dir:
        shared.save_pretrained(args.local_dir, repo_id=args.repo_id, **card)
        files = sorted(str(p.relative_to(args.local_dir)) for p in Path(args.local_dir).rglob("*") if p.is_file())
        print(f"wrote the {what} folder for {args.repo_id} to {args.local_dir} (nothing uploaded): {', '.join(files)}")
        return 0
    url = shared.push_to_hub(args.repo_id, private=args.private, **card)
    print(f"pushed the {what} {source} to {args.repo_id}{' (private)' if args.private else ''}: {url}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``push`` to the ``vega-anchors`` command."""
    push = sub.add_parser("push", help="share a run (or an anchor bank) on the Hugging Face Hub")
    push.add_argument("source", metavar="RUN_DIR", help="run directory (from train), or an anchor bank file/folder")
    push.add_argument("repo_id", metavar="REPO_ID", help="Hub repository owner/name (created when missing)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--license", default=None, help="licence id for the card, e.g. gpl-3.0 for a MELD run")
    push.add_argument("--dataset", action="append", default=None, help="training dataset for the card (repeatable)")
    push.add_argument(
        "--local-dir", default=None, help="write the repository folder here and upload nothing (check the card first)"
    )
    push.set_defaults(run=_push)
