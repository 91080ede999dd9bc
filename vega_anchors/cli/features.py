"""``vega-anchors inspect-features`` and ``vega-anchors build-features``.

``vega-anchors inspect-features PATH``
    Print a :func:`~vega_anchors.data.feature_report` for a feature pickle (official layouts) or a
    feature store (``.safetensors`` from ``save_features``). ``--json`` prints it as JSON;
    ``--strict`` exits with status 1 when there are warnings.
``vega-anchors build-features --train T.csv [--dev D.csv] [--test E.csv] --out F.safetensors``
    Dialogue tables → sentence embeddings (cached) → a feature store (needs ``vega-anchors[text]``).
    Under ``torchrun --nproc-per-node N`` (and across nodes) the processes share the work through the
    caches (``--cache-dir`` on a shared file system across machines); rank 0 writes the store.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..data.store import is_feature_store, load_features
from ..data.store_report import MAX_FEATURE_RMS, MIN_FEATURE_RMS, feature_report
from ..data.types import FeatureSet
from ..errors import ConfigError
from ..official.pickles import load_feature_pickle
from ._checks import check_writable, cli_warning
from .media import add_media_arguments, media_options

__all__ = [
    "add_table_arguments",
    "parse_delimiter",
    "parse_label_map",
    "parse_labels",
    "read_any_features",
    "register",
    "table_columns",
]


def read_any_features(path: str | Path, *, dataset: str | None = None) -> FeatureSet:
    """A feature store (safetensors, data only) or a feature pickle (TRUSTED files only)."""
    if is_feature_store(path):
        return load_features(path)
    return load_feature_pickle(path, dataset=dataset)


def table_columns(args: argparse.Namespace) -> Any:
    """:class:`~vega_anchors.data.TableColumns` from the table flags (``--dialogue-column A,B,C``: a key
    spanning columns)."""
    from ..data.tables import TableColumns

    parts = [c.strip() for c in args.dialogue_column.split(",") if c.strip()]
    return TableColumns(
        dialogue=parts[0] if len(parts) == 1 else tuple(parts),
        utterance=args.utterance_column,
        speaker=args.speaker_column or None,
        text=args.text_column,
        label=args.label_column or None,
    )


def parse_labels(value: str) -> str | list[str]:
    """``--labels``: ``auto``, ``meld``, ``iemocap`` or ``a,b,c``."""
    return [v.strip() for v in value.split(",") if v.strip()] if "," in value else value.strip()


def parse_label_map(values: list[str] | None) -> dict[str, str]:
    """``--map joy=happy --map Happiness=happy`` (or ``--map joy=happy,angry=anger``) → ``{raw: class}``."""
    mapping: dict[str, str] = {}
    for value in values or []:
        for pair in value.split(","):
            raw, sep, target = pair.partition("=")
            if not sep or not raw.strip() or not target.strip():
                raise ConfigError(
                    f"--map {value!r}: expected RAW=CLASS", python_fix="pass label_map={'raw': 'class'}",
                    cli_fix="give --map RAW=CLASS, e.g. --map joy=happy",
                )  # fmt: skip
            mapping[raw.strip()] = target.strip()
    return mapping


def parse_delimiter(value: str | None) -> str | None:
    """``--delimiter``: one character; ``tab`` or a backslash-t for a tab."""
    if value is None:
        return None
    value = "\t" if value in ("tab", "TAB", "\\t") else value
    if len(value) != 1:
        raise ConfigError(
            f"--delimiter {value!r} is not one character", python_fix="pass delimiter=';'",
            cli_fix="give --delimiter ';' (or --delimiter tab)",
        )  # fmt: skip
    return value


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that describe a dialogue table's layout (build-features)."""
    parser.add_argument(
        "--labels",
        default="meld",
        help="class names: 'auto' (the sorted raw labels of the training table, never merged), 'meld' or "
        "'iemocap' (named sets: aliases such as joy→happy apply) or a,b,c (any raw labels, label order); "
        "the model's class count follows",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=None,
        metavar="RAW=CLASS",
        help="read the raw label RAW as the class CLASS (repeatable, or RAW=CLASS,RAW2=CLASS2): the one way to "
        "merge labels with --labels auto or a,b,c",
    )
    parser.add_argument("--delimiter", default=None, help="CSV delimiter (default ',', tab for .tsv; 'tab' for a tab)")
    parser.add_argument(
        "--dialogue-column",
        default="Dialogue_ID",
        help="dialogue key column; A,B,C for a key spanning columns (dialogue id = values joined by '/')",
    )
    parser.add_argument("--utterance-column", default="Utterance_ID")
    parser.add_argument("--speaker-column", default="Speaker", help="empty: no speakers")
    parser.add_argument("--text-column", default="Utterance")
    parser.add_argument("--label-column", default="Emotion", help="empty: unlabelled")
    parser.add_argument(
        "--multi-speaker",
        choices=["first", "joined"],
        default="first",
        help="a list-valued speaker cell naming several speakers (['A', 'B']) becomes its first name, or all "
        "of them joined ('A & B', a speaker of its own)",
    )
    parser.add_argument("--encoding", default="utf-8-sig")


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
        print(cli_warning(report.format()))
    return 1 if args.strict and report.warnings else 0


def _build(args: argparse.Namespace) -> int:
    from ..distributed import init_distributed
    from ..features import build_features

    check_writable(args.out)
    media = media_options(args)
    rank, world = init_distributed()  # under torchrun: each process builds its share, rank 0 writes --out
    features = build_features(
        {"train": args.train, "dev": args.dev, "test": args.test},
        encoder=None if args.encoder == "none" else args.encoder,
        columns=table_columns(args),
        labels=parse_labels(args.labels),
        label_map=parse_label_map(args.map),
        encoding=args.encoding,
        delimiter=parse_delimiter(args.delimiter),
        speaker_multi=args.multi_speaker,
        top_speakers=args.top_speakers,
        speaker_mode=args.speaker_mode,
        layers=args.layers,
        context=args.context,
        media=media,
        cache_dir=args.cache_dir,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.quiet and rank == 0,
        out=args.out,
    )
    if rank != 0:
        return 0
    if world > 1:
        print(f"built by {world} processes (torchrun)")
    print(features.summary())
    _print_table_report(features.extras)
    for split, cells in features.extras.get("speaker_cells", {}).items():
        if not cells:
            continue
        print(f"{split}: {cells.get('list', 0)} list-valued speaker cells, {cells.get('several', 0)} with "
              f"several speakers (--multi-speaker {args.multi_speaker})")  # fmt: skip
    print(f"wrote {args.out}")
    for warning in feature_report(features).warnings:
        print("warning:", cli_warning(warning))
    return 0


def _print_table_report(extras: dict[str, Any]) -> None:
    """What reading the tables found (``extras["tables"]``): turn order, counts, truncated texts, raw label → class."""
    from ..data.tables import TABLE_COUNTS

    records = extras.get("tables", {})
    for split, record in records.items():
        order, counts = record["turn_order"], record["counts"]
        print(f"{split}: turn order ({order['rule']}): {order['by_value']} dialogue(s) by id value, "
              f"{order['file_order']} in file order")  # fmt: skip
        if order["mixed"]:
            shown = ", ".join(repr(d) for d in order["mixed"][:10]) + (" ..." if len(order["mixed"]) > 10 else "")
            print(f"{split}: {len(order['mixed'])} dialogue(s) mix numeric and text utterance ids, kept in file "
                  f"order: {shown}")  # fmt: skip
        for key, what in TABLE_COUNTS.items():
            if counts.get(key):
                print(f"{split}: {counts[key]} {what}")
        if counts.get("truncated"):
            print(f"{split}: {counts['truncated']} utterance(s) longer than the text encoder's "
                  f"{record.get('truncation_limit')} tokens: truncated to them")  # fmt: skip
    mapping = {raw: cls for record in records.values() for raw, cls in record["label_mapping"].items()}
    if mapping:
        print("labels (raw → class): " + ", ".join(f"{raw} → {cls}" for raw, cls in sorted(mapping.items())))


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
    add_table_arguments(build)
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
    build.add_argument(
        "--context",
        type=int,
        default=None,
        metavar="K",
        help="encode each utterance with its K preceding turns and the speaker names (target pooled alone "
        "with --layers; docs/own_data.md); default: 0 (the utterance alone), or for a finetune-text "
        "directory the context it was fine-tuned with",
    )
    build.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache folder (default OUT.text-cache beside the store): encoded batches are kept there, "
        "so an interrupted build continues when re-run",
    )
    build.add_argument("--batch-size", type=int, default=64)
    build.add_argument("--device", default=None)
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    add_media_arguments(build)
    build.set_defaults(
        run=_build,
        on_interrupt="kept: nothing at --out (a previous store there is untouched); every encoded text batch is "
        "in the embedding cache (--cache-dir, default OUT.text-cache); run the same command again to continue",
    )
