"""vega_anchors.bench at tiny sizes: record keys and sane values (never timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from vega_anchors import bench
from vega_anchors.toy import TINY_CLIP_MODEL, write_synthetic_faces

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = {"hidden_dim": 32, "num_heads": 4, "anchors_per_class": 3, "anchor_dim": 16, "repeats": 1, "warmup": 0}
SMALL_DIMS = {"text": 12, "audio": 10, "visual": 8}
TIMING_KEYS = {"median_ms", "min_ms", "repeats", "gflop", "achieved_gflops", "gemm_peak_gflops", "ratio_to_peak"}


@pytest.fixture(autouse=True)
def small_and_single_threaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tiny GEMM probes; one thread (OpenMP threads on a busy shared machine stall each other)."""
    monkeypatch.setattr(bench._measure, "GEMM_SIZE", 256)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _check_rates(record: dict[str, object]) -> None:
    assert record["gflop"] > 0 and record["achieved_gflops"] > 0  # type: ignore[operator]
    assert record["gemm_peak_gflops"] > 0 and record["ratio_to_peak"] > 0  # type: ignore[operator]
    assert record["gemm_size"] == 256
    assert record["peak_memory_mb"] > 0  # type: ignore[operator]
    json.dumps(record)  # JSON-ready


def test_count_flops_counts_a_linear_layer() -> None:
    layer = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(3, 8)
    assert bench.count_flops(lambda: layer(x)) == 2 * 3 * 8 * 4


def test_count_flops_sees_the_fused_attention_path() -> None:
    attn = torch.nn.MultiheadAttention(16, 2, batch_first=True).eval().requires_grad_(False)
    x = torch.randn(2, 5, 16)
    with torch.inference_mode():  # would take the fused fast path, invisible to FlopCounterMode
        flops = bench.count_flops(lambda: attn(x, x, x, need_weights=False))
    projections = 2 * 2 * 5 * 16 * 16 * 4  # q, k, v, out
    assert flops >= projections
    assert torch.backends.mha.get_fastpath_enabled()  # restored


def test_train_step_records_and_ratios() -> None:
    records = bench.bench_train_step(("fp32", "fp32-padded", "bf16"), lengths=(5, 3, 7), modalities=SMALL_DIMS, **TINY)
    by_mode = {r["mode"]: r for r in records}
    assert set(by_mode) == {"fp32", "fp32-padded", "bf16"}
    for record in records:
        assert set(record) >= TIMING_KEYS and record["workload"] == "train_step"
        assert record["batch"] == [3, 7] and record["utterances"] == 15
        _check_rates(record)
    assert by_mode["fp32"]["path"] == "packed" and by_mode["fp32-padded"]["path"] == "padded"
    assert by_mode["fp32"]["speedup_vs_padded"] > 0 and "speedup_vs_padded" not in by_mode["fp32-padded"]
    assert by_mode["bf16"]["speedup_vs_fp32"] > 0 and by_mode["bf16"]["gemm_precision"] == "bf16"
    if by_mode["fp32"]["packed_path_available"]:  # the padded path also computes on the padding
        assert by_mode["fp32-padded"]["gflop"] > by_mode["fp32"]["gflop"]


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="fp32"):
        bench.bench_train_step(("fp64",), lengths=(2,), modalities=SMALL_DIMS, **TINY)


def test_overhead_records() -> None:
    records = bench.bench_overhead(lengths=(4, 6), modalities=SMALL_DIMS, **TINY)
    by_mode = {r["mode"]: r for r in records}
    assert set(by_mode) == {"train_step_vega", "train_step_backbone", "predict", "forward_backbone"}
    for record in records:
        _check_rates(record)
    assert by_mode["train_step_vega"]["baseline"] == "train_step_backbone"
    assert by_mode["predict"]["baseline"] == "forward_backbone"
    assert by_mode["train_step_vega"]["overhead"] > -1
    # the anchor branch adds matmuls to the step; predict skips it (same FLOPs as the backbone)
    assert by_mode["train_step_vega"]["gflop"] > by_mode["train_step_backbone"]["gflop"]
    assert by_mode["predict"]["gflop"] == pytest.approx(by_mode["forward_backbone"]["gflop"], rel=0.05)


def test_epoch_records_extrapolate_from_a_prefix() -> None:
    records = bench.bench_epoch(("fp32", "fp32-bucketed"), max_batches=1, num_dialogues=5, batch_size=2, **TINY)
    by_mode = {r["mode"]: r for r in records}
    assert by_mode["fp32-bucketed"]["bucketed"] and not by_mode["fp32"]["bucketed"]
    for record in records:
        assert record["batches_timed"] == 1 and record["batches_total"] == 3 and record["extrapolated"]
        assert record["dialogues"] == 5 and record["utterances_per_s"] > 0
        assert record["epoch_s"] > record["median_s"]  # a third of the batches was timed
        assert 0 <= record["padding_fraction"] < 1
    assert by_mode["fp32-bucketed"]["speedup_vs_fp32"] > 0


def test_anchors_records(tmp_path: Path) -> None:
    root = write_synthetic_faces(tmp_path / "faces", ["anger", "happy"], per_class=3, size=48, fmt="jpg")
    records = bench.bench_anchors(
        root,
        precisions=("fp32", "bf16"),
        num_workers=(0,),
        model_name=TINY_CLIP_MODEL,
        batch_size=4,
        repeats=1,
        warmup=0,
    )
    by_mode = {r["mode"]: r for r in records}
    assert set(by_mode) == {"fp32-w0", "bf16-w0"}
    for record in records:
        assert record["images"] == 6 and not record["subset"] and record["images_per_s"] > 0
        assert record["gflop_per_image"] > 0 and record["decode_ms_per_image"] > 0
        _check_rates(record)
    assert 0.9 < by_mode["bf16-w0"]["min_cosine_vs_fp32"] <= 1.0
    assert by_mode["bf16-w0"]["speedup_vs_fp32"] > 0


def test_cli_prints_one_json_line_per_record() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "vega_anchors.bench", "train-step", "--compare", "--hidden-dim", "16"]
    cmd += ["--lengths", "3,2", "--anchors-per-class", "2", "--repeats", "1", "--warmup", "0", "--threads", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["workload"] for r in records] == ["env", "train_step", "train_step"]
    assert records[0]["torch_threads"] == 1 and records[0]["cpu_cores"] >= 1
    assert [r["mode"] for r in records[1:]] == ["fp32", "fp32-padded"]
    assert records[1]["median_ms"] > 0 and records[1]["gflop"] > 0


def test_anchors_low_precision_alone_adds_the_fp32_reference(tmp_path: Path) -> None:
    root = write_synthetic_faces(tmp_path / "faces", ["anger", "happy"], per_class=2, size=48, fmt="jpg")
    records = bench.bench_anchors(
        root, precisions=("bf16",), model_name=TINY_CLIP_MODEL, batch_size=4, repeats=1, warmup=0
    )
    by_mode = {r["mode"]: r for r in records}
    assert list(by_mode) == ["fp32-w0", "bf16-w0"]
    bf16 = by_mode["bf16-w0"]
    assert bf16["cast_once"] is True and isinstance(bf16["cpu_native_low_precision"], bool)
    assert 0.9 < bf16["min_cosine_vs_fp32"] <= 1.0 and bf16["speedup_vs_fp32"] > 0
    assert "cast_once" not in by_mode["fp32-w0"]
