"""train_run / load_run / evaluate_run / predict_run: the run directory layout, any class count."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from own_data_helpers import COLUMNS, write_store

from vega_anchors import AnchorBank
from vega_anchors.data import TableColumns, load_dialogue_table, load_features
from vega_anchors.errors import ConfigError
from vega_anchors.runs import check_encoder_match, evaluate_run, load_run, predict_run, train_run

FAST = {"model": {"hidden_dim": 16, "num_heads": 2}, "train": {"epochs": 2, "lr": 3e-3, "ema_decay": None}}
ENCODER = {"name": "enc-a", "identity": "a" * 16, "backend": "transformers", "layers": [-1], "dim": 8, "context": 0}
SUMMARY = {"weighted_f1", "weighted_f1_std", "accuracy", "accuracy_std", "macro_f1", "macro_f1_std"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    directory = tmp_path_factory.mktemp("run5")
    store = write_store(directory, ["a", "b", "c", "d", "e"], encoder=ENCODER)
    metrics = train_run(store, directory / "run", seeds=[0, 1], **FAST)
    return directory, store, metrics


def test_run_directory_layout(trained) -> None:
    directory, _store, metrics = trained
    run = directory / "run"
    config = json.loads((run / "config.json").read_text())
    assert set(config) >= {"model", "train", "features", "anchors", "seeds", "class_names", "modalities",
                           "selected_on", "encoder"}  # fmt: skip
    assert config["class_names"] == ["a", "b", "c", "d", "e"] and config["model"]["num_classes"] == 5
    assert config["selected_on"] == "dev" and config["anchors"] == "none" and config["encoder"] == ENCODER
    assert config["modalities"] == {"text": 8} and config["seeds"] == [0, 1]
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert on_disk["kind"] == "train" and on_disk["selected_on"] == "dev"
    assert set(on_disk["test"]) == SUMMARY and set(on_disk["dev"]) == SUMMARY
    seeds = on_disk["seeds"]
    assert set(seeds) == {"0", "1"}
    tests = [seeds[s]["test"]["weighted_f1"] for s in ("0", "1")]
    assert on_disk["test"]["weighted_f1"] == pytest.approx(sum(tests) / 2)
    assert set(seeds["0"]) >= {"test", "dev", "best_epoch", "seconds", "cpu_seconds"}
    assert len(seeds["0"]["test"]["confusion"]) == 5
    with open(run / "per_class.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["class"] for r in rows] == ["a", "b", "c", "d", "e"]
    assert list(rows[0]) == ["class", "support", "precision", "recall", "f1"]
    assert sum(int(r["support"]) for r in rows) == seeds["0"]["test"]["num_samples"]
    history = json.loads((run / "seed-0" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert {"train_loss", "dev_loss", "dev_weighted_f1", "dev_accuracy", "lr", "seconds", "best_epoch"} <= set(
        history[0]
    )
    assert (run / "seed-0" / "best.pt").is_file() and (run / "seed-1" / "last.pt").is_file()
    assert not (run / "anchors.safetensors").exists()
    assert not list(run.rglob("*.tmp*"))


def test_evaluate_reproduces_the_training_scores(trained) -> None:
    directory, store, metrics = trained
    result = evaluate_run(directory / "run", store, split="test")
    assert result["test"]["weighted_f1"] == pytest.approx(metrics["test"]["weighted_f1"], abs=1e-6)
    assert set(result["test"]) == SUMMARY and set(result["seeds"]) == {"0", "1"}
    dev = evaluate_run(directory / "run", store, split="dev")
    assert dev["dev"]["weighted_f1"] == pytest.approx(metrics["dev"]["weighted_f1"], abs=1e-6)


def test_predictions_join_the_input_table(trained, tmp_path: Path) -> None:
    directory, store, _ = trained
    rows = predict_run(directory / "run", store, split="test", out=tmp_path / "p.csv")
    with open(tmp_path / "p.csv", newline="") as fh:
        written = list(csv.DictReader(fh))
    assert list(written[0]) == ["dialogue", "utterance", "label", "predicted", *(f"prob_{c}" for c in "abcde")]
    assert len(written) == len(rows)
    table = load_dialogue_table(directory / "test.csv", columns=TableColumns(**COLUMNS), label_names="auto")
    with open(directory / "test.csv", newline="") as fh:
        source = {(f"{r['Season']}/{r['Episode']}/{r['Scene_ID']}", r["Utterance_ID"]): r for r in csv.DictReader(fh)}
    assert len(source) == table.num_utterances == len(written)
    for row in written:  # every prediction joins one table row, with its label
        original = source[(row["dialogue"], row["utterance"])]
        assert row["label"] == original["Emotion"].lower()
        assert sum(float(row[f"prob_{c}"]) for c in "abcde") == pytest.approx(1.0, abs=1e-4)
        assert row["predicted"] == max("abcde", key=lambda c: float(row[f"prob_{c}"]))


@pytest.mark.parametrize("classes", [5, 8])
def test_any_class_count_without_dev_selects_on_validation(tmp_path: Path, classes: int) -> None:
    labels = [f"emotion{i}" for i in range(classes)]
    store = write_store(tmp_path, labels, dev=False)
    metrics = train_run(store, tmp_path / "run", seeds=[0], model=FAST["model"], train={"epochs": 1})
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["selected_on"] == metrics["selected_on"] == "validation"
    assert config["validation_fraction"] == 0.1 and config["model"]["num_classes"] == classes
    assert len(metrics["seeds"]["0"]["test"]["f1"]) == classes
    history = json.loads((tmp_path / "run" / "seed-0" / "history.json").read_text())
    assert "validation_weighted_f1" in history[0]


def test_text_anchor_bank_is_saved_and_an_encoder_mismatch_refused(trained, tmp_path: Path) -> None:
    _directory, store, _ = trained
    features = load_features(store)
    g = torch.Generator().manual_seed(0)
    bank = AnchorBank.from_features(
        {c: torch.randn(2, 8, generator=g) for c in features.label_names}, encoder_name="text"
    )
    bank.encoder_identity = {**ENCODER, "name": "enc-b", "identity": "b" * 16}
    with pytest.raises(ConfigError) as info:
        check_encoder_match(features, bank)
    assert "'enc-b'" in str(info.value) and "'enc-a'" in str(info.value)
    assert "--anchors text" in info.value.for_cli()
    bank.save(tmp_path / "bank.safetensors")
    with pytest.raises(ConfigError, match="enc-b"):
        train_run(store, tmp_path / "refused", anchors=tmp_path / "bank.safetensors", **FAST)
    bank.encoder_identity = dict(ENCODER)
    bank.save(tmp_path / "bank.safetensors")
    metrics = train_run(store, tmp_path / "ok", anchors=tmp_path / "bank.safetensors", seeds=[0],
                        model=FAST["model"], train={"epochs": 1})  # fmt: skip
    assert metrics["anchors"] == str(tmp_path / "bank.safetensors")
    assert AnchorBank.load(tmp_path / "ok" / "anchors.safetensors").encoder_identity == ENCODER
    run = load_run(tmp_path / "ok")
    assert run.bank is not None and set(run.models) == {0}


def test_wrong_class_bank_and_recipe_name_the_fix(trained, tmp_path: Path) -> None:
    _directory, store, _ = trained
    bank = AnchorBank.from_features({c: torch.randn(2, 8) for c in ["x", "y"]})
    with pytest.raises(ConfigError, match="classes"):
        train_run(store, tmp_path / "r", anchors=bank, **FAST)
    with pytest.raises(ConfigError) as info:
        train_run(store, tmp_path / "r", model={"num_classes": 7}, train={"epochs": 1})
    assert "leave out num_classes" in str(info.value) and "--config" in info.value.for_cli()
