"""Dialogue tables: raw utterances (CSV or JSONL) → :class:`RawDialogue` records → :class:`Dialogue` tensors.

A table has one row per utterance with five columns — dialogue id, utterance order, speaker, text,
label — whose names are configurable (:class:`TableColumns`); MELD's CSV layout (``Dialogue_ID``,
``Utterance_ID``, ``Speaker``, ``Utterance``, ``Emotion``) is the default. Reading copes with what
real files carry: a UTF-8 byte-order mark, CRLF line ends, quoted multi-line cells, typographic
quotes (normalised to ASCII by default), gaps in the utterance ids and missing dialogues.

The path from a table to a model::

    tables = load_meld_tables("MELD/data/MELD")           # {"train": DialogueTable, "dev": ..., "test": ...}
    speakers = SpeakerMap.fit(tables["train"], top_n=8)    # 8 most frequent speakers + "other"
    text = embed_tables(tables, load_text_encoder(path))   # vega_anchors.data.text
    features = build_feature_set(tables, {"text": text}, speakers)

No pandas: the standard library's :mod:`csv` and :mod:`json` do the reading.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..labels import EMOTION_LABELS, canonical_label
from .types import Dialogue, FeatureSet

logger = logging.getLogger(__name__)

__all__ = [
    "DialogueTable",
    "RawDialogue",
    "SpeakerMap",
    "TableColumns",
    "build_dialogues",
    "build_feature_set",
    "load_dialogue_table",
    "load_meld_tables",
    "normalize_text",
]

OTHER_SPEAKER = "other"
"""Name of the shared speaker id for speakers outside a :class:`SpeakerMap`'s top N."""

# Typographic characters → ASCII (what MELD's transcripts are full of).
_TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": " - ",
        "\u2026": "...",
        "\u00a0": " ",
        "\u200b": "",
        "\ufeff": "",
    }
)
# UTF-8 read as cp1252/latin-1 (e.g. "â€™" for "’"): older MELD copies carry these.
_CP1252_HIGH = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MOJIBAKE = re.compile(f"[\u00c2\u00c3\u00e2][{_CP1252_HIGH}]+")
_SPACES = re.compile(r"\s+")


def _repair_mojibake(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        chunk = match.group(0)
        for codec in ("cp1252", "latin-1"):
            try:
                return chunk.encode(codec).decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
        return chunk

    return _MOJIBAKE.sub(fix, text)


def normalize_text(text: str) -> str:
    """Clean one utterance: repair UTF-8-read-as-cp1252 mojibake (``"â€™"`` → ``"’"``), Unicode NFC,
    typographic quotes/dashes/ellipses → ASCII, whitespace runs → one space, trimmed."""
    text = unicodedata.normalize("NFC", _repair_mojibake(text)).translate(_TYPOGRAPHIC)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class TableColumns:
    """Column (or JSON key) names of a dialogue table. Defaults: MELD's CSV header.

    ``label`` may be ``None`` for unlabelled tables (every label becomes ``-1``); ``speaker`` may be
    ``None`` when the table has no speakers (every utterance gets the same speaker).
    """

    dialogue: str = "Dialogue_ID"
    utterance: str = "Utterance_ID"
    speaker: str | None = "Speaker"
    text: str = "Utterance"
    label: str | None = "Emotion"

    def required(self) -> list[str]:
        return [c for c in (self.dialogue, self.utterance, self.speaker, self.text, self.label) if c is not None]


@dataclass
class RawDialogue:
    """One conversation as text, utterances in order.

    Attributes:
        id: dialogue id (as written in the table, e.g. ``"0"``).
        utterance_ids: the table's utterance ids, sorted (gaps are kept as they are).
        speakers: ``T`` speaker names.
        texts: ``T`` utterances.
        labels: ``T`` class ids into the table's ``label_names``; ``-1`` = unlabelled.
    """

    id: str
    utterance_ids: list[str]
    speakers: list[str]
    texts: list[str]
    labels: list[int]

    @property
    def length(self) -> int:
        """Number of utterances ``T``."""
        return len(self.texts)


@dataclass
class DialogueTable:
    """The dialogues of one split, read by :func:`load_dialogue_table`.

    Attributes:
        dialogues: in order of first appearance in the file.
        label_names: class names in label-id order.
        source: the file path.
    """

    dialogues: list[RawDialogue]
    label_names: tuple[str, ...]
    source: str = ""

    def __len__(self) -> int:
        return len(self.dialogues)

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self.dialogues]

    @property
    def num_utterances(self) -> int:
        return sum(d.length for d in self.dialogues)

    def texts(self) -> list[str]:
        """Every utterance, dialogue after dialogue (the row order of :func:`embed_tables`)."""
        return [t for d in self.dialogues for t in d.texts]

    def label_counts(self) -> dict[str, int]:
        """Class name → number of utterances (every class listed, zeros included)."""
        counts = Counter(label for d in self.dialogues for label in d.labels if label >= 0)
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}


# ---------------------------------------------------------------------------------------------- reading


def _read_text(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig"):
        encoding = "utf-16"  # a UTF-16 BOM is unambiguous
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{path} is not valid {encoding} (byte {raw[err.start : err.start + 1]!r} at line {line}); "
            "pass encoding='cp1252' (Windows) or encoding='latin-1'"
        ) from err


def _csv_rows(text: str, path: Path, delimiter: str | None) -> Iterable[tuple[int, dict[str, str]]]:
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        raise ValueError(f"{path} is empty: expected a header row")
    reader.fieldnames = [name.strip().lstrip("\ufeff") for name in reader.fieldnames]
    for row in reader:
        yield reader.line_num, row


def _jsonl_rows(text: str, path: Path, columns: TableColumns) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {number}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise ValueError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
        if isinstance(record.get(columns.text), list):  # one dialogue per line: lists of utterances
            n = len(record[columns.text])
            for i in range(n):
                row: dict[str, Any] = {columns.dialogue: record.get(columns.dialogue)}
                row[columns.utterance] = record[columns.utterance][i] if columns.utterance in record else i
                for key in (columns.speaker, columns.text, columns.label):
                    if key is not None and key in record:
                        values = record[key]
                        if not isinstance(values, list) or len(values) != n:
                            raise ValueError(
                                f"{path} line {number}: {key!r} must be a list of {n} values like {columns.text!r}"
                            )
                        row[key] = values[i]
                yield number, row
        else:
            yield number, record


def _order_key(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def load_dialogue_table(
    path: str | os.PathLike[str],
    *,
    columns: TableColumns | None = None,
    label_names: Sequence[str] | str = "meld",
    format: Literal["auto", "csv", "jsonl"] = "auto",
    encoding: str = "utf-8-sig",
    delimiter: str | None = None,
    clean_text: bool = True,
) -> DialogueTable:
    """Read one split of utterances from a CSV/TSV or JSONL file.

    Args:
        path: the file. ``.jsonl``/``.json``/``.ndjson`` are read as JSON lines — one object per
            utterance, or one per dialogue whose text/speaker/label keys hold lists.
        columns: column names (default: MELD's). Extra columns are ignored.
        label_names: the class names in label order, or a dataset name from
            :data:`~vega_anchors.EMOTION_LABELS` (default ``"meld"``). Table labels go through
            :func:`~vega_anchors.canonical_label` (``joy`` → ``happy``, ``sadness`` → ``sad``); an
            empty label cell means unlabelled (``-1``).
        format: ``"csv"``, ``"jsonl"`` or ``"auto"`` (by extension).
        encoding: text encoding; the default accepts UTF-8 with or without a byte-order mark (a
            UTF-16 BOM is honoured too). Use ``"cp1252"`` for Windows exports.
        delimiter: CSV delimiter; default ``","`` (tab for ``.tsv``).
        clean_text: apply :func:`normalize_text` (typographic quotes → ASCII, mojibake repair).

    Returns:
        A :class:`DialogueTable`; utterances sorted by their utterance id within each dialogue.

    Raises:
        ValueError: missing columns (the message lists the ones found), a label outside
            ``label_names`` (all unknown labels are listed with counts), a repeated utterance id,
            an unreadable encoding.
    """
    columns = columns or TableColumns()
    if isinstance(label_names, str) and label_names not in EMOTION_LABELS:
        raise ValueError(f"unknown label set {label_names!r}; use one of {sorted(EMOTION_LABELS)} or a list of names")
    names = EMOTION_LABELS[label_names] if isinstance(label_names, str) else tuple(label_names)
    index = {canonical_label(n): i for i, n in enumerate(names)}
    if len(index) != len(names):
        raise ValueError(f"label_names must be distinct after canonicalisation, got {list(names)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dialogue table not found: {path}")
    if format == "auto":
        format = "jsonl" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "csv"
    text = _read_text(path, encoding)
    rows = _jsonl_rows(text, path, columns) if format == "jsonl" else _csv_rows(text, path, delimiter)

    grouped: dict[str, dict[str, tuple[str, str, int]]] = {}
    unknown: Counter[str] = Counter()
    unknown_first: dict[str, int] = {}
    checked_columns = False
    for line, row in rows:
        if not checked_columns:
            missing = [c for c in columns.required() if c not in row]
            if missing:
                raise ValueError(
                    f"{path} has no column(s) {missing}; found {sorted(map(str, row))}. "
                    "Pass columns=TableColumns(dialogue=..., utterance=..., speaker=..., text=..., label=...)"
                )
            checked_columns = format == "csv"  # JSON objects may differ line to line
        dialogue = str(row.get(columns.dialogue, "")).strip()
        utterance = str(row.get(columns.utterance, "")).strip()
        if not dialogue or not utterance:
            raise ValueError(f"{path} line {line}: empty dialogue id or utterance id")
        utterance_text = str(row.get(columns.text) or "")
        if clean_text:
            utterance_text = normalize_text(utterance_text)
        speaker = str(row.get(columns.speaker) or "").strip() if columns.speaker is not None else ""
        raw_label = row.get(columns.label) if columns.label is not None else None
        label = -1
        if raw_label is not None and str(raw_label).strip():
            key = canonical_label(str(raw_label))
            if key in index:
                label = index[key]
            else:
                unknown[str(raw_label).strip()] += 1
                unknown_first.setdefault(str(raw_label).strip(), line)
        utterances = grouped.setdefault(dialogue, {})
        if utterance in utterances:
            raise ValueError(f"{path} line {line}: dialogue {dialogue!r} repeats utterance id {utterance!r}")
        utterances[utterance] = (speaker, utterance_text, label)
    if unknown:
        listed = ", ".join(
            f"{name!r} ×{count} (first at line {unknown_first[name]})" for name, count in unknown.items()
        )
        raise ValueError(
            f"{path} has labels outside the label set {list(names)}: {listed}. "
            "Pass label_names=[...] with every class, or fix the table"
        )
    dialogues = []
    gaps = 0
    for dialogue_id, utterances in grouped.items():
        order = sorted(utterances, key=_order_key)
        numeric = [float(u) for u in order if _order_key(u)[0] == 0]
        if len(numeric) == len(order) and numeric[-1] - numeric[0] + 1 != len(order):
            gaps += 1
        dialogues.append(
            RawDialogue(
                id=dialogue_id,
                utterance_ids=order,
                speakers=[utterances[u][0] for u in order],
                texts=[utterances[u][1] for u in order],
                labels=[utterances[u][2] for u in order],
            )
        )
    if not dialogues:
        raise ValueError(f"{path} holds no utterances")
    if gaps:
        logger.info("%s: %d dialogues have gaps in their utterance ids (kept in order)", path, gaps)
    table = DialogueTable(dialogues, tuple(names), str(path))
    logger.info("read %d dialogues, %d utterances from %s", len(table), table.num_utterances, path)
    return table


MELD_FILES: dict[str, str] = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
"""The file names of MELD's text splits (``data/MELD/`` in declare-lab/MELD)."""


def load_meld_tables(directory: str | os.PathLike[str], **kwargs: Any) -> dict[str, DialogueTable]:
    """MELD's ``train``/``dev``/``test`` CSVs from ``directory`` (keyword arguments go to
    :func:`load_dialogue_table`). MELD is GPL-3.0: read it from your copy, do not redistribute it."""
    directory = Path(directory)
    missing = [name for name in MELD_FILES.values() if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} lacks MELD file(s) {missing} (from declare-lab/MELD data/MELD/)")
    return {split: load_dialogue_table(directory / name, **kwargs) for split, name in MELD_FILES.items()}


# ---------------------------------------------------------------------------------------------- speakers


@dataclass
class SpeakerMap:
    """Speaker names → ids, fitted on the training split and reused for dev/test.

    ``mode="global"``: the ``top_n`` most frequent training speakers get ids ``0..N-1`` (ties broken
    by name) and every other speaker — rarer or unseen — shares id ``N`` (``"other"``).
    ``mode="per_dialogue"``: ids are the order of first appearance within each dialogue
    (``0, 1, ...``), capped at ``top_n`` (later speakers share the last id) — the "party" ids of
    IEMOCAP/DialogueRNN-style features.

    Attributes:
        names: the named speakers (global mode), id order.
        mode: ``"global"`` or ``"per_dialogue"``.
        top_n: the cap.
    """

    names: list[str]
    mode: Literal["global", "per_dialogue"] = "global"
    top_n: int = 8
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("global", "per_dialogue"):
            raise ValueError(f"mode must be 'global' or 'per_dialogue', got {self.mode!r}")
        self._index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def fit(
        cls,
        train: DialogueTable | Iterable[RawDialogue],
        *,
        top_n: int | None = 8,
        mode: Literal["global", "per_dialogue"] = "global",
    ) -> SpeakerMap:
        """Fit on the training dialogues. ``top_n=None`` names every training speaker."""
        dialogues = train.dialogues if isinstance(train, DialogueTable) else list(train)
        if top_n is not None and top_n < 1:
            raise ValueError(f"top_n must be >= 1 (or None for every speaker), got {top_n}")
        if mode == "per_dialogue":
            longest = max((len(dict.fromkeys(d.speakers)) for d in dialogues), default=1)
            return cls([], mode, top_n if top_n is not None else longest)
        counts = Counter(s for d in dialogues for s in d.speakers)
        ranked = sorted(counts, key=lambda s: (-counts[s], s))
        names = ranked if top_n is None else ranked[:top_n]
        if len(ranked) > len(names):
            covered = sum(counts[s] for s in names) / max(sum(counts.values()), 1)
            logger.info(
                "speakers: top %d of %d cover %.1f%% of training utterances; the rest share %r",
                len(names),
                len(ranked),
                100 * covered,
                OTHER_SPEAKER,
            )
        return cls(names, mode, len(names))

    @property
    def num_speakers(self) -> int:
        """Number of speaker ids (``N + 1`` with the shared "other" id; ``top_n`` per dialogue)."""
        return len(self.names) + 1 if self.mode == "global" else self.top_n

    @property
    def id_names(self) -> list[str]:
        """A readable name per id."""
        if self.mode == "global":
            return [*self.names, OTHER_SPEAKER]
        return [f"party {i}" for i in range(self.top_n)]

    def encode(self, speakers: Sequence[str]) -> list[int]:
        """Ids for one dialogue's speakers (in order)."""
        if self.mode == "global":
            other = len(self.names)
            return [self._index.get(s, other) for s in speakers]
        order: dict[str, int] = {}
        return [min(order.setdefault(s, len(order)), self.top_n - 1) for s in speakers]

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "mode": self.mode, "top_n": self.top_n}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeakerMap:
        return cls(list(data["names"]), data.get("mode", "global"), int(data.get("top_n", len(data["names"]))))


# ---------------------------------------------------------------------------------------------- to tensors


def _modality_rows(value: Any, dialogue: RawDialogue, modality: str) -> torch.Tensor:
    arr = np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != dialogue.length:
        raise ValueError(
            f"dialogue {dialogue.id!r}: {modality} features have shape {arr.shape}, expected "
            f"[T={dialogue.length}, D] (one row per utterance, in utterance order)"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def build_dialogues(
    table: DialogueTable,
    features: Mapping[str, Mapping[str, Any]],
    speakers: SpeakerMap,
) -> list[Dialogue]:
    """:class:`Dialogue` records for every dialogue of ``table``.

    Args:
        table: one split.
        features: modality name → {dialogue id → ``[T, D_m]`` array}, one row per utterance in the
            table's (sorted) utterance order. Text features come from
            :func:`~vega_anchors.data.text.embed_tables`; audio/visual ones are yours (any per-utterance
            extractor, e.g. openSMILE or a face encoder) — same ``[T, D]`` shape per dialogue.
        speakers: the :class:`SpeakerMap` fitted on the training split.

    Raises:
        ValueError: a dialogue missing from a modality, or a shape that disagrees (named).
    """
    if not features:
        raise ValueError("give at least one modality: features={'text': {dialogue id: [T, D] array}}")
    out = []
    for dialogue in table.dialogues:
        rows = {}
        for modality, per_dialogue in features.items():
            if dialogue.id not in per_dialogue:
                raise ValueError(f"{modality} features have no entry for dialogue {dialogue.id!r} of {table.source}")
            rows[modality] = _modality_rows(per_dialogue[dialogue.id], dialogue, modality)
        out.append(
            Dialogue(
                id=dialogue.id,
                features=rows,
                speakers=torch.tensor(speakers.encode(dialogue.speakers), dtype=torch.long),
                labels=torch.tensor(dialogue.labels, dtype=torch.long),
            )
        )
    return out


def build_feature_set(
    tables: Mapping[str, DialogueTable],
    features: Mapping[str, Mapping[str, Mapping[str, Any]]],
    speakers: SpeakerMap,
    *,
    source: str = "",
) -> FeatureSet:
    """A :class:`FeatureSet` from per-split tables and features.

    Args:
        tables: ``{"train": ..., "dev": ..., "test": ...}`` (``dev`` optional).
        features: modality → split → {dialogue id → ``[T, D_m]``}, e.g. ``{"text": embed_tables(...)}``.
        speakers: fitted on ``tables["train"]``.
        source: recorded as ``FeatureSet.source`` (default: the train table's path).

    The speaker map is kept in ``extras["speaker_map"]`` and the id names in ``extras["speaker_names"]``.
    """
    unknown = set(tables) - {"train", "dev", "test"}
    if unknown or "train" not in tables:
        raise ValueError(f"tables must have a 'train' split and only train/dev/test; got {sorted(tables)}")
    label_sets = {split: t.label_names for split, t in tables.items()}
    if len(set(label_sets.values())) != 1:
        raise ValueError(f"splits disagree on label names: {label_sets}")
    splits: dict[str, list[Dialogue]] = {"train": [], "dev": [], "test": []}
    for split, table in tables.items():
        per_modality = {}
        for modality, by_split in features.items():
            if split not in by_split:
                raise ValueError(f"{modality} features have no {split!r} split; found {sorted(by_split)}")
            per_modality[modality] = by_split[split]
        splits[split] = build_dialogues(table, per_modality, speakers)
    dims = splits["train"][0].modality_dims
    return FeatureSet(
        train=splits["train"],
        test=splits["test"],
        dev=splits["dev"],
        label_names=tables["train"].label_names,
        num_speakers=speakers.num_speakers,
        modality_dims=dict(dims),
        layout="table",
        source=source or tables["train"].source,
        extras={"speaker_names": speakers.id_names, "speaker_map": speakers.to_dict()},
    )
