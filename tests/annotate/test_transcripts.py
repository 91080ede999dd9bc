"""Transcripts: SubRip, WebVTT voice tags, CSV/JSONL cue tables, NAME: prefixes, and one error per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from vega_anchors.annotate import Cue, check_cues, make_transcript, read_transcript
from vega_anchors.errors import ConfigError

SRT = """1
00:00:00,500 --> 00:00:02,000
Joey: How you <i>doin'</i>?

2
00:00:02,500 --> 00:00:04,250
Rachel: Don't
even start.
"""

VTT = """WEBVTT

NOTE a comment block

intro
00:01.000 --> 00:02.500 align:start
<v Monica>I know!</v>

00:00:03.000 --> 00:00:04.000
<v.loud Chandler Bing>Could I BE any more…</v>
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_srt_with_name_prefixes(tmp_path: Path) -> None:
    t = read_transcript(write(tmp_path, "a.srt", SRT))
    assert t.has_speakers
    assert t.cues == [Cue(0.5, 2.0, "Joey", "How you doin'?"), Cue(2.5, 4.25, "Rachel", "Don't even start.")]


def test_vtt_voice_tags(tmp_path: Path) -> None:
    t = read_transcript(write(tmp_path, "a.vtt", VTT))
    assert [(c.start, c.end, c.speaker, c.text) for c in t.cues] == [
        (1.0, 2.5, "Monica", "I know!"),
        (3.0, 4.0, "Chandler Bing", "Could I BE any more..."),  # normalize_text: … → ...
    ]


def test_csv_and_jsonl_tables(tmp_path: Path) -> None:
    csv_t = read_transcript(write(tmp_path, "a.csv", "start,end,speaker,text\n1.5,2,Ann,Hi.\n0,1.0,,Ben: Yo.\n"))
    assert csv_t.cues == [Cue(0.0, 1.0, "Ben", "Yo."), Cue(1.5, 2.0, "Ann", "Hi.")]  # sorted; NAME: prefix
    lines = '{"start": "00:00:01.000", "end": 2, "text": "no speaker"}\n{"start": 3, "end": 4, "text": "again"}\n'
    jsonl_t = read_transcript(write(tmp_path, "a.jsonl", lines))
    assert not jsonl_t.has_speakers and [c.speaker for c in jsonl_t.cues] == ["", ""]


@pytest.mark.parametrize(
    ("name", "content", "message", "cli"),
    [
        ("a.srt", b"1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n", "is not UTF-8 text", "re-save the --transcript"),
        ("a.srt", "  \n\n", "is empty", "give a --transcript with cues"),
        ("a.srt", "just words\nno times\n", "holds no cues", "give a --transcript with timed cues"),
        ("a.docx", "x", "unknown transcript extension '.docx'", "give --transcript a .srt"),
        ("a.csv", "start,end,text\n1,x,hi\n", "time 'x' is neither seconds", "--transcript"),
        ("a.srt", "1\n00:00:03,000 --> 00:00:02,000\nhi\n", "before it starts", "--transcript"),
    ],
)
def test_bad_transcripts_get_one_clear_error(tmp_path: Path, name, content, message, cli) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        read_transcript(write(tmp_path, name, content))
    assert cli in err.value.for_cli()


def test_overlapping_and_outside_cues(tmp_path: Path) -> None:
    overlapping = make_transcript([Cue(0, 2, "", "a"), Cue(1.5, 3, "", "b")], "t.srt")
    with pytest.raises(ConfigError, match="cues overlap") as err:
        check_cues(overlapping, 10.0, "v.mp4")
    assert "make the --transcript cues disjoint" in err.value.for_cli()
    with pytest.raises(ConfigError, match=r"outside the video v.mp4 \(10.000 s long\)"):
        check_cues(make_transcript([Cue(9, 11, "", "late")], "t.srt"), 10.0, "v.mp4")
    touching = make_transcript([Cue(0, 2, "", "a"), Cue(2, 10.4, "", "b")], "t.srt")  # 0.4 s past the end: allowed
    check_cues(touching, 10.0, "v.mp4")
