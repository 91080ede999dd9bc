"""The train / evaluate / predict / baseline commands end to end, and errors that name flags."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from own_data_helpers import write_friends_table, write_store

from vega_anchors.cli import main

FAST = ["--epochs", "1", "--hidden-dim", "16", "--heads", "2", "--quiet"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("cli"), ["calm", "glad", "mad", "sad", "scared", "tired"])


def test_train_evaluate_predict_baseline(store: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("sklearn")
    run = tmp_path / "run"
    assert main(["train", "--features", str(store), "--out", str(run), "--seeds", "0", "1", *FAST]) == 0
    out = capsys.readouterr().out
    assert "test weighted F1 (dev-selected, 2 seed(s), anchors none)" in out and "s CPU" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == "train" and len(metrics["class_names"]) == 6
    assert main(["evaluate", str(run), "--features", str(store), "--split", "test"]) == 0
    assert "test weighted F1" in capsys.readouterr().out
    evaluated = json.loads((run / "evaluate-test.json").read_text())
    assert evaluated["test"]["weighted_f1"] == pytest.approx(metrics["test"]["weighted_f1"], abs=1e-6)
    assert main(["predict", str(run), "--features", str(store), "--out", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(s["test"]["num_samples"] for s in metrics["seeds"].values()) // 2
    assert [c for c in rows[0] if c.startswith("prob_")] == [f"prob_{c}" for c in metrics["class_names"]]
    assert main(["baseline", "--features", str(store), "--out", str(tmp_path / "base"), "--c-grid", "0.01", "1"]) == 0
    out = capsys.readouterr().out
    assert "logistic regression (per utterance, C=" in out and "majority class" in out
    base = json.loads((tmp_path / "base" / "metrics.json").read_text())
    assert base["kind"] == "baseline" and set(base["test"]) == set(metrics["test"])
    assert set(base) >= {"class_names", "selected_on", "test", "dev", "seeds", "C", "C_at_edge", "majority"}
    assert (tmp_path / "base" / "per_class.csv").read_text().startswith("class,support,precision,recall,f1")


def test_baseline_says_when_C_is_at_the_grid_edge(store: Path, capsys) -> None:
    pytest.importorskip("sklearn")
    assert main(["baseline", "--features", str(store), "--c-grid", "1e-4"]) == 0
    # one value is no choice: not flagged; two values with the best at an end are
    assert main(["baseline", "--features", str(store), "--c-grid", "1e-4", "1e-3"]) == 0
    assert "AT THE EDGE of the grid: widen --c-grid" in capsys.readouterr().out


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_errors_name_flags(store: Path, tmp_path: Path, capsys) -> None:
    table = write_friends_table(tmp_path / "t.csv", ["calm", "mad"])
    base = ["build-features", "--train", str(table), "--out", str(tmp_path / "f.safetensors"), "--encoder", "none"]
    err = _error(capsys, [*base, "--dialogue-column", "Scene_ID", "--text-column", "Transcript", "--labels", "auto"])
    assert "repeats utterance id" in err and "--dialogue-column Season,Episode,Scene_ID" in err
    assert "TableColumns" not in err
    err = _error(capsys, [*base, "--dialogue-column", "Season,Episode,Scene_ID", "--text-column", "Transcript"])
    assert "--labels auto" in err and "label_names" not in err  # MELD labels by default
    err = _error(capsys, [*base, "--labels", "auto"])
    assert "--text-column" in err and "columns=" not in err
    err = _error(capsys, ["train", "--features", str(store), "--out", str(tmp_path / "r"), "--anchors", "text"])
    assert "--encoder" in err
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"model": {"num_classes": 7}}))
    err = _error(capsys, ["train", "--features", str(store), "--out", str(tmp_path / "r"), "--config", str(recipe)])
    assert '"num_classes" from the --config recipe' in err and "--labels" in err
    err = _error(capsys, ["evaluate", str(tmp_path / "nowhere"), "--features", str(store)])
    assert "not a run directory" in err
