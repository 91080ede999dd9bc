"""Messy inputs on the command line (issue 22): feature-recipe checks, whole runs only, limits checked
before training, ``--out`` checked before any work, Ctrl-C keeps the encoded batches, files respect the
umask, ``--delimiter``, the build report's counts and label mapping."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from own_data_helpers import write_store

from vega_anchors._io import atomic_write_text
from vega_anchors.cli import main
from vega_anchors.data import load_features, save_features

ENCODER = {"name": "enc", "identity": "b" * 16, "backend": "transformers", "layers": [-1], "dim": 8, "context": 0}
TRAIN = ["--epochs", "1", "--hidden-dim", "16", "--heads", "2", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("messy")
    store = write_store(directory, ["a", "b", "c"], encoder=ENCODER)
    assert main(["train", "--features", str(store), "--out", str(directory / "run"), *TRAIN]) == 0
    return directory, store


def test_train_records_the_recipe_and_marks_the_run_complete(run_dir) -> None:
    directory, _store = run_dir
    recipe = json.loads((directory / "run" / "feature_recipe.json").read_text())
    assert recipe["text_encoder"] == ENCODER and recipe["text_context"] == 0
    assert recipe["class_names"] == ["a", "b", "c"]
    assert (directory / "run" / "COMPLETE").is_file()


def test_predict_refuses_a_store_built_with_another_context(run_dir, capsys: pytest.CaptureFixture[str]) -> None:
    directory, store = run_dir
    fs = load_features(store)
    fs.extras["encoder"] = {**ENCODER, "context": 2}
    other = save_features(fs, directory / "k2.safetensors")
    argv = ["predict", str(directory / "run"), "--features", str(other), "--out", str(directory / "p.csv")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "text_context: 0 vs 2" in err and "--allow-feature-mismatch" in err and "Traceback" not in err
    assert not (directory / "p.csv").exists()
    assert main([*argv, "--allow-feature-mismatch"]) == 0
    assert main(["evaluate", str(directory / "run"), "--features", str(other), "--out", str(directory / "e.json")]) == 2


def test_incomplete_run_is_refused_with_the_fix(run_dir, capsys: pytest.CaptureFixture[str]) -> None:
    directory, store = run_dir
    import shutil

    broken = directory / "broken"
    shutil.copytree(directory / "run", broken)
    (broken / "COMPLETE").unlink()
    assert main(["predict", str(broken), "--features", str(store), "--out", str(directory / "q.csv")]) == 2
    err = capsys.readouterr().err
    assert "incomplete run" in err and f"vega-anchors train --features {store} --out {broken}" in err


def test_max_utterances_is_checked_before_training(run_dir, capsys: pytest.CaptureFixture[str]) -> None:
    directory, store = run_dir
    out = directory / "short"
    assert main(["train", "--features", str(store), "--out", str(out), "--max-utterances", "2", *TRAIN]) == 2
    err = capsys.readouterr().err
    assert "longer than max_utterances=2" in err and "--max-utterances" in err
    assert not out.exists()  # refused before anything was written


def test_out_is_checked_before_any_work(tmp_path: Path, run_dir, capsys: pytest.CaptureFixture[str]) -> None:
    directory, store = run_dir
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    train = tmp_path / "train.csv"
    train.write_text("Dialogue_ID,Utterance_ID,Speaker,Utterance,Emotion\n0,0,A,hi,neutral\n")
    argv = ["build-features", "--train", str(train), "--out", str(blocker / "f.safetensors"), "--encoder", "unused"]
    assert main(argv) == 2  # the encoder is never loaded: the check comes first
    assert f"--out {blocker / 'f.safetensors'}: {blocker} is not a folder" in capsys.readouterr().err
    assert main(["train", "--features", str(store), "--out", str(blocker / "run"), *TRAIN]) == 2
    assert main(["predict", str(directory / "run"), "--features", str(store), "--out", str(blocker / "p.csv")]) == 2
    assert "give --out a path in a folder you can write to" in capsys.readouterr().err


def test_outputs_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert stat.S_IMODE(atomic_write_text(tmp_path / "a.txt", "x").stat().st_mode) == 0o644
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "b.txt", "x").stat().st_mode) == 0o600
    finally:
        os.umask(old)


class _CountingEncoder:
    identity = "counting"

    def __init__(self, fail_after: int | None = None) -> None:
        self.seen: list[str] = []
        self.fail_after = fail_after

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.seen) >= self.fail_after:
            raise KeyboardInterrupt
        self.seen.extend(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_ctrl_c_keeps_encoded_batches_and_a_rerun_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vega_anchors.encoders.text as text_module

    rows = [f"0,{i},A,utterance number {i},neutral" for i in range(6)]
    train = tmp_path / "train.csv"
    header = "Dialogue_ID;Utterance_ID;Speaker;Utterance;Emotion\n"
    train.write_text(header + "\n".join(r.replace(",", ";") for r in rows))
    first = _CountingEncoder(fail_after=2)
    monkeypatch.setattr(text_module, "load_text_encoder", lambda *a, **k: first)
    out = tmp_path / "f.safetensors"
    argv = ["build-features", "--train", str(train), "--out", str(out), "--encoder", "x", "--batch-size", "2"]
    argv += ["--quiet"]
    assert main(argv) == 2  # ';'-delimited: the message names the flag
    assert "looks semicolon-delimited. Fix: add --delimiter ';'" in capsys.readouterr().err
    argv += ["--delimiter", ";"]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted" in err[0] and "run the same command again to continue" in err[0]
    assert not out.exists() and len(list((tmp_path / "f.text-cache").glob("*.partial.npz"))) == 1
    second = _CountingEncoder()
    monkeypatch.setattr(text_module, "load_text_encoder", lambda *a, **k: second)
    assert main(argv) == 0
    assert len(first.seen) == 2 and len(second.seen) == 4  # only what was left
    assert not list((tmp_path / "f.text-cache").glob("*.partial.npz"))
    stored = load_features(out).train[0].features["text"][:, 0].tolist()
    assert stored == [float(len(f"utterance number {i}")) for i in range(6)]


def test_build_report_lists_counts_order_and_label_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vega_anchors.encoders.text as text_module

    monkeypatch.setattr(text_module, "load_text_encoder", lambda *a, **k: _CountingEncoder())
    train = tmp_path / "train.csv"
    train.write_text("Dialogue_ID,Utterance_ID,Speaker,Utterance,Emotion\n"
                     "0,u1,A,hi,joy\n0,u2,,,happy\n0,u10,B,ok,\n1,1,A,x,joy\n1,a,B,y,joy\n")  # fmt: skip
    argv = ["build-features", "--train", str(train), "--out", str(tmp_path / "f.safetensors"), "--encoder", "x"]
    assert main([*argv, "--labels", "auto", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "train: turn order (numeric ids by value, other ids in file order): 0 dialogue(s) by id value, 2 in" in out
    assert "train: 1 dialogue(s) mix numeric and text utterance ids, kept in file order: '1'" in out
    assert "train: 1 utterances with empty text" in out and "train: 1 utterances with an empty label" in out
    assert "train: 1 utterances with an empty or null speaker cell" in out
    assert "labels (raw → class): happy → happy, joy → joy" in out
    assert load_features(tmp_path / "f.safetensors").label_names == ("happy", "joy")
