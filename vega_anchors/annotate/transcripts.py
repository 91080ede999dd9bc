"""Transcripts: SubRip (``.srt``), WebVTT (``.vtt``) and CSV/JSONL cue tables → :class:`Cue` records.

Formats:

SubRip (``.srt``)
    Numbered blocks, ``00:00:01,000 --> 00:00:02,500`` then the text lines.
WebVTT (``.vtt``)
    ``WEBVTT`` header, cues ``00:01.000 --> 00:02.500`` (hours optional, cue settings ignored); a
    ``<v Speaker>`` voice tag names the speaker. ``NOTE``, ``STYLE`` and ``REGION`` blocks are skipped.
CSV / JSONL (``.csv``, ``.tsv``, ``.jsonl``, ``.json``, ``.ndjson``)
    Columns ``start``, ``end`` (seconds, or ``[hh:]mm:ss[.mmm]``), ``text`` and an optional ``speaker``.

In every format a ``NAME:`` prefix of a cue's text (``Joey: How you doin'?``) names the speaker when
no voice tag or column did. Formatting tags (``<i>``, ``<b>``, ``{\\an8}``) are removed, and the text
goes through :func:`~vega_anchors.data.normalize_text` as dialogue tables do. A transcript that names
no speaker at all is one speaker (``Transcript.has_speakers`` is ``False``; the page says so).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

__all__ = ["TRANSCRIPT_SUFFIXES", "Cue", "Transcript", "check_cues", "make_transcript", "read_transcript"]

TRANSCRIPT_SUFFIXES: tuple[str, ...] = (".srt", ".vtt", ".csv", ".tsv", ".jsonl", ".json", ".ndjson")
"""File extensions :func:`read_transcript` reads."""

END_TOLERANCE = 0.5
"""Seconds a cue may run past the video's end (transcripts round up); as the media decoder allows."""

_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
_ARROW = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>", re.IGNORECASE)
_TAG = re.compile(r"</?[^>]*>|\{\\[^}]*\}")
_PREFIX = re.compile(r"^\s*([^\W\d_][\w.'\- ]{0,39}?)\s*:\s+(\S.*)$", re.DOTALL)


@dataclass(frozen=True)
class Cue:
    """One utterance of a transcript.

    Attributes:
        start: seconds from the start of the video.
        end: seconds (``> start``).
        speaker: the speaker's name; ``""`` when the transcript does not say.
        text: the words, tags removed.
    """

    start: float
    end: float
    speaker: str
    text: str


@dataclass
class Transcript:
    """The cues of one video, in time order.

    Attributes:
        cues: sorted by start time.
        source: where they came from (a file path, or ``"hf:<model>"`` for speech-to-text).
        has_speakers: whether any cue names its speaker (else all cues are one speaker).
    """

    cues: list[Cue]
    source: str = ""
    has_speakers: bool = field(default=False)

    def __len__(self) -> int:
        return len(self.cues)


def _fix(python: str, cli: str | None = None) -> dict[str, str]:
    return {"python_fix": python, "cli_fix": cli if cli is not None else python}


def _seconds(value: object, path: Path, where: str) -> float:
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    match = _TIME.match(text)
    if match is None:
        raise ConfigError(
            f"{path} {where}: time {text!r} is neither seconds nor [hh:]mm:ss[.mmm]",
            **_fix("write times as seconds (12.5) or 00:00:12.500", "fix the transcript's times (--transcript)"),
        )
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int((millis or "0").ljust(3, "0")) / 1000


def _split_speaker(text: str, speaker: str) -> tuple[str, str]:
    """``(speaker, text)``: a ``NAME:`` prefix names the speaker when none is given."""
    if speaker:
        return speaker, text
    match = _PREFIX.match(text)
    if match is None:
        return "", text
    return match.group(1).strip(), match.group(2).strip()


def _clean(text: str) -> str:
    from ..data import normalize_text

    return normalize_text(_TAG.sub("", text).replace("\n", " "))


def _read(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {raw[err.start : err.start + 1]!r} at line {line})",
            **_fix(
                "re-save the transcript as UTF-8 (e.g. iconv -f cp1252 -t utf-8)",
                "re-save the --transcript file as UTF-8 (e.g. iconv -f cp1252 -t utf-8 in.srt > out.srt)",
            ),
        ) from None
    if not text.strip():
        raise ConfigError(f"{path} is empty", **_fix("give a transcript with cues", "give a --transcript with cues"))
    return text


def _blocks(text: str) -> list[list[str]]:
    blocks, current = [], []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _timed_blocks(path: Path, text: str) -> Iterable[tuple[float, float, str, str]]:
    """``(start, end, voice, text)`` per cue block of a SubRip or WebVTT file (voice from ``<v ...>``)."""
    for number, block in enumerate(_blocks(text), start=1):
        arrow = next((i for i, line in enumerate(block) if "-->" in line), None)
        if arrow is None:
            continue  # WEBVTT header, NOTE/STYLE/REGION blocks, stray numbers
        match = _ARROW.match(block[arrow])
        if match is None:
            raise ConfigError(
                f"{path} cue {number}: cannot read the timing line {block[arrow]!r}",
                **_fix("write it as 00:00:01,000 --> 00:00:02,500", "fix the --transcript timing line"),
            )
        where = f"cue {number}"
        start, end = _seconds(match.group(1), path, where), _seconds(match.group(2), path, where)
        body = "\n".join(block[arrow + 1 :])
        voice = _VOICE.search(body)
        yield start, end, voice.group(1).strip() if voice else "", body


def _table_rows(path: Path, text: str) -> Iterable[tuple[int, dict[str, object]]]:
    from .._io import jsonl_records

    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        yield from jsonl_records(text, path)
        return
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    for row in reader:
        yield reader.line_num, {str(k).strip().lower(): v for k, v in row.items() if k is not None}


def _table_cues(path: Path, text: str) -> Iterable[tuple[float, float, str, str]]:
    for line, row in _table_rows(path, text):
        row = {str(k).lower(): v for k, v in row.items()}
        missing = [c for c in ("start", "end", "text") if row.get(c) is None or not str(row.get(c)).strip()]
        if missing:
            raise ConfigError(
                f"{path} line {line}: no {missing}; a cue table needs start, end, text (and optionally speaker)",
                **_fix(
                    "give columns start, end, speaker, text", "give a --transcript with columns start,end,speaker,text"
                ),
            )
        where = f"line {line}"
        yield (_seconds(row["start"], path, where), _seconds(row["end"], path, where),
               str(row.get("speaker") or "").strip(), str(row["text"]))  # fmt: skip


def read_transcript(path: str | os.PathLike[str]) -> Transcript:
    """Read the cues of a ``.srt``, ``.vtt``, ``.csv``/``.tsv`` or ``.jsonl`` transcript.

    Raises:
        ConfigError: an unknown extension, a file that is not UTF-8, an empty file or one without
            cues, a bad time, or a cue that ends before it starts (each names the file and the fix).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TRANSCRIPT_SUFFIXES:
        raise ConfigError(
            f"{path}: unknown transcript extension {suffix or '(none)'!r}; annotate reads {list(TRANSCRIPT_SUFFIXES)}",
            **_fix(
                "give a .srt, .vtt, .csv or .jsonl transcript", "give --transcript a .srt, .vtt, .csv or .jsonl file"
            ),
        )
    if not path.is_file():
        raise FileNotFoundError(f"transcript not found: {path}")
    text = _read(path)
    raw = list(_timed_blocks(path, text) if suffix in (".srt", ".vtt") else _table_cues(path, text))
    cues = []
    for start, end, speaker, body in raw:
        name, words = _split_speaker(_clean(body), speaker.strip())
        if end <= start:
            raise ConfigError(
                f"{path}: the cue at {start:.3f} s ends at {end:.3f} s, before it starts ({words[:40]!r})",
                **_fix("fix the cue's end time", "fix the cue's end time in the --transcript file"),
            )
        cues.append(Cue(float(start), float(end), name, words))
    if not cues:
        raise ConfigError(
            f"{path} holds no cues", **_fix("give a transcript with timed cues", "give a --transcript with timed cues")
        )
    return make_transcript(cues, str(path))


def make_transcript(cues: Sequence[Cue], source: str) -> Transcript:
    """A :class:`Transcript` of ``cues`` sorted by time; ``has_speakers`` when any cue names one."""
    ordered = sorted(cues, key=lambda c: (c.start, c.end))
    return Transcript(ordered, source, any(c.speaker for c in ordered))


def check_cues(transcript: Transcript, duration: float | None, video: str | os.PathLike[str]) -> None:
    """Refuse cues outside ``[0, duration]`` (``END_TOLERANCE`` allowed past the end) and overlapping cues.

    Raises:
        ConfigError: naming the first offending cue(s), the video and the fix.
    """
    source = transcript.source or "the transcript"
    length = f"{duration:.3f} s long" if duration is not None else "of unknown length"
    for cue in transcript.cues:
        if cue.start < 0 or (duration is not None and (cue.start >= duration or cue.end > duration + END_TOLERANCE)):
            raise ConfigError(
                f"{source}: the cue [{cue.start:.3f}, {cue.end:.3f}] s ({cue.text[:40]!r}) is outside the video "
                f"{video} ({length})",
                **_fix(
                    "give the transcript of this video (cue times in seconds from its start)",
                    "give the --transcript of this VIDEO (cue times in seconds from its start)",
                ),
            )
    for before, after in zip(transcript.cues, transcript.cues[1:], strict=False):
        if after.start < before.end - 1e-6:
            raise ConfigError(
                f"{source}: cues overlap: [{before.start:.3f}, {before.end:.3f}] s ({before.text[:30]!r}) and "
                f"[{after.start:.3f}, {after.end:.3f}] s ({after.text[:30]!r}); each utterance needs its own span",
                **_fix(
                    "make the cues disjoint (end one before the next starts) or merge them",
                    "make the --transcript cues disjoint (end one before the next starts) or merge them",
                ),
            )
