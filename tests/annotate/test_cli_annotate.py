"""``vega-anchors annotate``: predictions.csv equal to ``predict``'s, the page, stage times, the cache, errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vega_anchors.cli import main


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_annotate_writes_predictions_and_page(setup, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["annotate", str(setup.video), "--transcript", str(setup.srt), "--model", str(setup.run), "--out", str(out),
            "--quiet", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "stage times: load" in printed and "media" in printed and "annotated 6 utterances" in printed
    rows = _rows(out / "predictions.csv")
    assert list(rows[0])[:5] == ["start", "end", "speaker", "text", "emotion"]
    assert [c for c in rows[0] if c.startswith("prob_")] == ["prob_happy", "prob_neutral", "prob_sad"]
    assert main(["predict", str(setup.run), "--features", str(setup.store), "--out", str(tmp_path / "p.csv")]) == 0
    predicted = _rows(tmp_path / "p.csv")
    for mine, theirs in zip(rows, predicted, strict=True):
        assert mine["emotion"] == theirs["predicted"]
        for c in ("happy", "neutral", "sad"):
            assert abs(float(mine[f"prob_{c}"]) - float(theirs[f"prob_{c}"])) <= 1e-6
    assert [r["speaker"] for r in rows] == [c.speaker for c in setup.cues]
    page = (out / "index.html").read_text(encoding="utf-8")
    src = page.split('<video id="player"', 1)[1].split('src="', 1)[1].split('"', 1)[0]
    assert (out / src).resolve() == setup.video.resolve()  # the video by relative path
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched
    assert page.count('class="utt"') == 6 and page.count("data:image/jpeg;base64,") == 6
    assert (out / ".cache" / "media").is_dir()
    capsys.readouterr()
    assert main(argv) == 0  # again: the cached features
    assert "media" in capsys.readouterr().out


def test_page_says_when_there_are_no_speakers(setup, tmp_path: Path, capsys) -> None:
    from vega_anchors.annotate._demo import write_srt

    srt = write_srt(tmp_path / "plain.srt", setup.cues, speakers=False)
    out = tmp_path / "out"
    argv = ["annotate", str(setup.video), "--transcript", str(srt), "--model", str(setup.run), "--out", str(out),
            "--quiet", "--copy-video"]  # fmt: skip
    assert main(argv) == 0
    assert "the transcript names no speakers" in capsys.readouterr().out
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "all cues are treated as one speaker" in page and 'src="conversation.mp4"' in page
    assert (out / "conversation.mp4").stat().st_size == setup.video.stat().st_size
    assert {r["speaker"] for r in _rows(out / "predictions.csv")} == {""}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give exactly one of --transcript FILE and --transcribe hf:MODEL"),
        (["--transcript", "{tmp}/t.txt"], "unknown transcript extension '.txt'"),
        (["--transcribe", "whisper"], "give --transcribe hf:<local model dir or hub name>"),
    ],
)
def test_errors_name_flags(setup, tmp_path: Path, capsys, extra, message) -> None:
    (tmp_path / "t.txt").write_text("x")
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    argv = ["annotate", str(setup.video), "--model", str(setup.run), "--out", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "predictions.csv").exists()
