"""``vega-anchors finetune-text`` and ``build-features --encoder DIR`` on its output."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_helpers import write_table, write_tiny_bert

from vega_anchors.cli import main
from vega_anchors.data.store import load_features

LABELS = ["--labels", "neutral,joy,anger"]


def test_build_features_reads_a_cross_fitted_encoder(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, dev = write_table(tmp_path / "train.csv", 6, seed=0), write_table(tmp_path / "dev.csv", 3, seed=1)
    enc = tmp_path / "enc"
    argv = ["finetune-text", "--train", str(train), "--dev", str(dev), "--encoder", str(tiny_bert), "--out", str(enc),
            "--context", "1", "--future-context", "1", "--epochs", "1", "--folds", "2", "--lr", "1e-3", "--quiet"]
    assert main([*argv, *LABELS]) == 0
    out = capsys.readouterr().out
    assert "selected epoch 1: dev weighted F1" in out and "fold encoders, dev weighted F1" in out
    store = tmp_path / "f.safetensors"
    build = ["build-features", "--train", str(train), "--dev", str(dev), "--encoder", str(enc), "--out", str(store),
             "--layers", "-2", "-1", "--quiet", *LABELS]  # fmt: skip
    assert main(build) == 0
    features = load_features(store)
    info = features.extras["encoder"]
    assert info["backend"] == "vega-finetune" and info["cross_fitted"] and info["layers"] == [-2, -1]
    assert (info["context"], info["future_context"]) == (1, 1)  # the fine-tuning's, without --context
    assert info["finetune"]["base_encoder"] == str(tiny_bert) and info["finetune"]["folds"]["k"] == 2
    assert "assignment" not in info["finetune"]["folds"]
    assert features.modality_dims["text"] == 64


def test_errors_name_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bare = write_tiny_bert(tmp_path / "bare", tokenizer=False)
    train = write_table(tmp_path / "train.csv", 4, seed=0)
    argv = ["finetune-text", "--train", str(train), "--encoder", str(bare), "--out", str(tmp_path / "e"), *LABELS]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "no --dev table: selecting on 10% of the training dialogues" in captured.out
    assert "has no tokenizer" in captured.err and "give --encoder a directory" in captured.err
    assert main([*argv[:-2], "--labels", "neutral,joy,anger", "--folds", "1"]) == 2
    assert "folds" in capsys.readouterr().err


def test_bench_finetune_compares_bucketed_with_fixed_padding(tiny_bert: Path) -> None:
    from vega_anchors.bench._finetune import bench_finetune

    records = {r["mode"]: r for r in bench_finetune(tiny_bert, num_utterances=32, batch_size=8, repeats=1, warmup=0)}
    assert list(records) == ["fixed", "dynamic", "bucketed"]
    assert records["fixed"]["padded_tokens"] == 32 * 128 and records["fixed"]["speedup_vs_fixed"] == 1.0
    assert records["bucketed"]["padded_tokens"] <= records["dynamic"]["padded_tokens"] < 32 * 128
    assert records["bucketed"]["padded_tokens"] >= records["bucketed"]["real_tokens"] == records["fixed"]["real_tokens"]
