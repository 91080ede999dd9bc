"""``vega-anchors inspect-features`` and ``vega-anchors build-features``.

``vega-anchors inspect-features PATH``
    Print a :func:`~vega_anchors.data.feature_report` for a feature pickle (official layouts) or a
    feature store (``.safetensors`` from ``save_features``). ``--json`` prints it as JSON;
    ``--strict`` exits with status 1 when there are warnings.
``vega-anchors build-features --train T.csv [--dev D.csv] [--test E.csv] --out F.safetensors``
    Dialogue tables → sentence embeddings (cached) → a feature store (needs ``vega-anchors[text]``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data.report import MAX_FEATURE_RMS, MIN_FEATURE_RMS, feature_report
from ..data.store import is_feature_store, load_features
from ..data.types import FeatureSet
from ..official.pickles import load_feature_pickle
from .media import add_media_arguments, build_media_modalities

__all__ = ["read_any_features", "register"]


def read_any_features(path: str | Path, *, dataset: str | None = None) -> FeatureSet:
    """A feature store (safetensors, data only) or a feature pickle (TRUSTED files only)."""
    if is_feature_store(path):
        return load_features(path)
    return load_feature_pickle(path, dataset=dataset)


def _inspect(args: argparse.Namespace) -> int:
    features = read_any_features(args.path, dataset=args.dataset)
    anchors = None
    if args.anchors:
        from ..anchors.bank import AnchorBank

        anchors = AnchorBank.load(args.anchors)
    report = feature_report(features, min_rms=args.min_rms, max_rms=args.max_rms, anchors=anchors)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        print(report.format())
    return 1 if args.strict and report.warnings else 0


def _build(args: argparse.Namespace) -> int:
    from ..data.store import save_features
    from ..data.tables import SpeakerMap, TableColumns, build_feature_set, load_dialogue_table
    from ..data.text import embed_tables, load_text_encoder

    columns = TableColumns(
        dialogue=args.dialogue_column,
        utterance=args.utterance_column,
        speaker=args.speaker_column or None,
        text=args.text_column,
        label=args.label_column or None,
    )
    labels = args.labels.split(",") if "," in args.labels else args.labels
    paths = {"train": args.train, "dev": args.dev, "test": args.test}
    tables = {
        split: load_dialogue_table(p, columns=columns, label_names=labels, encoding=args.encoding)
        for split, p in paths.items()
        if p
    }
    speakers = SpeakerMap.fit(tables["train"], top_n=args.top_speakers, mode=args.speaker_mode)
    modalities, extras = build_media_modalities(args, tables)
    if args.encoder != "none":
        options = {"layers": args.layers} if args.layers else {}
        encoder = load_text_encoder(args.encoder, device=args.device, **options)
        text = embed_tables(
            tables, encoder, batch_size=args.batch_size, cache_dir=args.cache_dir, progress=not args.quiet
        )
        modalities = {"text": text, **modalities}
    if not modalities:
        raise ValueError("--encoder none without --audio/--visual: there is no modality to build")
    features = build_feature_set(tables, modalities, speakers)
    features.extras.update(extras)
    save_features(features, args.out)
    print(features.summary())
    print(f"wrote {args.out}")
    report = feature_report(features)
    for warning in report.warnings:
        print("warning:", warning)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``inspect-features`` and ``build-features`` to the ``vega-anchors`` command."""

    inspect = sub.add_parser("inspect-features", help="report scales, defects and balance of a feature file")
    inspect.add_argument("path", help="a feature pickle (.pkl, trusted files only) or a feature store (.safetensors)")
    inspect.add_argument("--dataset", choices=["iemocap", "meld"], default=None, help="for pickles: the label set")
    inspect.add_argument("--min-rms", type=float, default=MIN_FEATURE_RMS, help="warn below this per-dim RMS")
    inspect.add_argument("--max-rms", type=float, default=MAX_FEATURE_RMS, help="warn above this per-dim RMS")
    inspect.add_argument("--anchors", default=None, help="an AnchorBank file: zero-shot accuracy of visual features")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument("--strict", action="store_true", help="exit with status 1 when there are warnings")
    inspect.set_defaults(run=_inspect)

    build = sub.add_parser("build-features", help="dialogue tables → text embeddings → a feature store")
    build.add_argument("--train", required=True, help="training table (CSV/TSV/JSONL)")
    build.add_argument("--dev", default=None)
    build.add_argument("--test", default=None)
    build.add_argument("--out", required=True, help="output .safetensors feature store")
    build.add_argument("--encoder", required=True, help="sentence-transformers/HF model or path ('none': media only)")
    build.add_argument("--labels", default="meld", help="'meld', 'iemocap' or comma-separated class names")
    build.add_argument("--dialogue-column", default="Dialogue_ID")
    build.add_argument("--utterance-column", default="Utterance_ID")
    build.add_argument("--speaker-column", default="Speaker", help="empty: no speakers")
    build.add_argument("--text-column", default="Utterance")
    build.add_argument("--label-column", default="Emotion", help="empty: unlabelled")
    build.add_argument("--encoding", default="utf-8-sig")
    build.add_argument("--top-speakers", type=int, default=8)
    build.add_argument("--speaker-mode", choices=["global", "per_dialogue"], default="global")
    build.add_argument(
        "--layers",
        type=int,
        nargs="+",
        default=None,
        help="mean-pool these hidden layers and concatenate them (e.g. -4 -3 -2 -1; transformers backend); "
        "default: the model's sentence embedding",
    )
    build.add_argument("--cache-dir", default=None, help="embedding cache folder")
    build.add_argument("--batch-size", type=int, default=64)
    build.add_argument("--device", default=None)
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    add_media_arguments(build)
    build.set_defaults(run=_build)
