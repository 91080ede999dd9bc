"""Dialogue tables: reading raw utterances (CSV or JSONL) into :class:`RawDialogue` records.

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

Text cleaning lives in :mod:`~vega_anchors.data.cleaning`, :class:`SpeakerMap` in
:mod:`~vega_anchors.data.speakers` and tensor assembly (``build_feature_set``) in
:mod:`~vega_anchors.data.assembly`.

No pandas: the standard library's :mod:`csv` and :mod:`json` do the reading.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from .._io import jsonl_records
from ..errors import ConfigError
from ..labels import EMOTION_LABELS, canonical_label
from .cleaning import normalize_text

logger = logging.getLogger(__name__)

__all__ = [
    "DialogueTable",
    "RawDialogue",
    "TableColumns",
    "load_dialogue_table",
    "load_dialogue_tables",
    "load_meld_tables",
    "parse_speaker_cell",
]


@dataclass(frozen=True)
class TableColumns:
    """Column (or JSON key) names of a dialogue table. Defaults: MELD's CSV header.

    ``dialogue`` may be several columns that together identify a dialogue, e.g.
    ``("Season", "Episode", "Scene_ID")``; the dialogue id is then their values joined by ``"/"``
    (``"1/2/3"``). ``label`` may be ``None`` for unlabelled tables (every label becomes ``-1``);
    ``speaker`` may be ``None`` when the table has no speakers (every utterance gets the same speaker).
    """

    dialogue: str | tuple[str, ...] = "Dialogue_ID"
    utterance: str = "Utterance_ID"
    speaker: str | None = "Speaker"
    text: str = "Utterance"
    label: str | None = "Emotion"

    def __post_init__(self) -> None:
        if not isinstance(self.dialogue, str):
            parts = tuple(str(c) for c in self.dialogue)
            if not parts:
                raise ValueError("TableColumns(dialogue=...) needs at least one column name")
            object.__setattr__(self, "dialogue", parts[0] if len(parts) == 1 else parts)

    @property
    def dialogue_columns(self) -> tuple[str, ...]:
        """The dialogue key's column(s)."""
        return (self.dialogue,) if isinstance(self.dialogue, str) else tuple(self.dialogue)

    def required(self) -> list[str]:
        names = [*self.dialogue_columns, self.utterance, self.speaker, self.text, self.label]
        return [c for c in names if c is not None]


DIALOGUE_KEY_JOIN = "/"
"""Joins the values of a composite dialogue key into one dialogue id (``"1/2/3"``)."""

_QUOTED = re.compile(r"""\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(?:,|$)""")


def parse_speaker_cell(value: Any) -> list[str] | None:
    """The speaker names in one speaker cell, or ``None`` when the cell is a plain name.

    A list-valued cell — a JSON list (``["A", "B"]``), a Python-style list literal
    (``['Monica Geller']``) or an actual list (JSON-lines input) — gives its names, stripped. The
    literal is parsed by a small quoted-string reader: nothing is evaluated. An empty list gives
    ``[]``; a cell that starts with ``[`` but is not a list of quoted strings is a plain name.
    """
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    text = str(value if value is not None else "").strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
        return [v.strip() for v in parsed]
    inner = text[1:-1].strip()
    names: list[str] = []
    position = 0
    while position < len(inner):
        match = _QUOTED.match(inner, position)
        if match is None or match.end() == position:
            return None
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        names.append(re.sub(r"\\(.)", r"\1", raw).strip())
        position = match.end()
    return names


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
        speaker_cells: counts of list-valued speaker cells (``list``: all of them, ``several``:
            those naming more than one speaker, ``empty``: ``[]``).
        label_mapping: every raw label of the file (whitespace-trimmed) → the class it was read as.
        counts: what reading found and how it was handled (see :data:`TABLE_COUNTS`).
        turn_order: how each dialogue's utterances were ordered: ``{"rule": TURN_ORDER_RULE,
            "by_value": n, "file_order": m, "mixed": [dialogue ids whose ids mix numbers and text]}``.
    """

    dialogues: list[RawDialogue]
    label_names: tuple[str, ...]
    source: str = ""
    speaker_cells: dict[str, int] = field(default_factory=dict)
    """Counts of list-valued speaker cells: ``{"list": n, "several": m, "empty": k}`` (see
    :func:`parse_speaker_cell` and ``speaker_multi``)."""
    label_mapping: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    turn_order: dict[str, Any] = field(default_factory=dict)

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

TURN_ORDER_RULE = "numeric ids by value, other ids in file order"
"""How utterances are ordered within a dialogue: when every utterance id of the dialogue is a number
they are sorted by value (``2, 10, 1`` → ``1, 2, 10``); otherwise (``u1, u2, …, u10``, hashes, or ids
mixing numbers and text) the table's own row order is kept: text ids carry no order we can trust."""

TABLE_COUNTS: dict[str, str] = {
    "empty_text": "utterances with empty text (kept; embedded as an empty string)",
    "empty_label": "utterances with an empty label cell (unlabelled, -1: not trained or scored on)",
    "empty_speaker": "utterances with an empty or null speaker cell (speaker '': the shared 'other' id)",
}
"""The keys of :attr:`DialogueTable.counts` and what each counts (the build report prints them)."""

_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _read_text(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and encoding.lower().replace("_", "-") in ("utf-8", "utf-8-sig"):
        encoding = "utf-16"  # a UTF-16 BOM is unambiguous
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not valid {encoding} (byte {raw[err.start : err.start + 1]!r} at line {line})",
            python_fix="pass encoding='cp1252' (Windows exports) or encoding='latin-1'",
            cli_fix="add --encoding cp1252 (Windows exports) or --encoding latin-1",
        ) from err


def _csv_rows(text: str, path: Path, delimiter: str | None) -> Iterable[tuple[int, dict[str, str]]]:
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        raise ValueError(f"{path} is empty: expected a header row")
    reader.fieldnames = [name.strip().lstrip("\ufeff") for name in reader.fieldnames]
    _check_delimiter(reader.fieldnames, path, delimiter)
    for row in reader:
        yield reader.line_num, row


def _check_delimiter(header: Sequence[str], path: Path, delimiter: str) -> None:
    """Refuse a one-column header that holds another delimiter (``a;b;c`` read with ``,``), naming it."""
    if len(header) != 1:
        return
    for char, name in _DELIMITERS.items():
        if char != delimiter and char in header[0]:
            raise ConfigError(
                f"{path}: the header {header[0]!r} is one column when split on {delimiter!r}; it looks "
                f"{name}-delimited",
                python_fix=f"pass delimiter={char!r}",
                cli_fix=f"add --delimiter {'tab' if char == chr(9) else repr(char)}",
            )


def _jsonl_rows(text: str, path: Path, columns: TableColumns) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, record in jsonl_records(text, path):
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


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number else None  # NaN is no order


def _label_index(names: Sequence[str]) -> dict[str, int]:
    index = {n: i for i, n in enumerate(names)}
    if len(index) != len(names):
        raise ConfigError(
            f"label names must be distinct, got {list(names)}",
            python_fix="pass label_names=[...] with one name per class",
            cli_fix="give --labels a,b,c with one name per class",
        )
    return index


@dataclass(frozen=True)
class _LabelRule:
    """How a raw label cell becomes a class name: ``label_map`` first, then (named label sets only)
    the aliases of :func:`~vega_anchors.canonical_label`; otherwise the raw label itself."""

    aliases: bool
    label_map: Mapping[str, str]

    def __call__(self, raw: str) -> str:
        if raw in self.label_map:
            return self.label_map[raw]
        return canonical_label(raw) if self.aliases else raw


_Utterance = tuple[str, str, str | None, int]
"""One grouped utterance: (speaker, text, class name or None, line)."""


def _check_speaker_multi(speaker_multi: str) -> None:
    """Raise :class:`ConfigError` unless ``speaker_multi`` is ``"first"`` or ``"joined"``."""
    if speaker_multi not in ("first", "joined"):
        raise ConfigError(
            f"unknown speaker_multi {speaker_multi!r}",
            python_fix="pass speaker_multi='first' or 'joined'",
            cli_fix="use --multi-speaker first or --multi-speaker joined",
        )


def _label_names(label_names: Sequence[str] | str) -> tuple[bool, tuple[str, ...]]:
    """``(auto, names)``: whether the labels are ``"auto"``, else the class names the argument stands for
    (a named set's names, or the given list with each name trimmed)."""
    auto = isinstance(label_names, str) and label_names == "auto"
    if isinstance(label_names, str) and not auto and label_names not in EMOTION_LABELS:
        raise ConfigError(
            f"unknown label set {label_names!r}",
            python_fix=f"pass label_names='auto', one of {sorted(EMOTION_LABELS)} or a list of class names",
            cli_fix=f"use --labels auto, --labels {'|'.join(sorted(EMOTION_LABELS))} or --labels a,b,c",
        )
    names: tuple[str, ...] = (
        () if auto else (EMOTION_LABELS[label_names] if isinstance(label_names, str) else tuple(label_names))
    )
    names = tuple(str(n).strip() for n in names)
    return auto, names


def _table_rows(
    path: Path, columns: TableColumns, format: str, encoding: str, delimiter: str | None
) -> tuple[str, Iterable[tuple[int, dict[str, Any]]]]:
    """``(format, rows)``: the resolved format and the ``(line, row)`` pairs of the table at ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"dialogue table not found: {path}")
    if format == "auto":
        format = "jsonl" if path.suffix.lower() in (".jsonl", ".json", ".ndjson") else "csv"
    text = _read_text(path, encoding)
    rows = _jsonl_rows(text, path, columns) if format == "jsonl" else _csv_rows(text, path, delimiter)
    return format, rows


def _check_columns(row: Mapping[str, Any], columns: TableColumns, path: Path) -> None:
    """Raise :class:`ConfigError` when ``row`` lacks a required column (the message lists those found)."""
    missing = [c for c in columns.required() if c not in row]
    if missing:
        found = sorted(map(str, row))
        raise ConfigError(
            f"{path} has no column(s) {missing}; found {found}",
            python_fix="pass columns=TableColumns(dialogue=..., utterance=..., speaker=..., text=..., "
            "label=...) with the table's names (dialogue=('A', 'B') for a key spanning columns)",
            cli_fix="name the table's columns with --dialogue-column (A,B,C for a key spanning "
            "columns), --utterance-column, --speaker-column, --text-column and --label-column",
        )


def _row_key(row: Mapping[str, Any], columns: TableColumns, path: Path, line: int) -> tuple[str, str]:
    """``(dialogue id, utterance id)`` of ``row``; a ``ValueError`` when either is empty."""
    parts = [str(row.get(c, "") if row.get(c) is not None else "").strip() for c in columns.dialogue_columns]
    dialogue = DIALOGUE_KEY_JOIN.join(parts)
    utterance = str(row.get(columns.utterance, "")).strip()
    if not all(parts) or not utterance:
        raise ValueError(f"{path} line {line}: empty dialogue id or utterance id")
    return dialogue, utterance


def _row_speaker(row: Mapping[str, Any], columns: TableColumns, speaker_multi: str, cells: Counter[str]) -> str:
    """The speaker of ``row`` (list-valued cells resolved by ``speaker_multi`` and counted in ``cells``)."""
    if columns.speaker is None:
        return ""
    cell = row.get(columns.speaker)
    listed = parse_speaker_cell(cell)
    if listed is None:
        name = "" if cell is None else str(cell).strip()
        if not name:  # an empty cell (CSV), a null or a missing key (JSONL): the same unnamed speaker
            cells["empty_speaker"] += 1
        return name
    cells["list"] += 1
    if not listed:
        cells["empty"] += 1
    elif len(listed) > 1:
        cells["several"] += 1
    return (listed[0] if speaker_multi == "first" else " & ".join(listed)) if listed else ""


def _raise_repeated(path: Path, line: int, dialogue: str, utterance: str, columns: TableColumns) -> NoReturn:
    """Raise the :class:`ConfigError` for an utterance id repeated within one dialogue."""
    key_columns = columns.dialogue_columns
    shown = f"{columns.dialogue!r}" if len(key_columns) == 1 else f"{list(key_columns)}"
    raise ConfigError(
        f"{path} line {line}: dialogue {dialogue!r} repeats utterance id {utterance!r}; the dialogue "
        f"key {shown} does not identify one conversation (is it only unique together with other "
        "columns, e.g. season and episode?)",
        python_fix="pass columns=TableColumns(dialogue=('Season', 'Episode', 'Scene_ID'), ...) with every "
        "column of the key",
        cli_fix="give every column of the key: --dialogue-column Season,Episode,Scene_ID",
    )


def _group_rows(
    rows: Iterable[tuple[int, dict[str, Any]]],
    path: Path,
    columns: TableColumns,
    *,
    check_once: bool,
    clean_text: bool,
    speaker_multi: str,
    index: Mapping[str, int] | None,
    rule: _LabelRule,
) -> tuple[dict[str, dict[str, _Utterance]], dict[str, tuple[int, int]], Counter[str], dict[str, str]]:
    """``(grouped, unknown, cells, mapping)``: utterances by dialogue and utterance id (file order), labels
    outside ``index`` (raw label → (count, first line); ``index=None`` accepts every label), the counts
    (speaker cells, :data:`TABLE_COUNTS`) and every raw label → the class name ``rule`` gives it."""
    grouped: dict[str, dict[str, _Utterance]] = {}
    unknown: dict[str, tuple[int, int]] = {}
    cells: Counter[str] = Counter()
    mapping: dict[str, str] = {}
    checked_columns = False
    for line, row in rows:
        if not checked_columns:
            _check_columns(row, columns, path)
            checked_columns = check_once  # JSON objects may differ line to line
        dialogue, utterance = _row_key(row, columns, path, line)
        utterance_text = str(row.get(columns.text) or "")
        if clean_text:
            utterance_text = normalize_text(utterance_text)
        cells["empty_text"] += not utterance_text.strip()
        speaker = _row_speaker(row, columns, speaker_multi, cells)
        raw_label = row.get(columns.label) if columns.label is not None else None
        label_key: str | None = None
        if raw_label is not None and str(raw_label).strip():
            raw = str(raw_label).strip()
            label_key = mapping.setdefault(raw, rule(raw))
            if index is not None and label_key not in index:
                count, first = unknown.get(raw, (0, line))
                unknown[raw] = (count + 1, first)
        elif columns.label is not None:
            cells["empty_label"] += 1
        utterances = grouped.setdefault(dialogue, {})
        if utterance in utterances:
            _raise_repeated(path, line, dialogue, utterance, columns)
        utterances[utterance] = (speaker, utterance_text, label_key, line)
    return grouped, unknown, cells, mapping


def _raise_unknown_labels(path: Path, names: Sequence[str], unknown: Mapping[str, tuple[int, int]]) -> NoReturn:
    """Raise the :class:`ConfigError` listing every label outside ``names`` with its count and first line."""
    listed_labels = ", ".join(f"{name!r} ×{count} (first at line {first})" for name, (count, first) in unknown.items())
    example = next(iter(unknown))
    raise ConfigError(
        f"{path} has labels outside the label set {list(names)}: {listed_labels}",
        python_fix="pass label_names='auto' (the table's own labels), label_names=[...] with every class, or "
        f"label_map={{{example!r}: 'CLASS'}} to read a label as one of the classes",
        cli_fix="use --labels auto (the training table's own labels), --labels a,b,c with every class, or "
        f"--map {example}=CLASS to read a label as one of the classes",
    )


def _turn_order(utterances: Sequence[str], order: dict[str, Any]) -> tuple[list[str], bool]:
    """``(ids in turn order, has gaps)`` by :data:`TURN_ORDER_RULE`, counted into ``order``."""
    numbers = [_number(u) for u in utterances]
    if all(n is not None for n in numbers):
        order["by_value"] += 1
        ranked = sorted(zip(numbers, utterances, strict=True), key=lambda pair: pair[0])  # type: ignore[arg-type,return-value]
        values = [float(n) for n, _ in ranked]  # type: ignore[arg-type]
        return [u for _, u in ranked], values[-1] - values[0] + 1 != len(values)
    order["file_order"] += 1
    return list(utterances), False


def _raw_dialogues(
    grouped: Mapping[str, Mapping[str, _Utterance]], index: Mapping[str, int]
) -> tuple[list[RawDialogue], int, dict[str, Any]]:
    """``(dialogues, gaps, turn order)``: one :class:`RawDialogue` per group, utterances in turn order
    (:data:`TURN_ORDER_RULE`), how many dialogues have gaps in their numeric utterance ids, and the
    :attr:`DialogueTable.turn_order` record."""
    dialogues = []
    gaps = 0
    turn_order: dict[str, Any] = {"rule": TURN_ORDER_RULE, "by_value": 0, "file_order": 0, "mixed": []}
    for dialogue_id, utterances in grouped.items():
        order, gap = _turn_order(list(utterances), turn_order)
        gaps += gap
        numeric = sum(_number(u) is not None for u in utterances)
        if 0 < numeric < len(utterances):
            turn_order["mixed"].append(dialogue_id)
        dialogues.append(
            RawDialogue(
                id=dialogue_id,
                utterance_ids=order,
                speakers=[utterances[u][0] for u in order],
                texts=[utterances[u][1] for u in order],
                labels=[index[k] if (k := utterances[u][2]) is not None else -1 for u in order],
            )
        )
    return dialogues, gaps, turn_order


def load_dialogue_table(
    path: str | os.PathLike[str],
    *,
    columns: TableColumns | None = None,
    label_names: Sequence[str] | str = "meld",
    format: Literal["auto", "csv", "jsonl"] = "auto",
    encoding: str = "utf-8-sig",
    delimiter: str | None = None,
    clean_text: bool = True,
    speaker_multi: Literal["first", "joined"] = "first",
    label_map: Mapping[str, str] | None = None,
) -> DialogueTable:
    """Read one split of utterances from a CSV/TSV or JSONL file.

    Args:
        path: the file. ``.jsonl``/``.json``/``.ndjson`` are read as JSON lines — one object per
            utterance, or one per dialogue whose text/speaker/label keys hold lists.
        columns: column names (default: MELD's). Extra columns are ignored. A dialogue key may span
            several columns (``TableColumns(dialogue=("Season", "Episode", "Scene_ID"))``; id
            ``"1/2/3"``).
        label_names: the class names in label order, a dataset name from
            :data:`~vega_anchors.EMOTION_LABELS` (default ``"meld"``), or ``"auto"``: the sorted
            distinct raw labels of this table, never merged (``joy`` and ``happy`` stay two classes).
            Only a named set reads labels through :func:`~vega_anchors.canonical_label`'s aliases
            (``joy`` → ``happy``, ``sadness`` → ``sad``, case-insensitive); with ``"auto"`` or a list,
            a label is its own class (whitespace-trimmed, case kept). An empty label cell means
            unlabelled (``-1``, counted). For several splits use :func:`load_dialogue_tables`, which
            takes ``"auto"`` from the training split.
        format: ``"csv"``, ``"jsonl"`` or ``"auto"`` (by extension).
        encoding: text encoding; the default accepts UTF-8 with or without a byte-order mark (a
            UTF-16 BOM is honoured too). Use ``"cp1252"`` for Windows exports.
        delimiter: CSV delimiter; default ``","`` (tab for ``.tsv``).
        clean_text: apply :func:`normalize_text` (typographic quotes → ASCII, mojibake repair).
        speaker_multi: a list-valued speaker cell (``['Monica Geller']``, parsed by
            :func:`parse_speaker_cell`, never evaluated) naming several speakers becomes its
            ``"first"`` name (default) or all of them ``"joined"`` by ``" & "`` (one speaker of its
            own). Counts land in :attr:`DialogueTable.speaker_cells`.
        label_map: raw label → class name, applied before anything else (``{"joy": "happy"}``): the
            one way to merge labels with ``"auto"`` or a list. Every raw label → class used is in
            :attr:`DialogueTable.label_mapping`.

    Returns:
        A :class:`DialogueTable`; utterances in turn order within each dialogue
        (:data:`TURN_ORDER_RULE`: numeric ids by value, other ids in file order); empty speaker
        cells (CSV) and null or missing speakers (JSONL) alike become the speaker ``""``.

    Raises:
        ConfigError: (a ``ValueError``) missing columns (the message lists the ones found), a label
            outside ``label_names`` (all unknown labels are listed with counts), a repeated
            utterance id; each names the argument that fixes it.
        ValueError: an unreadable encoding.
    """
    columns = columns or TableColumns()
    _check_speaker_multi(speaker_multi)
    auto, names = _label_names(label_names)
    index = _label_index(names) if not auto else {}
    path = Path(path)
    format, rows = _table_rows(path, columns, format, encoding, delimiter)
    rule = _LabelRule(aliases=isinstance(label_names, str) and not auto, label_map=_check_label_map(label_map))
    grouped, unknown, cells, mapping = _group_rows(
        rows,
        path,
        columns,
        check_once=format == "csv",
        clean_text=clean_text,
        speaker_multi=speaker_multi,
        index=None if auto else index,
        rule=rule,
    )
    if unknown:
        _raise_unknown_labels(path, names, unknown)
    if auto:
        names = tuple(sorted({u[2] for utts in grouped.values() for u in utts.values() if u[2] is not None}))
        index = _label_index(names)
    dialogues, gaps, turn_order = _raw_dialogues(grouped, index)
    if not dialogues:
        raise ValueError(f"{path} holds no utterances")
    _log_table(path, gaps, cells, turn_order, speaker_multi)
    return _table(dialogues, names, path, cells, mapping, turn_order)


def _table(
    dialogues: list[RawDialogue],
    names: Sequence[str],
    path: Path,
    cells: Counter[str],
    mapping: Mapping[str, str],
    turn_order: dict[str, Any],
) -> DialogueTable:
    """The :class:`DialogueTable` record (counts split into speaker cells and :data:`TABLE_COUNTS`)."""
    counts = {key: int(cells.get(key, 0)) for key in TABLE_COUNTS}
    speaker_cells = {k: v for k, v in cells.items() if k in ("list", "several", "empty")}
    table = DialogueTable(dialogues, tuple(names), str(path), speaker_cells, dict(sorted(mapping.items())), counts,
                          turn_order)  # fmt: skip
    logger.info("read %d dialogues, %d utterances from %s", len(table), table.num_utterances, path)
    return table


def _check_label_map(label_map: Mapping[str, str] | None) -> dict[str, str]:
    """``label_map`` with keys and values trimmed; a :class:`ConfigError` for an empty one."""
    cleaned = {str(k).strip(): str(v).strip() for k, v in (label_map or {}).items()}
    if any(not k or not v for k, v in cleaned.items()):
        raise ConfigError(
            f"label_map has an empty name: {dict(label_map or {})}",
            python_fix="pass label_map={'raw label': 'class', ...}",
            cli_fix="give --map RAW=CLASS with both names",
        )
    return cleaned


def _log_table(path: Path, gaps: int, cells: Counter[str], turn_order: Mapping[str, Any], speaker_multi: str) -> None:
    """Log what reading ``path`` found: gaps, mixed ids, counts, list-valued speaker cells."""
    if gaps:
        logger.info("%s: %d dialogues have gaps in their utterance ids (kept in order)", path, gaps)
    if turn_order["mixed"]:
        logger.warning("%s: %d dialogue(s) mix numeric and text utterance ids (kept in file order): %s", path,
                       len(turn_order["mixed"]), ", ".join(map(repr, turn_order["mixed"][:10])))  # fmt: skip
    for key, what in TABLE_COUNTS.items():
        if cells.get(key):
            logger.info("%s: %d %s", path, cells[key], what)
    if cells.get("list"):
        logger.info("%s: %d list-valued speaker cells, %d with several speakers (%s)", path, cells["list"],
                    cells["several"], speaker_multi)  # fmt: skip


def load_dialogue_tables(
    paths: Mapping[str, str | os.PathLike[str] | None],
    *,
    label_names: Sequence[str] | str = "auto",
    **kwargs: Any,
) -> dict[str, DialogueTable]:
    """Read the splits ``{"train": path, "dev": path, "test": path}`` (``None`` paths are skipped)
    with one label set: ``label_names="auto"`` (the default) takes the sorted labels of the
    **training** table and reads the other splits with them. Other keyword arguments go to
    :func:`load_dialogue_table`.

    Raises:
        ConfigError: no ``train`` path, or (auto) a dev/test label missing from train (named; pass
            the full class list).
    """
    given = {split: p for split, p in paths.items() if p}
    if "train" not in given:
        raise ConfigError(
            f"no training table among {sorted(given)}",
            python_fix="pass paths={'train': ..., 'dev': ..., 'test': ...}",
            cli_fix="give --train TABLE",
        )
    train = load_dialogue_table(given["train"], label_names=label_names, **kwargs)
    tables = {"train": train}
    named = isinstance(label_names, str) and label_names != "auto"  # a named set keeps its aliases
    for split, p in given.items():
        if split == "train":
            continue
        try:
            tables[split] = load_dialogue_table(p, label_names=label_names if named else train.label_names, **kwargs)
        except ConfigError as err:
            if not (isinstance(label_names, str) and label_names == "auto") or "outside the label set" not in str(err):
                raise
            raise ConfigError(
                f"{err.problem} (with labels 'auto', the classes are the training table's)",
                python_fix="pass label_names=[...] listing every class, or fix the table",
                cli_fix="give every class with --labels a,b,c, or fix the table",
            ) from err
    return tables


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
