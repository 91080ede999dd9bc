"""Where each utterance's media lives: MELD, IEMOCAP and manifest layouts → :class:`MediaItem` records.

Every layout yields records keyed by the same ``(dialogue id, utterance id)`` pair as the dialogue
tables (:func:`~vega_anchors.data.load_dialogue_table`), so media features join text features in one
:class:`~vega_anchors.data.FeatureSet`. :func:`match_media` pairs table rows with media and lists,
in one error, every row without media and every media file without a row (or, with
``missing="mask"``, counts them).

Layouts:

MELD (``MELD.Raw``)
    One folder per split holding ``dia{D}_utt{U}.mp4``; the folder names are MELD's own
    (:data:`MELD_SPLIT_FOLDERS`: ``train_splits/``, ``dev_splits_complete/``,
    ``output_repeated_splits_test/``), overridable with ``folders=``. Keys: ``(str(D), str(U))``,
    the ``Dialogue_ID``/``Utterance_ID`` of MELD's CSVs. Other files (``final_videos_test*.mp4``,
    macOS ``._*`` files) are ignored.
IEMOCAP (``IEMOCAP_full_release``)
    ``Session{1..5}/dialog/transcriptions/<dialog>.txt`` lines such as
    ``Ses05F_script03_1_F033 [241.6700-243.4048]: text`` cut ``Session*/dialog/avi/DivX/<dialog>.avi``
    (video) and ``Session*/dialog/wav/<dialog>.wav`` (audio) by time. Keys: ``(dialog, turn name)``,
    e.g. ``("Ses05F_script03_1", "Ses05F_script03_1_F033")`` (``utterance_key="index"``: the turn's
    0-based position in time order instead). The video shows both actors side by side: the
    speaking actor's half is used — left when the turn's gender letter (``F033`` → F) matches the
    session's (``Ses05F`` → F), else right.
manifest
    A CSV or JSONL file with columns ``dialogue``, ``utterance``, ``path`` (relative to the manifest's
    folder, or absolute) and optional ``start``/``end`` (seconds) and ``split``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._io import jsonl_records
from ..data.tables import DialogueTable

logger = logging.getLogger(__name__)

__all__ = [
    "MEDIA_LAYOUTS",
    "MELD_SPLIT_FOLDERS",
    "MediaItem",
    "MediaMatch",
    "discover_media",
    "iemocap_media",
    "manifest_media",
    "match_media",
    "meld_media",
]

MEDIA_LAYOUTS: tuple[str, ...] = ("meld", "iemocap", "manifest")
"""Layout names accepted by :func:`discover_media` (and ``--media-layout``)."""

MELD_SPLIT_FOLDERS: dict[str, str] = {
    "train": "train_splits",
    "dev": "dev_splits_complete",
    "test": "output_repeated_splits_test",
}
"""MELD.Raw's clip folders per split (``train.tar.gz``, ``dev.tar.gz``, ``test.tar.gz`` unpack to these)."""

Region = Literal["left", "right"]
Missing = Literal["error", "mask"]

_MELD_NAME = re.compile(r"^dia(\d+)_utt(\d+)\.mp4$", re.IGNORECASE)
_IEMOCAP_LINE = re.compile(r"^(?P<turn>(?P<dialog>Ses\d\d[FM]_\S+?)_(?P<gender>[FM])[X\d]+)\s*"
                           r"\[(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?)\]\s*:")  # fmt: skip


@dataclass(frozen=True)
class MediaItem:
    """One utterance's media.

    Attributes:
        dialogue: dialogue id, as in the table's dialogue column.
        utterance: utterance id, as in the table's utterance column.
        path: the video (or audio-only) file.
        start: segment start in seconds (``None``: from the beginning).
        end: segment end in seconds (``None``: to the end).
        audio_path: a separate audio file for this utterance (IEMOCAP's ``.wav``); ``None``: ``path``'s audio.
        region: crop frames to this half before face detection (IEMOCAP's speaking actor); ``None``: whole frame.
        split: the split it belongs to, when the layout knows (``None``: any split's table may claim it).
    """

    dialogue: str
    utterance: str
    path: Path
    start: float | None = None
    end: float | None = None
    audio_path: Path | None = None
    region: Region | None = None
    split: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(dialogue, utterance)``."""
        return (self.dialogue, self.utterance)

    def describe(self) -> str:
        """``path [start-end]`` for messages."""
        span = "" if self.start is None and self.end is None else f" [{self.start or 0:.3f}-{self.end or 'end'}]"
        return f"{self.path}{span}"


# ---------------------------------------------------------------------------------------------- layouts


def meld_media(
    directory: str | os.PathLike[str],
    split: str,
    *,
    folders: Mapping[str, str] | None = None,
) -> list[MediaItem]:
    """MELD clips of one split: ``directory/<folders[split]>/dia{D}_utt{U}.mp4``.

    Args:
        directory: the unpacked ``MELD.Raw`` folder (holding ``train_splits/`` etc.).
        split: ``"train"``, ``"dev"`` or ``"test"``.
        folders: split → folder name; default :data:`MELD_SPLIT_FOLDERS`.

    Raises:
        FileNotFoundError: the split's folder is missing (the message lists the folders found).
    """
    folders = dict(MELD_SPLIT_FOLDERS if folders is None else folders)
    if split not in folders:
        raise ValueError(f"no MELD clip folder for split {split!r}; pass folders={{{split!r}: 'folder name'}}")
    root = Path(directory) / folders[split]
    if not root.is_dir():
        found = sorted(p.name for p in Path(directory).iterdir() if p.is_dir()) if Path(directory).is_dir() else []
        raise FileNotFoundError(
            f"MELD {split} clips folder not found: {root} (folders in {directory}: {found}). MELD.Raw unpacks to "
            f"{sorted(MELD_SPLIT_FOLDERS.values())}; pass folders= (API) to use other names"
        )
    items = []
    ignored = 0
    for path in sorted(root.iterdir()):
        match = _MELD_NAME.match(path.name)
        if match is None or not path.is_file():
            ignored += 1
            continue
        items.append(MediaItem(match.group(1), match.group(2), path, split=split))
    if ignored:
        logger.info("%s: ignored %d entries not named dia{D}_utt{U}.mp4", root, ignored)
    return items


def _parse_transcription(path: Path) -> list[tuple[str, str, str, float, float]]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _IEMOCAP_LINE.match(line.strip())
        if match is not None:
            out.append((match["dialog"], match["turn"], match["gender"], float(match["start"]), float(match["end"])))
    return out


def iemocap_media(
    directory: str | os.PathLike[str],
    *,
    media: Literal["video", "audio"] = "video",
    utterance_key: Literal["name", "index"] = "name",
) -> list[MediaItem]:
    """IEMOCAP turns from ``directory/Session*/dialog/`` (every session found).

    Args:
        directory: ``IEMOCAP_full_release`` (holding ``Session1`` ... ``Session5``).
        media: ``"video"``: ``avi/DivX/<dialog>.avi`` frames with the ``wav/<dialog>.wav`` audio when it
            exists (else the avi's audio); ``"audio"``: the ``.wav`` only (no video needed).
        utterance_key: ``"name"``: the turn name (``Ses05F_script03_1_F033``) is the utterance id;
            ``"index"``: its 0-based position in start-time order within the dialog.

    Raises:
        FileNotFoundError: no ``Session*/dialog/transcriptions`` folder, or a transcription without its media.
    """
    root = Path(directory)
    transcriptions = sorted(root.glob("Session*/dialog/transcriptions/*.txt"))
    if not transcriptions:
        raise FileNotFoundError(
            f"no IEMOCAP transcriptions under {root}/Session*/dialog/transcriptions/; --media-dir must be "
            "the IEMOCAP_full_release folder"
        )
    items = []
    for text in transcriptions:
        dialog = text.stem
        if dialog.startswith("._"):
            continue
        base = text.parent.parent
        wav = base / "wav" / f"{dialog}.wav"
        avi = base / "avi" / "DivX" / f"{dialog}.avi"
        if media == "audio":
            path, audio = wav, None
        else:
            path, audio = avi, (wav if wav.is_file() else None)
        if not path.is_file():
            raise FileNotFoundError(f"IEMOCAP media not found for {text}: {path}")
        session_gender = dialog[5:6]  # Ses05F_... → F
        turns = sorted(_parse_transcription(text), key=lambda t: (t[3], t[1]))
        for index, (_, turn, gender, start, end) in enumerate(turns):
            region: Region | None = None
            if media == "video":
                region = "left" if gender == session_gender else "right"
            items.append(
                MediaItem(
                    dialog,
                    turn if utterance_key == "name" else str(index),
                    path,
                    start=start,
                    end=end,
                    audio_path=audio,
                    region=region,
                )
            )
    logger.info("IEMOCAP: %d turns in %d dialogs under %s", len(items), len(transcriptions), root)
    return items


def _manifest_rows(path: Path) -> Iterable[tuple[int, dict[str, object]]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        yield from jsonl_records(text, path)
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            yield reader.line_num, {k.strip(): v for k, v in row.items() if k is not None}


def _seconds(value: object, path: Path, line: int, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} line {line}: {name} must be seconds (a number), got {value!r}") from err


def manifest_media(path: str | os.PathLike[str]) -> list[MediaItem]:
    """Read a manifest (CSV, or JSONL with ``.jsonl``/``.json``/``.ndjson``).

    Columns: ``dialogue``, ``utterance``, ``path`` (relative to the manifest's folder or absolute),
    optional ``start``, ``end`` (seconds), ``audio_path``, ``split``. A folder is accepted when it holds
    ``manifest.csv`` or ``manifest.jsonl``.

    Raises:
        FileNotFoundError: no manifest; ValueError: a missing column or a bad number (line named).
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / n for n in ("manifest.csv", "manifest.jsonl")]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(f"no manifest.csv or manifest.jsonl in {path}; --media-dir must name the manifest")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"media manifest not found: {path}")
    items = []
    for line, row in _manifest_rows(path):
        missing = [c for c in ("dialogue", "utterance", "path") if not str(row.get(c) or "").strip()]
        if missing:
            raise ValueError(f"{path} line {line}: no {missing}; a manifest needs dialogue, utterance, path")
        media = Path(str(row["path"]))
        media = media if media.is_absolute() else path.parent / media
        audio = str(row.get("audio_path") or "").strip()
        start, end = _seconds(row.get("start"), path, line, "start"), _seconds(row.get("end"), path, line, "end")
        items.append(
            MediaItem(
                str(row["dialogue"]).strip(),
                str(row["utterance"]).strip(),
                media,
                start=start,
                end=end,
                audio_path=(Path(audio) if Path(audio).is_absolute() else path.parent / audio) if audio else None,
                split=str(row.get("split") or "").strip() or None,
            )
        )
    if not items:
        raise ValueError(f"{path} lists no media")
    return items


def discover_media(
    layout: str,
    directory: str | os.PathLike[str],
    splits: Sequence[str] = ("train", "dev", "test"),
    *,
    meld_folders: Mapping[str, str] | None = None,
) -> list[MediaItem]:
    """The media of ``splits`` in ``layout`` (``"meld"``, ``"iemocap"`` or ``"manifest"``), in one list."""
    if layout == "meld":
        return [item for split in splits for item in meld_media(directory, split, folders=meld_folders)]
    if layout == "iemocap":
        return iemocap_media(directory)
    if layout == "manifest":
        return manifest_media(directory)
    raise ValueError(f"unknown media layout {layout!r}; use one of {list(MEDIA_LAYOUTS)}")


# ---------------------------------------------------------------------------------------------- matching


@dataclass
class MediaMatch:
    """Table rows paired with media, per split.

    Attributes:
        items: split → one entry per table row (dialogue after dialogue, utterances in table order):
            the :class:`MediaItem`, or ``None`` when the row has no media (only with ``missing="mask"``).
        missing: split → ``(dialogue, utterance)`` rows without media.
        unmatched: media items that no table row claims.
    """

    items: dict[str, list[MediaItem | None]]
    missing: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    unmatched: list[MediaItem] = field(default_factory=list)


def _listing(keys: Sequence[object], limit: int = 8) -> str:
    shown = ", ".join(map(str, keys[:limit]))
    return shown + (f" … (+{len(keys) - limit} more)" if len(keys) > limit else "")


def match_media(
    tables: Mapping[str, DialogueTable],
    items: Sequence[MediaItem],
    *,
    missing: Missing = "error",
) -> MediaMatch:
    """Pair each table row with its media by ``(dialogue, utterance)``.

    An item with ``split`` set is matched only against that split's table. Table rows without media
    and media without a table row are all listed in one ``ValueError``; with ``missing="mask"`` they are
    counted instead (rows without media become ``None``: filled and masked later, never silently zero).

    Raises:
        ValueError: duplicate media for one key, or (``missing="error"``) any mismatch.
    """
    if missing not in ("error", "mask"):
        raise ValueError(f"missing must be 'error' or 'mask', got {missing!r}")
    by_split: dict[str | None, dict[tuple[str, str], MediaItem]] = {}
    for item in items:
        bucket = by_split.setdefault(item.split, {})
        if item.key in bucket:
            raise ValueError(f"two media files for {item.key}: {bucket[item.key].describe()} and {item.describe()}")
        bucket[item.key] = item
    claimed: set[int] = set()
    result = MediaMatch(items={})
    for split, table in tables.items():
        rows: list[MediaItem | None] = []
        absent: list[tuple[str, str]] = []
        own, shared = by_split.get(split, {}), by_split.get(None, {})
        for dialogue in table.dialogues:
            for utterance in dialogue.utterance_ids:
                key = (dialogue.id, utterance)
                item = own.get(key) or shared.get(key)
                if item is None:
                    absent.append(key)
                else:
                    claimed.add(id(item))
                rows.append(item)
        result.items[split] = rows
        if absent:
            result.missing[split] = absent
    result.unmatched = [item for item in items if id(item) not in claimed and item.split in (None, *tables)]
    if missing == "error" and (result.missing or result.unmatched):
        parts = [
            f"{len(keys)} {split} table rows have no media (dialogue, utterance): {_listing(keys)}"
            for split, keys in result.missing.items()
        ]
        if result.unmatched:
            parts.append(
                f"{len(result.unmatched)} media files have no table row: "
                f"{_listing([f'{i.key} {i.describe()}' for i in result.unmatched])}"
            )
        raise ValueError(
            "media and tables disagree: " + "; ".join(parts) + ". Fix the tables or the media folder, or pass "
            "--media-missing mask (missing='mask') to fill and mask them (counted in the report)"
        )
    for split, keys in result.missing.items():
        logger.warning("%s: %d table rows have no media; they are masked", split, len(keys))
    if result.unmatched:
        logger.warning("%d media files have no table row; ignored", len(result.unmatched))
    return result
