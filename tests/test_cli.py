"""The ``vega-anchors`` command: inspect-features on a store and a pickle, build-features, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from vega_anchors.cli import main
from vega_anchors.data import Dialogue, FeatureSet, load_features, save_features
from vega_anchors.official import save_feature_pickle

ROOT = Path(__file__).resolve().parents[1]


def tiny_set(scale: float) -> FeatureSet:
    gen = torch.Generator().manual_seed(0)

    def dialogue(i: int, labels: list[int]) -> Dialogue:
        n = len(labels)
        return Dialogue(
            f"d{i}",
            {
                "text": scale * torch.randn(n, 8, generator=gen),
                "audio": torch.randn(n, 3, generator=gen),
                "visual": torch.randn(n, 2, generator=gen),
            },
            torch.tensor([i % 2] * n),
            torch.tensor(labels),
        )

    return FeatureSet(
        train=[dialogue(0, [0, 1, 2, 3, 4, 5, 6]), dialogue(1, [0, 4, 6])],
        dev=[],
        test=[dialogue(2, [0, 1, 4])],
        label_names=("neutral", "surprise", "fear", "sad", "happy", "disgust", "anger"),
        num_speakers=2,
        modality_dims={"text": 8, "audio": 3, "visual": 2},
        layout="table",
        source="cli test",
    )


def test_inspect_store_prints_report_and_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save_features(tiny_set(scale=0.01), tmp_path / "f.safetensors")
    assert main(["inspect-features", str(path)]) == 0
    out = capsys.readouterr().out
    assert "text [8-d]" in out and "audio [3-d]" in out
    assert "text features are tiny" in out and "do not set input_norm in --config" in out
    assert "VEGAConfig(" not in out  # the CLI speaks in flags
    assert "never occur in test" in out
    assert main(["inspect-features", str(path), "--strict"]) == 1
    capsys.readouterr()
    assert main(["inspect-features", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["splits"]["train"]["class_counts"]["anger"] == 2
    assert data["modalities"]["text"]["dim"] == 8
    assert any("tiny" in w for w in data["warnings"])


def test_inspect_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save_feature_pickle(tiny_set(scale=1.0), tmp_path / "f.pkl", layout="dialoguernn")
    assert main(["inspect-features", str(path), "--dataset", "meld"]) == 0
    out = capsys.readouterr().out
    assert "layout dialoguernn" in out and "tiny" not in out


def test_inspect_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect-features", str(tmp_path / "missing.pkl")]) == 2
    assert "inspect-features: error: feature pickle not found" in capsys.readouterr().err


def test_inspect_features_subprocess(tmp_path: Path) -> None:
    path = save_features(tiny_set(scale=0.01), tmp_path / "f.safetensors")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run(
        [sys.executable, "-m", "vega_anchors.cli", "inspect-features", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "WARNINGS" in run.stdout and "text features are tiny" in run.stdout


class FakeEncoder:
    identity = "fake"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[len(t), t.count(" ")] for t in texts], dtype=np.float32)


def test_build_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import vega_anchors.encoders.text as text_module

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(text_module, "load_text_encoder", lambda *a, **k: calls.append(k) or FakeEncoder())
    (tmp_path / "train.csv").write_text("conv,turn,who,says,mood\n1,0,A,hi there,calm\n1,1,B,bye,angry\n")
    (tmp_path / "test.csv").write_text("conv,turn,who,says,mood\n2,0,C,so so,calm\n")
    out = tmp_path / "f.safetensors"
    argv = ["build-features", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv")]
    argv += ["--out", str(out), "--encoder", "fake", "--labels", "calm,anger", "--map", "angry=anger", "--quiet"]
    argv += ["--dialogue-column", "conv", "--utterance-column", "turn", "--speaker-column", "who"]
    argv += ["--text-column", "says", "--label-column", "mood", "--top-speakers", "1"]
    assert main(argv) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    features = load_features(out)
    assert features.label_names == ("calm", "anger")
    assert features.num_speakers == 2 and features.extras["speaker_names"] == ["A", "other"]
    torch.testing.assert_close(features.train[0].features["text"], torch.tensor([[8.0, 1.0], [3.0, 0.0]]))
    assert features.test[0].speakers.tolist() == [1]
    assert "layers" not in calls[0]  # the sentence embedding unless --layers is given
    assert main([*argv, "--layers", "-2", "-1"]) == 0
    assert calls[1]["layers"] == [-2, -1]
