"""``vega-anchors build-anchors`` and ``vega-anchors inspect-anchors``.

``vega-anchors build-anchors --pool fer2013 --pool-path fer2013.csv --classes iemocap --map excited=happy --out B``
    Read an exemplar pool from a face dataset, map its emotions to the classes, encode the
    candidates with open_clip, choose ``--per-class`` exemplars (``--select typical``) and save the
    bank (it records which source images it chose). Prints the bank's diagnostics.
``vega-anchors inspect-anchors BANK --out DIR [--images ROOT]``
    Diagnostics JSON + pictures (centre heatmap, PCA projection, contact sheet when the bank knows
    its source images); prints the diagnostics and warnings. ``--strict`` exits 1 on warnings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..distributed import PRECISIONS

__all__ = ["class_names", "register"]


def class_names(text: str) -> list[str]:
    """``--classes``: a comma list, or ``iemocap`` / ``meld`` (their label sets)."""
    from ..labels import EMOTION_LABELS

    if text in EMOTION_LABELS:
        return list(EMOTION_LABELS[text])
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise ValueError(f"--classes {text!r}: give a comma list (anger,happy,...) or one of {sorted(EMOTION_LABELS)}")
    return names


def _load_bank(path: str, classes: list[str] | None = None) -> Any:
    from ..anchors.bank import AnchorBank

    if Path(path).suffix == ".pt":
        from ..official import load_anchors

        return load_anchors(path, classes)
    return AnchorBank.load(path)


def _build(args: argparse.Namespace) -> int:
    from ..anchors.bank import AnchorBank
    from ..anchors.pools import load_pool, parse_mapping
    from ..encoders.image import OpenCLIPImageEncoder

    options: dict[str, Any] = {}
    if args.pool in ("fer2013", "ferplus") and args.usage:
        options["usage"] = args.usage.split(",")
    if args.pool == "ferplus":
        if not args.ferplus_csv:
            raise ValueError("--pool ferplus needs --ferplus-csv fer2013new.csv (the FER+ votes) besides --pool-path")
        options.update(ferplus_csv=args.ferplus_csv, ties=args.ferplus_ties)
    if args.pool == "rafdb" and args.split:
        options["split"] = args.split
    if args.pool == "affectnet" and args.image_root:
        options["image_root"] = args.image_root
    pool = load_pool(args.pool, args.pool_path, **options)
    classes = class_names(args.classes)
    mapping = parse_mapping(args.map or [])
    pretrained = None if args.pretrained in ("", "none") else args.pretrained
    encoder = OpenCLIPImageEncoder(
        args.model, pretrained, device=args.device, precision=args.precision, batch_size=args.batch_size,
        num_workers=args.num_workers,
    )  # fmt: skip
    bank = AnchorBank.from_pool(
        pool, encoder, classes, per_class=args.per_class, select=args.select, seed=args.seed, mapping=mapping,
        outlier_z=args.outlier_z, duplicate_threshold=args.dedup_threshold,
        candidates_per_class=args.candidates_per_class,
    )  # fmt: skip
    bank.save(args.out)
    counts = dict(zip(bank.class_names, bank.counts.tolist(), strict=True))
    print(f"wrote {args.out}: {bank.num_classes} classes, exemplars {counts}")
    print(bank.diagnostics().format())
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from .. import plots

    bank = _load_bank(args.bank, class_names(args.classes) if args.classes else None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diag = bank.diagnostics()
    from .._io import atomic_write_text

    payload = {"bank": str(args.bank), "metadata": bank.metadata(), "diagnostics": diag.to_dict()}
    written = [atomic_write_text(out / "diagnostics.json", json.dumps(payload, indent=1))]
    written.append(plots.plot_center_heatmap(diag, out / "center_heatmap.png"))
    written.append(plots.plot_projection(bank, out / "projection.png"))
    if bank.sources:
        written.append(
            plots.plot_contact_sheet(
                bank, out / "contact_sheet.png", images_root=args.images, max_per_class=args.max_per_class
            )
        )
    else:
        print("no contact sheet: the bank does not record its source images (build it with vega-anchors build-anchors)")
    print(diag.format())
    print("wrote " + ", ".join(str(p) for p in written))
    return 1 if args.strict and diag.warnings else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``build-anchors`` and ``inspect-anchors`` to the ``vega-anchors`` parser."""
    from ..anchors.pools import POOL_READERS
    from ..anchors.selection import SELECT_METHODS

    p = sub.add_parser(
        "build-anchors",
        help="choose and encode exemplars from a face dataset into an anchor bank",
        description="Read a face-dataset pool, map its emotions to --classes, encode with open_clip, choose "
        "--per-class exemplars and save the bank (which records the chosen source images).",
    )
    p.add_argument("--pool", required=True, choices=sorted(POOL_READERS), help="dataset layout of --pool-path")
    p.add_argument(
        "--pool-path", required=True,
        help="fer2013/ferplus: fer2013.csv; rafdb: the 'basic' folder; affectnet: id folders or the CSV; "
        "folder: root/<class>/",
    )  # fmt: skip
    p.add_argument("--ferplus-csv", default=None, help="ferplus: fer2013new.csv (votes, same row order)")
    p.add_argument("--ferplus-ties", choices=["drop", "first"], default="drop", help="ferplus: tied votes")
    p.add_argument("--usage", default=None, help="fer2013/ferplus: keep rows with this Usage (comma list)")
    p.add_argument("--split", choices=["train", "test"], default=None, help="rafdb: one split only")
    p.add_argument("--image-root", default=None, help="affectnet CSV: folder of subDirectory_filePath")
    p.add_argument("--classes", required=True, help="comma list of target classes, or iemocap / meld")
    p.add_argument(
        "--map", action="append", metavar="TARGET=SOURCE",
        help="repeatable: fill target class from pool emotion(s), e.g. excited=happy, frustration=anger+disgust",
    )  # fmt: skip
    p.add_argument("--per-class", type=int, default=35, help="exemplars per class (default 35)")
    p.add_argument("--select", choices=SELECT_METHODS, default="typical", help="how to choose (default typical)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--outlier-z", type=float, default=None, help="drop candidates this many std below class mean")
    p.add_argument("--dedup-threshold", type=float, default=None, help="drop near-duplicates at this cosine (0.98)")
    p.add_argument("--candidates-per-class", type=int, default=None, help="encode at most N random candidates/class")
    p.add_argument("--model", default="ViT-B-32-quickgelu", help="open_clip model (paper: ViT-B-32-quickgelu)")
    p.add_argument("--pretrained", default="openai", help="open_clip tag or checkpoint file; 'none' = random")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--out", required=True, help="bank file to write (.safetensors)")
    p.set_defaults(run=_build)

    p = sub.add_parser(
        "inspect-anchors",
        help="diagnostics and pictures of an anchor bank",
        description="Write diagnostics.json, center_heatmap.png, projection.png and (when the bank records its "
        "source images) contact_sheet.png to --out; print the diagnostics and warnings.",
    )
    p.add_argument("bank", help="AnchorBank.save file (.safetensors) or an official 35_anchor.pt")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--images", default=None, help="root for relative source image paths (contact sheet)")
    p.add_argument("--classes", default=None, help="official .pt: class order (comma list or iemocap / meld)")
    p.add_argument("--max-per-class", type=int, default=12, help="thumbnails per class (default 12)")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when there are warnings")
    p.set_defaults(run=_inspect)
