"""Runs and anchor banks on the Hugging Face Hub, offline: a local round trip gives bit-identical
predictions, the card holds the run's real numbers, push_to_hub uploads that folder (HfApi stubbed),
and an unreachable Hub id is one clear error that says how to pass a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from own_data_helpers import write_store

from vega_anchors import AnchorBank
from vega_anchors.cli import main
from vega_anchors.errors import ConfigError
from vega_anchors.hub import PretrainedBank, PretrainedRun, resolve_pretrained
from vega_anchors.runs import load_run, predict_run, train_run

FAST = {"model": {"hidden_dim": 16, "num_heads": 2}, "train": {"epochs": 2, "lr": 3e-3, "ema_decay": None}}
ENCODER = {"name": "enc-a", "identity": "a" * 16, "backend": "transformers", "layers": [-1], "dim": 8, "context": 0}
LABELS = ["a", "b", "c"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("hubrun")
    store = write_store(directory, LABELS, encoder=ENCODER)
    bank = AnchorBank.from_features({c: torch.randn(3, 6, generator=torch.Generator().manual_seed(i))
                                     for i, c in enumerate(LABELS)})  # fmt: skip
    bank.sources = {c: [f"{c}-{k}.jpg" for k in range(3)] for c in LABELS}
    bank.save(directory / "bank.safetensors")
    train_run(store, directory / "run", anchors=directory / "bank.safetensors", seeds=[0, 1], **FAST)
    return directory, store


def test_round_trip_gives_bit_identical_predictions(trained, tmp_path: Path) -> None:
    directory, store = trained
    before = predict_run(directory / "run", store)
    PretrainedRun(load_run(directory / "run")).save_pretrained(tmp_path / "shared")
    files = {str(p.relative_to(tmp_path / "shared")) for p in (tmp_path / "shared").rglob("*") if p.is_file()}
    assert {"README.md", "config.json", "metrics.json", "per_class.csv", "anchors.safetensors", "COMPLETE",
            "feature_recipe.json", "seed-0/model.safetensors", "seed-1/model.safetensors",
            "seed-0/history.json"} <= files  # fmt: skip
    assert not any(f.endswith(".pt") for f in files)  # weights as safetensors only
    loaded = PretrainedRun.from_pretrained(tmp_path / "shared").run
    after = predict_run(loaded, store)
    assert after == before  # every probability bit-identical
    assert loaded.bank is not None and loaded.bank.sources == load_run(directory / "run").bank.sources
    assert json.loads((tmp_path / "shared" / "config.json").read_text()) == json.loads(
        (directory / "run" / "config.json").read_text()
    )


def test_card_holds_the_runs_real_numbers(trained, tmp_path: Path) -> None:
    directory, _ = trained
    metrics = json.loads((directory / "run" / "metrics.json").read_text())
    PretrainedRun(load_run(directory / "run")).save_pretrained(tmp_path / "s", repo_id="me/tiny", license="gpl-3.0")
    card = (tmp_path / "s" / "README.md").read_text()
    assert card.startswith("---\n") and "license: gpl-3.0" in card and "library_name: vega-anchors" in card
    for seed in ("0", "1"):
        for split in ("test", "dev"):
            row = metrics["seeds"][seed][split]
            cells = " | ".join(f"{row[k]:.4f}" for k in ("weighted_f1", "accuracy", "macro_f1"))
            assert f"| {seed} | {cells} | {metrics['seeds'][seed]['best_epoch']} |" in card
    mean = metrics["test"]
    assert f"{mean['weighted_f1']:.4f} ± {mean['weighted_f1_std']:.4f}" in card
    assert "enc-a" in card and "a" * 16 in card  # the feature recipe: the text encoder and its identity
    recipe = json.loads((directory / "run" / "feature_recipe.json").read_text())
    assert f"speakers ({recipe['speaker_mode']}): {', '.join(recipe['speakers'])}" in card
    assert "GPL-3.0" in card and "IEMOCAP" in card  # the dataset licence reminder
    assert "vega-anchors annotate VIDEO.mp4 --transcript VIDEO.srt --model me/tiny" in card


def test_push_to_hub_uploads_the_saved_folder(trained, monkeypatch: pytest.MonkeyPatch) -> None:
    directory, store = trained
    import huggingface_hub.hub_mixin as mixin

    calls: dict = {}

    class FakeApi:
        def __init__(self, token=None) -> None:
            calls["token"] = token

        def create_repo(self, repo_id, private=None, exist_ok=False):
            calls["create"] = (repo_id, private)
            return type("Url", (), {"repo_id": repo_id})()

        def upload_folder(self, *, repo_id, folder_path, **kwargs):
            folder = Path(folder_path)
            calls["files"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
            calls["card"] = (folder / "README.md").read_text()
            calls["predictions"] = predict_run(load_run(folder), store)  # the uploaded folder is a working run
            return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(mixin, "HfApi", FakeApi)
    assert main(["push", str(directory / "run"), "me/tiny-run", "--private", "--license", "gpl-3.0"]) == 0
    assert calls["create"] == ("me/tiny-run", True)
    assert "seed-0/model.safetensors" in calls["files"] and "README.md" in calls["files"]
    assert "# me/tiny-run" in calls["card"] and "license: gpl-3.0" in calls["card"]
    assert calls["predictions"] == predict_run(directory / "run", store)


def test_unreachable_hub_id_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="cannot fetch the trained run 'nobody/no-such-run'") as err:
        PretrainedRun.from_pretrained("nobody/no-such-run")
    assert "pass the local folder that save_pretrained wrote" in str(err.value)
    assert main(["predict", "nobody/no-such-run", "--features", "x.safetensors", "--out", "p.csv"]) == 2
    message = capsys.readouterr().err
    assert "cannot fetch the trained run" in message and "a local folder instead of the Hub id" in message
    with pytest.raises(FileNotFoundError, match="nor a Hub id"):
        resolve_pretrained("no/such/folder", "run")


def test_bank_round_trip_and_train_anchors_from_a_folder(trained, tmp_path: Path, capsys) -> None:
    directory, store = trained
    bank = AnchorBank.load(directory / "bank.safetensors")
    assert main(["push", str(directory / "bank.safetensors"), "me/bank", "--local-dir", str(tmp_path / "b")]) == 0
    loaded = PretrainedBank.from_pretrained(tmp_path / "b").bank
    assert torch.equal(loaded.exemplars, bank.exemplars) and loaded.sources == bank.sources
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["kind"] == "vega-anchors anchor bank" and config["class_names"] == LABELS
    assert "# me/bank" in (tmp_path / "b" / "README.md").read_text()
    out = tmp_path / "run"
    argv = ["train", "--features", str(store), "--out", str(out), "--anchors", str(tmp_path / "b"), "--epochs", "1",
            "--hidden-dim", "16", "--heads", "2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert torch.equal(AnchorBank.load(out / "anchors.safetensors").exemplars, bank.exemplars)
    with pytest.raises(ConfigError, match=r"holds no anchors\.safetensors"):
        resolve_pretrained(tmp_path, "anchors")


def test_annotate_takes_a_hub_id_or_says_how_to_pass_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    from vega_anchors.annotate import EmotionPipeline

    with pytest.raises(ConfigError, match="cannot fetch the trained run 'nobody/no-such-run'"):
        EmotionPipeline.from_pretrained("nobody/no-such-run")
    argv = ["annotate", "talk.mp4", "--transcript", "talk.srt", "--model", "nobody/no-such-run", "--out", "out"]
    assert main(argv) == 2
    assert "give RUN_DIR (or annotate --model) a local folder instead of the Hub id" in capsys.readouterr().err
