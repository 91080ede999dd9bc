"""Speech-to-text: segments with timestamps → cues (a stub ASR callable), and a tiny random Whisper end to end."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from vega_anchors.annotate._asr import load_asr, transcribe
from vega_anchors.errors import ConfigError


def test_segments_become_disjoint_cues(setup) -> None:
    seen: list[dict] = []

    def stub(inputs: dict) -> dict:
        seen.append(inputs)
        return {"text": "...", "chunks": [
            {"timestamp": (0.5, 2.5), "text": " Ann: hello there"},
            {"timestamp": (2.0, 3.0), "text": " overlapping start"},   # the previous cue ends here
            {"timestamp": (4.0, 4.0), "text": " no duration"},         # dropped
            {"timestamp": (5.0, 6.0), "text": "   "},                  # no words: dropped
            {"timestamp": (16.0, None), "text": " open end"},          # runs to the video's end
            {"timestamp": (40.0, 41.0), "text": " after the end"},     # dropped
        ]}  # fmt: skip

    t = transcribe(setup.video, stub, duration=setup.duration, source="stub")
    assert seen[0]["sampling_rate"] == 16000 and seen[0]["raw"].size == pytest.approx(16000 * setup.duration, rel=0.01)
    assert [(c.start, c.end, c.speaker, c.text) for c in t.cues] == [
        (0.5, 2.0, "Ann", "hello there"),
        (2.0, 3.0, "", "overlapping start"),
        (16.0, setup.duration, "", "open end"),
    ]
    assert t.has_speakers and t.source == "stub"
    with pytest.raises(ConfigError, match="found no timed speech"):
        transcribe(setup.video, lambda inputs: {"text": "", "chunks": []}, duration=setup.duration)


def test_a_video_without_sound_cannot_be_transcribed(tmp_path: Path) -> None:
    from vega_anchors.annotate._demo import write_conversation

    mute = write_conversation(tmp_path / "mute.mp4", turns=[("Ann", "x")], slot=1.0, width=64, height=48, audio=False)
    with pytest.raises(ConfigError, match="has no audio stream") as err:
        transcribe(mute.video, lambda inputs: {}, duration=mute.duration)
    assert "give --transcript FILE instead of --transcribe" in err.value.for_cli()


def test_bad_model_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="not understood") as err:
        load_asr("whisper-tiny")
    assert "--transcribe hf:" in err.value.for_cli()


def test_annotate_with_a_tiny_random_whisper(setup, tiny_whisper: Path, tmp_path: Path, capsys) -> None:
    from vega_anchors.cli import main

    out = tmp_path / "out"
    argv = ["annotate", str(setup.video), "--transcribe", f"hf:{tiny_whisper}", "--model", str(setup.run),
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "stage times: speech-to-text" in printed
    with open(out / "predictions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(0 <= float(r["start"]) < float(r["end"]) <= setup.duration + 1e-6 for r in rows)
    assert all(float(a["end"]) <= float(b["start"]) for a, b in itertools.pairwise(rows))
