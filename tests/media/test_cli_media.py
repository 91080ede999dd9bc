"""``vega-anchors build-features`` with media flags: one store with audio + visual, report, cache, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import vega_anchors.media.decode as decode_module
from vega_anchors import AnchorBank
from vega_anchors.cli import main
from vega_anchors.data import feature_report, load_features


def argv(meld: Path, out: Path, *extra: str) -> list[str]:
    return [
        "build-features",
        "--train", str(meld / "train_sent_emo.csv"),
        "--dev", str(meld / "dev_sent_emo.csv"),
        "--test", str(meld / "test_sent_emo.csv"),
        "--out", str(out),
        *extra,
    ]  # fmt: skip


def test_build_features_from_meld_clips(meld_media_dir: Path, tmp_path: Path, tiny_clip_model_name) -> None:
    pytest.importorskip("opensmile")
    out = tmp_path / "media.safetensors"
    flags = ["--encoder", "none", "--media-layout", "meld", "--media-dir", str(meld_media_dir),
             "--audio", "opensmile:IS09", "--visual", f"clip-face:{tiny_clip_model_name}", "--num-frames", "2",
             "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv(meld_media_dir, out, *flags)) == 0
    features = load_features(out)
    assert features.modality_dims == {"audio": 384, "visual": 16}
    assert [d.length for d in features.train] == [2, 1] and len(features.test) == 1
    stats = features.extras["media"]["stats"]
    assert stats["visual"]["train"]["no_face"] == 1 and stats["audio"]["dev"]["masked"] == 0
    assert (tmp_path / "media.media-cache").is_dir()  # the default cache folder, next to --out
    report = feature_report(features)
    assert report.media["visual"]["train"]["no_face_rate"] == pytest.approx(1 / 3)
    assert "no face 33.3%" in report.format()

    # the anchors' space: a bank whose centers are two train utterances' visual features
    train = features.train
    bank = AnchorBank.from_features(
        {"happy": train[0].features["visual"][:1], "anger": train[1].features["visual"][:1]}
    )
    zero_shot = feature_report(features, anchors=bank).zero_shot
    assert zero_shot["train"] == pytest.approx(2 / 3)  # joy → happy and anger right; neutral never predicted


def test_second_cli_run_decodes_nothing(meld_media_dir: Path, tmp_path: Path, tiny_clip_model_name, monkeypatch):
    flags = ["--encoder", "none", "--media-layout", "meld", "--media-dir", str(meld_media_dir),
             "--visual", f"clip-face:{tiny_clip_model_name}", "--num-frames", "1", "--quiet"]  # fmt: skip
    assert main(argv(meld_media_dir, tmp_path / "a.safetensors", *flags, "--cache-dir", str(tmp_path / "c"))) == 0
    calls: list[int] = []
    original = decode_module.decode_group
    monkeypatch.setattr(decode_module, "decode_group", lambda items, **kw: calls.append(1) or original(items, **kw))
    first = load_features(tmp_path / "a.safetensors")
    flags += ["--cache-dir", str(tmp_path / "c"), "--num-workers", "1"]
    assert main(argv(meld_media_dir, tmp_path / "b.safetensors", *flags)) == 0
    assert calls == []
    again = load_features(tmp_path / "b.safetensors")
    assert torch.equal(first.train[0].features["visual"], again.train[0].features["visual"])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--encoder", "none"], "--encoder none without --audio/--visual"),
        (["--encoder", "none", "--audio", "opensmile:IS10"], "need --media-layout"),
        (["--encoder", "none", "--media-layout", "meld", "--media-dir", "X"], "without --audio or --visual"),
        (["--encoder", "none", "--media-layout", "meld", "--media-dir", "{missing}", "--audio", "opensmile:IS10"],
         "train_splits"),
    ],
)  # fmt: skip
def test_flag_errors_name_the_flag(meld_media_dir: Path, tmp_path: Path, capsys, flags, message) -> None:
    flags = [f.replace("{missing}", str(tmp_path / "nowhere")) for f in flags]
    assert main(argv(meld_media_dir, tmp_path / "x.safetensors", *flags)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()
