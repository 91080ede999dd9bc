"""``vega-anchors compare`` and ``ablate`` end to end on a tiny generated store, and errors that name flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from own_data_helpers import write_store

from vega_anchors.ablations import ablate
from vega_anchors.anchors.bank import AnchorBank
from vega_anchors.cli import main
from vega_anchors.compare import compare_runs
from vega_anchors.runs import evaluate_run, train_run

LABELS = ["calm", "glad", "mad", "sad"]
TINY = {"seeds": [0, 1], "model": {"hidden_dim": 16, "num_heads": 2}, "train": {"epochs": 1}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("compare")
    store = write_store(root, LABELS)
    train_run(store, root / "a", **TINY)
    train_run(store, root / "b", **{**TINY, "model": {"hidden_dim": 8, "num_heads": 2}})
    return store, root / "a", root / "b"


def test_compare_prints_writes_json_and_png_with_run_metrics(runs, tmp_path: Path, capsys) -> None:
    store, a, b = runs
    out = tmp_path / "cmp"
    argv = ["compare", str(a), str(b), "--features", str(store), "--resamples", "200", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "a − b" in text and "weighted_f1" in text and "per-class F1" in text
    data = json.loads((out / "compare.json").read_text())
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    evaluated = evaluate_run(a, store)
    assert data["runs"][0]["weighted_f1"] == pytest.approx(evaluated["test"]["weighted_f1"], abs=1e-9)
    pair = data["pairs"][0]
    assert set(pair["metrics"]) == {"weighted_f1", "macro_f1", "accuracy"} and set(pair["per_class"]) == set(LABELS)
    assert sorted(pair["seeds"]["accuracy"]["per_seed"]) == ["0", "1"]
    m = pair["metrics"]["accuracy"]
    assert m["low"] <= m["diff"] <= m["high"] and 0.0 <= m["p_a_better"] <= 1.0
    same = compare_runs([a, a], store, resamples=50)
    assert same.pairs[0].metrics["weighted_f1"].p_a_better == 0.5


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_bad_input_names_flags(runs, tmp_path: Path, capsys) -> None:
    store, a, b = runs
    err = _error(capsys, ["compare", str(a), "--features", str(store)])
    assert "at least two runs" in err and "RUN_A RUN_B" in err
    other = write_store(tmp_path, LABELS, dev=False)
    err = _error(capsys, ["compare", str(a), str(b), "--features", str(other)])
    assert "different stores" in err and "--features once per run" in err
    # each run on its own store: other utterances (another test table) are refused
    (tmp_path / "x").mkdir()
    three = write_store(tmp_path / "x", LABELS[:3])
    err = _error(capsys, ["compare", str(a), str(b), "--features", str(store), str(three)])
    assert "classes" in err
    err = _error(capsys, ["compare", str(a), str(b), "--features", str(store), "--split", "train", "--resamples", "0"])
    assert "--resamples" in err
    no_test = tmp_path / "no_test.safetensors"
    from vega_anchors.data import load_features, save_features

    fs = load_features(store)
    fs.test = []
    save_features(fs, no_test)
    err = _error(capsys, ["compare", str(a), str(b), "--features", str(no_test), str(no_test)])
    assert "no test split" in err and "--split" in err


def test_ablate_trains_each_ablation_and_says_what_it_skipped(runs, tmp_path: Path) -> None:
    store = runs[0]
    names = [str(c) for c in LABELS]
    bank = AnchorBank(names, torch.randn(4, 3, 6), torch.full((4,), 3))
    tiny = {k: TINY[k] for k in ("model", "train")}
    result = ablate(store, tmp_path / "abl", anchors=bank, seeds=[0], resamples=50, **tiny)
    assert [p.b for p in result.pairs] == ["no-anchors", "no-sampling", "no-distillation", "no-speaker"]
    assert any("context-k0 skipped" in n for n in result.notes)
    config = json.loads((tmp_path / "abl" / "no-speaker" / "config.json").read_text())
    assert config["model"]["speaker_embedding"] is False
    assert json.loads((tmp_path / "abl" / "no-sampling" / "config.json").read_text())["model"]["sampler"]["p"] == 0.0
    losses = json.loads((tmp_path / "abl" / "no-distillation" / "config.json").read_text())["model"]["losses"]
    assert losses == {"cls": True, "cls_kl": False, "anchor": True, "anchor_kl": False}
    assert json.loads((tmp_path / "abl" / "no-anchors" / "config.json").read_text())["anchors"] == "none"
    assert (tmp_path / "abl" / "ablate.json").is_file() and (tmp_path / "abl" / "ablate.png").is_file()


def test_ablate_cli_without_anchors_skips_the_anchor_ablations(runs, tmp_path: Path, capsys) -> None:
    store = runs[0]
    argv = ["ablate", "--features", str(store), "--out", str(tmp_path / "abl"), "--seeds", "0", "--epochs", "1",
            "--only", "no-speaker", "--resamples", "50"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "trained full" in out and "trained no-speaker" in out and "full − no-speaker" in out
    assert "no-anchors and no-sampling skipped" in out


def test_ablate_refuses_before_training_when_no_ablation_applies(runs, tmp_path: Path, capsys) -> None:
    argv = ["ablate", "--features", str(runs[0]), "--out", str(tmp_path / "abl"), "--only", "no-anchors"]
    err = _error(capsys, argv)
    assert "no ablation applies" in err and "--anchors text" in err
    assert not (tmp_path / "abl" / "full").exists()
