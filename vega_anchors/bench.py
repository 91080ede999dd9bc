"""Benchmarks: ``python -m vega_anchors.bench {train-step,overhead,epoch,anchors,all}``.

Every workload function returns a list of JSON-ready records (dicts); only the CLI prints them, one
JSON line per record. Modes of one workload are timed *interleaved* (round-robin, one call of each
mode per round), so slow phases of a shared, noisy machine hit every mode alike; ratios between
modes (``speedup_vs_padded``, ``overhead``, ...) are medians of the per-round ratios.

FLOPs are counted once, outside timing, with :class:`torch.utils.flop_counter.FlopCounterMode`
(matrix products and convolutions; elementwise work is not counted). ``ratio_to_peak`` compares the
achieved rate with a GEMM of the same dtype timed in the same run (``F.linear`` on ``n × n``
matrices: it is the kernel the models run; on CPUs without native bf16, ``torch.mm`` in bf16 takes
a far slower fallback kernel than ``F.linear``).

Sizes default to the paper's IEMOCAP setting; every size is an argument, so tests run the same code
at tiny sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "GEMM_SIZE",
    "IEMOCAP_LENGTHS",
    "IEMOCAP_MODALITIES",
    "bench_anchors",
    "bench_epoch",
    "bench_overhead",
    "bench_train_step",
    "count_flops",
    "environment",
    "gemm_peak",
    "main",
]

logger = logging.getLogger(__name__)

IEMOCAP_LENGTHS: tuple[int, ...] = (64, 48, 96, 30, 72, 55, 40, 88, 60)
"""Dialogue lengths of the benchmark batch (9 dialogues, the official batch size)."""

IEMOCAP_MODALITIES: dict[str, int] = {"text": 1024, "audio": 1582, "visual": 342}
"""Feature widths of the official IEMOCAP files."""

_LOW_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}
_DTYPES = {"fp32": torch.float32, **_LOW_PRECISION}

Record = dict[str, Any]


# ---- measurement helpers -------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision not in _LOW_PRECISION:
        raise ValueError(f"precision must be one of {sorted(_DTYPES)}, got {precision!r}")
    return torch.autocast(device.type, dtype=_LOW_PRECISION[precision])


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` (matmuls and convolutions, as FlopCounterMode counts them).

    PyTorch's fused inference path of ``nn.MultiheadAttention`` is invisible to FlopCounterMode,
    so it is switched off while counting (the arithmetic is the same).
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops())


GEMM_SIZE = 2048
"""Side of the square GEMM timed as the machine's matmul limit (smaller when that would be slow)."""


class _GemmProbe:
    """Times ``F.linear`` on ``[n, n]`` matrices of one dtype: the machine's matmul limit, now.

    ``n`` is :data:`GEMM_SIZE`, or the largest power of two (>= 256) whose GEMM takes about
    ``max_call_s`` when the full size would take longer (bf16 on CPUs without native bf16 is slow),
    so a probe stays cheap enough to run once per timing round.
    """

    def __init__(self, precision: str, device: torch.device, size: int | None = None, max_call_s: float = 0.5) -> None:
        self.precision = precision
        self.device = device
        size = size or GEMM_SIZE
        n = min(256, size)
        self._make(n)
        self._call()  # warm-up
        # grow while the next size (8x the work) should still take <= max_call_s
        while n * 2 <= size and 8 * min(self._call(), self._call()) <= max_call_s:
            self._make(n * 2)
            self._call()
            n *= 2
        self.samples: list[float] = []

    def _make(self, n: int) -> None:
        gen = torch.Generator().manual_seed(0)
        dtype = _DTYPES[self.precision]
        self.a = torch.randn(n, n, generator=gen).to(self.device, dtype)
        self.b = torch.randn(n, n, generator=gen).to(self.device, dtype)
        self.size = n

    def _call(self) -> float:
        _sync(self.device)
        start = time.perf_counter()
        F.linear(self.a, self.b)
        _sync(self.device)
        return time.perf_counter() - start

    def measure(self) -> float:
        """One timed GEMM; returns and records GFLOP/s."""
        gflops = 2 * self.size**3 / self._call() / 1e9
        self.samples.append(gflops)
        return gflops

    def summary(self) -> Record:
        return {
            "gemm_precision": self.precision,
            "gemm_size": self.size,
            "gemm_peak_gflops": round(statistics.median(self.samples), 2) if self.samples else None,
            "gemm_peak_gflops_max": round(max(self.samples), 2) if self.samples else None,
        }


def gemm_peak(
    precision: str = "fp32", *, device: str | torch.device = "cpu", repeats: int = 5, size: int = 2048
) -> Record:
    """Median GFLOP/s of ``repeats`` GEMMs (``F.linear`` on ``[size, size]``, default :data:`GEMM_SIZE`)."""
    probe = _GemmProbe(precision, torch.device(device), size)
    for _ in range(repeats):
        probe.measure()
    return {"workload": "gemm", "mode": precision, "repeats": repeats, **probe.summary()}


class _PeakMemory:
    """Peak memory of the code between :meth:`reset` and :meth:`read_mb`.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: the resident-set high-water mark (``VmHWM``),
    reset through ``/proc/self/clear_refs`` on Linux; where that is not possible, the process's
    lifetime high-water mark (``getrusage``), which never goes down (``kind`` tells which).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            self.kind = "cuda_max_memory_allocated"
        elif self._can_reset_rss():
            self.kind = "rss_high_water_per_mode"
        else:
            self.kind = "rss_high_water_process"

    @staticmethod
    def _can_reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return _PeakMemory._vm_hwm_kb() is not None
        except OSError:
            return False

    @staticmethod
    def _vm_hwm_kb() -> int | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def reset(self) -> None:
        if self.kind == "cuda_max_memory_allocated":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.kind == "rss_high_water_per_mode":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")

    def read_mb(self) -> float:
        if self.kind == "cuda_max_memory_allocated":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.kind == "rss_high_water_per_mode":
            return (self._vm_hwm_kb() or 0) / 1024
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def _interleaved(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeats: int,
    warmup: int,
    device: torch.device,
    probes: Mapping[str, _GemmProbe] | None = None,
    memory: _PeakMemory | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, float]]:
    """Time each function ``repeats`` times, round-robin, after ``warmup`` untimed rounds.

    Returns per-mode seconds, per-mode GEMM GFLOP/s probed just before each timed call (when
    ``probes`` maps the mode to a probe), and per-mode peak memory in MiB.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    probed: dict[str, list[float]] = {name: [] for name in fns}
    peak: dict[str, float] = dict.fromkeys(fns, 0.0)
    for _ in range(repeats):
        for name, fn in fns.items():
            if probes is not None and name in probes:
                probed[name].append(probes[name].measure())
            if memory is not None:
                memory.reset()
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            seconds[name].append(time.perf_counter() - start)
            if memory is not None:
                peak[name] = max(peak[name], memory.read_mb())
    return seconds, probed, peak


def _paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median of per-round ratios (robust to slow phases that hit both modes of a round)."""
    return round(statistics.median(n / d for n, d in zip(numerator, denominator, strict=True)), 4)


def _sig(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (tiny test sizes must not round to 0)."""
    return float(f"{x:.{digits}g}")


def _time_fields(seconds: Sequence[float], unit: str = "ms") -> Record:
    scale = 1000.0 if unit == "ms" else 1.0
    return {
        f"median_{unit}": round(statistics.median(seconds) * scale, 3),
        f"min_{unit}": round(min(seconds) * scale, 3),
        "repeats": len(seconds),
    }


def _rate_fields(flops: int, seconds: Sequence[float], probe: _GemmProbe | None, probed: Sequence[float]) -> Record:
    """FLOPs, achieved GFLOP/s (at the median time) and the ratio to the GEMM probed in the same run."""
    achieved = flops / statistics.median(seconds) / 1e9
    out: Record = {"gflop": _sig(flops / 1e9), "achieved_gflops": _sig(achieved)}
    if probe is not None:
        out.update(probe.summary())
        if probed:
            # per round: this call's rate / the GEMM rate measured just before it
            per_round = [flops / s / 1e9 / p for s, p in zip(seconds, probed, strict=True)]
            out["ratio_to_peak"] = _sig(statistics.median(per_round))
    return out


def environment(device: str | torch.device = "cpu") -> Record:
    """The machine a benchmark ran on: CPU model, cores, threads, torch version, GPU name."""
    device = torch.device(device)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    record: Record = {
        "workload": "env",
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    }
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        record["load_average_1min"] = round(os.getloadavg()[0], 2)
    return record


def _parse_mode(mode: str) -> tuple[str, bool]:
    """``"bf16-padded"`` → ("bf16", padded=True)."""
    precision, _, rest = mode.partition("-")
    if precision not in _DTYPES or rest not in ("", "padded"):
        raise ValueError(f"unknown mode {mode!r}; use fp32, bf16 or fp16, optionally with '-padded'")
    return precision, rest == "padded"


def _set_packed(model: torch.nn.Module, packed: bool) -> bool:
    """Select the padded/packed path; returns whether the model has a packed path at all."""
    available = hasattr(model, "packed")
    if available:
        setattr(model, "packed", packed)  # noqa: B010 - the attribute is not on nn.Module
    return available


# ---- model workloads -----------------------------------------------------------------------------
def _random_batch(
    lengths: Sequence[int], modalities: Mapping[str, int], num_classes: int, num_speakers: int, seed: int
) -> Any:
    from .data.dataset import Dialogue, collate_dialogues

    gen = torch.Generator().manual_seed(seed)
    dialogues = [
        Dialogue(
            id=f"bench_{i}",
            features={m: torch.randn(n, d, generator=gen) for m, d in modalities.items()},
            speakers=torch.randint(num_speakers, (n,), generator=gen),
            labels=torch.randint(num_classes, (n,), generator=gen),
        )
        for i, n in enumerate(lengths)
    ]
    return collate_dialogues(dialogues)


def _build_model(
    *,
    hidden_dim: int,
    num_heads: int,
    modalities: Mapping[str, int],
    num_classes: int,
    anchors_per_class: int,
    anchor_dim: int,
    with_anchors: bool,
    max_utterances: int,
    device: torch.device,
    seed: int,
) -> Any:
    from .anchors.bank import AnchorBank
    from .models import DualBranchVEGA, VEGAConfig

    torch.manual_seed(seed)
    config = VEGAConfig.iemocap(
        modalities=dict(modalities),
        hidden_dim=hidden_dim,
        num_heads=num_heads,
        num_classes=num_classes,
        anchor_dim=anchor_dim,
        max_utterances=max(512, max_utterances),
        class_weights=None,
    )
    bank = None
    if with_anchors:
        gen = torch.Generator().manual_seed(seed)
        bank = AnchorBank.from_features(
            {f"class_{c}": torch.randn(anchors_per_class, anchor_dim, generator=gen) for c in range(num_classes)}
        )
    else:
        config = config.model_copy(
            update={"losses": config.losses.model_copy(update={"anchor": False, "anchor_kl": False})}
        )
    # validate_inputs=False: the checks' host syncs are not part of the model's cost
    model = DualBranchVEGA(config, bank, validate_inputs=False).to(device)
    model.train()  # dropout on, like the official training (dropout 0.53)
    return model


def _optimizer(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if device.type == "cuda":
        return torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01, fused=True)
    return torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01, foreach=True)


def _train_step_fn(
    model: Any, optimizer: torch.optim.Optimizer, batch: Any, precision: str, device: torch.device, packed: bool
) -> Callable[[], None]:
    inputs = batch.model_inputs()

    def step() -> None:
        _set_packed(model, packed)
        with _autocast(device, precision):
            out = model(**inputs)
            loss = model.compute_loss(out, batch.labels, batch.utterance_mask)
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        optimizer.step()

    return step


def _model_kwargs(
    hidden_dim: int,
    num_heads: int,
    modalities: Mapping[str, int] | None,
    num_classes: int,
    anchors_per_class: int,
    anchor_dim: int,
    lengths: Sequence[int],
    device: torch.device,
    seed: int,
) -> dict[str, Any]:
    return {
        "hidden_dim": hidden_dim,
        "num_heads": num_heads,
        "modalities": dict(modalities or IEMOCAP_MODALITIES),
        "num_classes": num_classes,
        "anchors_per_class": anchors_per_class,
        "anchor_dim": anchor_dim,
        "max_utterances": max(lengths),
        "device": device,
        "seed": seed,
    }


def _chain(steps: Sequence[Callable[[], None]]) -> Callable[[], None]:
    def run() -> None:
        for step in steps:
            step()

    return run


def bench_train_step(
    modes: Sequence[str] = ("fp32", "fp32-padded", "bf16"),
    *,
    hidden_dim: int = 768,
    num_heads: int = 4,
    lengths: Sequence[int] = IEMOCAP_LENGTHS,
    modalities: Mapping[str, int] | None = None,
    num_classes: int = 6,
    anchors_per_class: int = 35,
    anchor_dim: int = 512,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> list[Record]:
    """One AdamW step of DualBranchVEGA (all four loss families, training mode) per mode.

    ``modes``: ``"fp32"``/``"bf16"`` run the packed (padding-free) path, ``"-padded"`` the padded
    baseline (``model.packed = False``). All modes share one model and one batch
    ``[len(lengths), max(lengths)]`` and are timed interleaved. Records carry ``median_ms``,
    ``min_ms``, FLOPs of the step (forward + backward), achieved GFLOP/s, the same-run GEMM peak
    and ``ratio_to_peak``, ``peak_memory_mb``, and ``speedup_vs_padded`` (vs the padded mode of
    the same precision, when it is among ``modes``).
    """
    device = torch.device(device)
    kw = _model_kwargs(
        hidden_dim, num_heads, modalities, num_classes, anchors_per_class, anchor_dim, lengths, device, seed
    )
    model = _build_model(with_anchors=True, **kw)
    optimizer = _optimizer(model, device)
    batch = _random_batch(lengths, kw["modalities"], num_classes, model.config.num_speakers, seed).to(device)
    parsed = {mode: _parse_mode(mode) for mode in modes}
    fns = {mode: _train_step_fn(model, optimizer, batch, p, device, not padded) for mode, (p, padded) in parsed.items()}
    flops = {mode: count_flops(fn) for mode, fn in fns.items()}
    probes = {mode: _GemmProbe(p, device) for mode, (p, _) in parsed.items()}
    memory = _PeakMemory(device)
    seconds, probed, peak = _interleaved(
        fns, repeats=repeats, warmup=warmup, device=device, probes=probes, memory=memory
    )
    packed_available = hasattr(model, "packed")
    records = []
    for mode, (precision, padded) in parsed.items():
        record: Record = {
            "workload": "train_step",
            "mode": mode,
            "precision": precision,
            "path": "padded" if padded else "packed",
            "packed_path_available": packed_available,
            "batch": [len(lengths), max(lengths)],
            "utterances": sum(lengths),
            "hidden_dim": hidden_dim,
            **_time_fields(seconds[mode]),
            **_rate_fields(flops[mode], seconds[mode], probes[mode], probed[mode]),
            "peak_memory_mb": round(peak[mode], 1),
            "memory_kind": memory.kind,
            "device": str(device),
            "threads": torch.get_num_threads(),
        }
        baseline = f"{precision}-padded"
        if not padded and baseline in seconds:
            record["speedup_vs_padded"] = _paired_ratio(seconds[baseline], seconds[mode])
        if precision != "fp32" and ("fp32-padded" if padded else "fp32") in seconds:
            record["speedup_vs_fp32"] = _paired_ratio(seconds["fp32-padded" if padded else "fp32"], seconds[mode])
        records.append(record)
    return records


def bench_overhead(
    *,
    precision: str = "fp32",
    hidden_dim: int = 768,
    num_heads: int = 4,
    lengths: Sequence[int] = IEMOCAP_LENGTHS,
    modalities: Mapping[str, int] | None = None,
    num_classes: int = 6,
    anchors_per_class: int = 35,
    anchor_dim: int = 512,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> list[Record]:
    """What VEGA costs on top of its backbone, timed interleaved.

    * train step: the full model (anchor branch + four loss families) vs a backbone-only model
      (``DualBranchVEGA(config, None)``, ``losses.anchor``/``anchor_kl`` off), same sizes.
    * inference: ``predict`` of the full model vs a plain forward of the backbone-only model
      (eval mode, no grad).

    Records carry ``median_ms`` etc. per mode and ``overhead`` = time / backbone time - 1.
    """
    device = torch.device(device)
    kw = _model_kwargs(
        hidden_dim, num_heads, modalities, num_classes, anchors_per_class, anchor_dim, lengths, device, seed
    )
    full = _build_model(with_anchors=True, **kw)
    backbone = _build_model(with_anchors=False, **kw)
    batch = _random_batch(lengths, kw["modalities"], num_classes, full.config.num_speakers, seed).to(device)
    inputs = batch.model_inputs()
    train = {
        "train_step_vega": _train_step_fn(full, _optimizer(full, device), batch, precision, device, True),
        "train_step_backbone": _train_step_fn(backbone, _optimizer(backbone, device), batch, precision, device, True),
    }

    def predict() -> None:
        full.eval()
        with torch.no_grad(), _autocast(device, precision):
            full.predict(**inputs)
        full.train()

    def backbone_forward() -> None:
        backbone.eval()
        with torch.no_grad(), _autocast(device, precision):
            backbone(**inputs)
        backbone.train()

    infer = {"predict": predict, "forward_backbone": backbone_forward}
    records = []
    for fns, base in ((train, "train_step_backbone"), (infer, "forward_backbone")):
        flops = {mode: count_flops(fn) for mode, fn in fns.items()}
        probes = {mode: _GemmProbe(precision, device) for mode in fns}
        memory = _PeakMemory(device)
        seconds, probed, peak = _interleaved(
            fns, repeats=repeats, warmup=warmup, device=device, probes=probes, memory=memory
        )
        for mode in fns:
            record: Record = {
                "workload": "overhead",
                "mode": mode,
                "precision": precision,
                "batch": [len(lengths), max(lengths)],
                "hidden_dim": hidden_dim,
                **_time_fields(seconds[mode]),
                **_rate_fields(flops[mode], seconds[mode], probes[mode], probed[mode]),
                "peak_memory_mb": round(peak[mode], 1),
                "memory_kind": memory.kind,
                "device": str(device),
                "threads": torch.get_num_threads(),
            }
            if mode != base:
                record["baseline"] = base
                record["overhead"] = round(_paired_ratio(seconds[mode], seconds[base]) - 1, 4)
            records.append(record)
    return records


def bench_epoch(
    modes: Sequence[str] = ("fp32", "bf16", "fp32-bucketed"),
    *,
    max_batches: int | None = None,
    num_dialogues: int | None = None,
    batch_size: int = 9,
    hidden_dim: int = 768,
    num_heads: int = 4,
    anchors_per_class: int = 35,
    anchor_dim: int = 512,
    padded: bool = False,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> list[Record]:
    """Training throughput over ``synthetic_dialogues("iemocap")`` (120 dialogues), batch 9.

    ``modes``: ``fp32``/``bf16``, optionally ``-bucketed`` (length-bucketed batches,
    :func:`~vega_anchors.training.iterate_batches` with ``bucket_by_length=True``). One repeat is
    one pass over the epoch's batches — or over its first ``max_batches`` batches, in which case
    ``epoch_s`` is extrapolated from the utterance rate (``extrapolated: true``). Batches are
    collated once, outside timing. ``padded=True`` runs the padded path.
    """
    from .data.synthetic import synthetic_dialogues
    from .training import iterate_batches

    device = torch.device(device)
    data = synthetic_dialogues("iemocap", seed=seed, num_train=num_dialogues, num_test=0)
    dialogues = data.train
    total_utterances = sum(d.length for d in dialogues)
    lengths = [d.length for d in dialogues]
    kw = _model_kwargs(
        hidden_dim,
        num_heads,
        data.modality_dims,
        len(data.label_names),
        anchors_per_class,
        anchor_dim,
        lengths,
        device,
        seed,
    )
    model = _build_model(with_anchors=True, **kw)
    optimizer = _optimizer(model, device)
    parsed: dict[str, tuple[str, bool]] = {}
    for mode in modes:
        precision, _, rest = mode.partition("-")
        if precision not in _DTYPES or rest not in ("", "bucketed"):
            raise ValueError(f"unknown epoch mode {mode!r}; use fp32 or bf16, optionally with '-bucketed'")
        parsed[mode] = (precision, rest == "bucketed")

    plans: dict[str, list[Any]] = {}
    fns: dict[str, Callable[[], None]] = {}
    for mode, (precision, bucketed) in parsed.items():
        batches = list(iterate_batches(dialogues, batch_size, shuffle=True, seed=seed, bucket_by_length=bucketed))
        total_batches = len(batches)
        timed = [b.to(device) for b in batches[: max_batches or None]]
        plans[mode] = [total_batches, timed]
        steps = [_train_step_fn(model, optimizer, b, precision, device, not padded) for b in timed]
        fns[mode] = _chain(steps)
    probes = {mode: _GemmProbe(p, device) for mode, (p, _) in parsed.items()}
    memory = _PeakMemory(device)
    seconds, _probed, peak = _interleaved(
        fns, repeats=repeats, warmup=warmup, device=device, probes=probes, memory=memory
    )
    records = []
    for mode, (precision, bucketed) in parsed.items():
        total_batches, timed = plans[mode]
        utterances = sum(b.num_utterances for b in timed)
        padded_slots = sum(b.batch_size * b.utterance_mask.shape[1] for b in timed)
        rate = [utterances / s for s in seconds[mode]]
        record: Record = {
            "workload": "epoch",
            "mode": mode,
            "precision": precision,
            "bucketed": bucketed,
            "path": "padded" if padded else "packed",
            "packed_path_available": hasattr(model, "packed"),
            "dialogues": len(dialogues),
            "batch_size": batch_size,
            "batches_timed": len(timed),
            "batches_total": total_batches,
            "extrapolated": len(timed) < total_batches,
            "utterances_timed": utterances,
            "padding_fraction": round(1 - utterances / padded_slots, 4),
            "utterances_per_s": round(statistics.median(rate), 2),
            "utterances_per_s_max": round(max(rate), 2),
            "epoch_s": round(total_utterances / statistics.median(rate), 2),
            **_time_fields(seconds[mode], "s"),
            **probes[mode].summary(),
            "peak_memory_mb": round(peak[mode], 1),
            "memory_kind": memory.kind,
            "device": str(device),
            "threads": torch.get_num_threads(),
        }
        if mode != "fp32" and "fp32" in seconds:
            # per round: this mode's utterance rate / fp32's (the modes may time different batches)
            fp32_utterances = sum(b.num_utterances for b in plans["fp32"][1])
            record["speedup_vs_fp32"] = _paired_ratio(
                [utterances / s for s in seconds[mode]], [fp32_utterances / s for s in seconds["fp32"]]
            )
        records.append(record)
    return records


# ---- anchor building -----------------------------------------------------------------------------
@contextlib.contextmanager
def _synthetic_folder(per_class: int, size: int, seed: int = 0) -> Iterator[Path]:
    from .labels import EMOTION_LABELS
    from .toy import write_synthetic_faces

    with tempfile.TemporaryDirectory(prefix="vega_bench_faces_") as tmp:
        yield write_synthetic_faces(tmp, EMOTION_LABELS["iemocap"], per_class, size=size, seed=seed, fmt="jpg")


def bench_anchors(
    images: str | os.PathLike[str] | None = None,
    *,
    precisions: Sequence[str] = ("fp32", "bf16"),
    num_workers: Sequence[int] = (0,),
    model_name: str = "ViT-B-32",
    batch_size: int = 32,
    per_class: int = 35,
    image_size: int = 320,
    max_images: int | None = None,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
) -> list[Record]:
    """Anchor building: encoding a folder of JPEGs with an open_clip image encoder (random weights).

    ``images``: a ``root/<class>/*.jpg`` folder; ``None`` writes 6 classes × ``per_class``
    synthetic ``image_size``² JPEGs. One mode per (precision, workers) pair, timed interleaved;
    each timed call is ``AnchorBank.from_image_folder`` (folder scan, decode, preprocess, encode) —
    or, with ``max_images``, ``encoder(paths[:max_images])`` (``subset: true``). Records carry
    ``images_per_s``, FLOPs per image (FlopCounterMode), achieved GFLOP/s and ``ratio_to_peak``
    (vs the same-run GEMM of the same precision), ``speedup_vs_fp32`` (vs the first fp32 mode),
    ``min_cosine_vs_fp32`` (low-precision modes: features of the same images), and
    ``decode_ms_per_image`` (decode + preprocess alone, which ``num_workers > 0`` overlaps with
    encoding). A low precision without ``"fp32"`` in ``precisions`` adds the fp32 reference mode
    first. Low-precision encoders cast the frozen model and inputs once (no autocast); on a CPU,
    ``cpu_native_low_precision`` says whether the CPU has native kernels for it (without them the
    low precision is emulated and slower, and no speed-up is to be expected).
    """
    from .anchors.bank import AnchorBank
    from .anchors.encoder import OpenCLIPImageEncoder
    from .anchors.folder import find_class_images, load_image
    from .toy import TINY_CLIP_MODEL, register_tiny_clip

    if any(p != "fp32" for p in precisions) and "fp32" not in precisions:
        precisions = ("fp32", *precisions)  # the reference for speedup_vs_fp32 and min_cosine_vs_fp32
    if model_name == TINY_CLIP_MODEL:
        register_tiny_clip()
    device = torch.device(device)
    with contextlib.ExitStack() as stack:
        root = Path(images) if images is not None else stack.enter_context(_synthetic_folder(per_class, image_size))
        groups = find_class_images(root)
        paths = [p for ps in groups.values() for p in ps]
        subset = max_images is not None and max_images < len(paths)
        timed_paths = paths[:max_images] if subset else paths

        torch.manual_seed(0)
        encoders: dict[str, OpenCLIPImageEncoder] = {}
        base: OpenCLIPImageEncoder | None = None
        for precision in precisions:
            for workers in num_workers:
                mode = f"{precision}-w{workers}"
                if base is None:
                    base = OpenCLIPImageEncoder(
                        model_name, None, device=device, precision=precision, batch_size=batch_size,
                        num_workers=workers, progress=False,
                    )  # fmt: skip
                    encoders[mode] = base
                else:  # same weights, other settings
                    enc = copy.copy(base)
                    enc.precision, enc.num_workers = precision, workers
                    encoders[mode] = enc
        assert base is not None, "precisions and num_workers must not be empty"

        pixels = base.preprocess(load_image(timed_paths[0]))[None].to(device, base._compute_dtype())
        flops_per_image = count_flops(lambda: base.model.encode_image(pixels))  # type: ignore[operator]
        start = time.perf_counter()
        for p in timed_paths[: min(16, len(timed_paths))]:
            base.preprocess(load_image(p))
        decode_ms = (time.perf_counter() - start) / min(16, len(timed_paths)) * 1000

        def call(enc: OpenCLIPImageEncoder) -> Callable[[], Any]:
            if subset:
                return lambda: enc(timed_paths)
            return lambda: AnchorBank.from_image_folder(root, enc)

        fns = {mode: call(enc) for mode, enc in encoders.items()}
        probes = {mode: _GemmProbe(enc.precision, device) for mode, enc in encoders.items()}
        memory = _PeakMemory(device)
        seconds, probed, peak = _interleaved(
            fns, repeats=repeats, warmup=warmup, device=device, probes=probes, memory=memory
        )
        # features for the agreement check: the fp32 reference and each low-precision mode
        reference = next((m for m, e in encoders.items() if e.precision == "fp32"), None)
        low = [m for m, e in encoders.items() if e.precision != "fp32"]
        features = {m: encoders[m](timed_paths) for m in ([reference, *low] if reference and low else [])}

    n = len(timed_paths)
    records = []
    for mode, enc in encoders.items():
        rate = [n / s for s in seconds[mode]]
        record: Record = {
            "workload": "anchors",
            "mode": mode,
            "precision": enc.precision,
            "num_workers": enc.num_workers,
            "model": model_name,
            "images": n,
            "images_total": len(paths),
            "subset": subset,
            "image_size": image_size if images is None else None,
            "batch_size": batch_size,
            "images_per_s": round(statistics.median(rate), 3),
            "images_per_s_max": round(max(rate), 3),
            **_time_fields(seconds[mode], "s"),
            "gflop_per_image": _sig(flops_per_image / 1e9),
            **_rate_fields(flops_per_image * n, seconds[mode], probes[mode], probed[mode]),
            "decode_ms_per_image": round(decode_ms, 3),
            "decode_overlapped": enc.num_workers > 0,
            "peak_memory_mb": round(peak[mode], 1),
            "memory_kind": memory.kind,
            "device": str(device),
            "threads": torch.get_num_threads(),
        }
        if reference is not None and mode != reference:
            record["speedup_vs_fp32"] = _paired_ratio(seconds[reference], seconds[mode])
        if mode in low and reference in features:
            cos = F.cosine_similarity(features[mode], features[reference], dim=-1)
            record["min_cosine_vs_fp32"] = round(float(cos.min()), 6)
        if enc.precision != "fp32":
            record["cast_once"] = True  # weights and inputs cast to the low dtype once, no autocast
            if device.type == "cpu":
                record["cpu_native_low_precision"] = _cpu_native(enc.precision)
        records.append(record)
    return records


def _cpu_native(precision: str) -> bool:
    from .anchors.encoder import _cpu_has_native

    return _cpu_has_native(precision)


# ---- CLI -----------------------------------------------------------------------------------------
def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per mode (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before timing")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden-dim", type=int, default=768)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--anchors-per-class", type=int, default=35)


def _anchor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", default=None, help="root/<class>/*.jpg; default: synthetic 320² JPEGs")
    parser.add_argument("--model-name", default="ViT-B-32", help="open_clip architecture (random weights)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=35, help="synthetic images per class")
    parser.add_argument("--image-size", type=int, default=320, help="synthetic image side")
    parser.add_argument("--max-images", type=int, default=None, help="time encoder(first N images) instead")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vega_anchors.bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train-step", help="one AdamW step, IEMOCAP shapes")
    p.add_argument("--mode", choices=["fp32", "bf16", "fp16"], action="append", help="repeatable; default fp32")
    p.add_argument("--padded", action="store_true", help="the padded baseline path")
    p.add_argument("--compare", action="store_true", help="also time the other path (speedup_vs_padded)")
    p.add_argument("--lengths", type=_ints, default=list(IEMOCAP_LENGTHS))
    _model_options(p)
    _common(p)

    p = sub.add_parser("overhead", help="anchor branch + its losses vs the backbone alone; predict vs forward")
    p.add_argument("--mode", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--lengths", type=_ints, default=list(IEMOCAP_LENGTHS))
    _model_options(p)
    _common(p)

    p = sub.add_parser("epoch", help="a training epoch on synthetic IEMOCAP")
    p.add_argument("--mode", choices=["fp32", "bf16", "fp16"], action="append", help="repeatable; default fp32, bf16")
    p.add_argument("--bucketed", action="store_true", help="also time fp32 with length-bucketed batches")
    p.add_argument("--padded", action="store_true", help="the padded baseline path")
    p.add_argument("--max-batches", type=int, default=None, help="time only the first N batches, extrapolate")
    p.add_argument("--num-dialogues", type=int, default=None, help="default 120 (the IEMOCAP train split)")
    p.add_argument("--batch-size", type=int, default=9)
    _model_options(p)
    _common(p)

    p = sub.add_parser("anchors", help="AnchorBank.from_image_folder with open_clip")
    p.add_argument(
        "--precision", choices=["fp32", "bf16", "fp16"], action="append",
        help="repeatable; default fp32. A low precision alone is compared with fp32 (images/s ratio, min cosine)",
    )  # fmt: skip
    p.add_argument("--num-workers", type=_ints, default=[0], help="comma list, e.g. 0,2")
    _anchor_options(p)
    _common(p)

    p = sub.add_parser("all", help="every workload, side by side")
    p.add_argument("--lengths", type=_ints, default=list(IEMOCAP_LENGTHS))
    p.add_argument("--max-batches", type=int, default=None, help="epoch: time only the first N batches")
    p.add_argument("--num-dialogues", type=int, default=None)
    p.add_argument("--num-workers", type=_ints, default=[0, 2], help="anchors: comma list")
    p.add_argument("--skip", type=lambda s: s.split(","), default=[], help="e.g. epoch,anchors")
    _model_options(p)
    _anchor_options(p)
    _common(p)
    return parser


def _run(args: argparse.Namespace) -> Iterator[Record]:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    timing = {"repeats": args.repeats, "warmup": args.warmup, "device": device}
    model = {}
    if hasattr(args, "hidden_dim"):
        model = {
            "hidden_dim": args.hidden_dim,
            "num_heads": args.num_heads,
            "anchors_per_class": args.anchors_per_class,
        }
    yield environment(device)
    cmd = args.command
    if cmd == "train-step":
        precisions = args.mode or ["fp32"]
        paths = ["-padded"] if args.padded else [""]
        if args.compare:
            paths = ["", "-padded"]
        modes = [p + s for p in precisions for s in paths]
        yield from bench_train_step(modes, lengths=args.lengths, **model, **timing)
    elif cmd == "overhead":
        yield from bench_overhead(precision=args.mode, lengths=args.lengths, **model, **timing)
    elif cmd == "epoch":
        modes = list(args.mode or ["fp32", "bf16"])
        if args.bucketed:
            modes.append("fp32-bucketed")
        yield from bench_epoch(
            modes, max_batches=args.max_batches, num_dialogues=args.num_dialogues, batch_size=args.batch_size,
            padded=args.padded, **model, **timing,
        )  # fmt: skip
    elif cmd == "anchors":
        yield from bench_anchors(
            args.images, precisions=args.precision or ["fp32"], num_workers=args.num_workers,
            model_name=args.model_name, batch_size=args.batch_size, per_class=args.per_class,
            image_size=args.image_size, max_images=args.max_images, **timing,
        )  # fmt: skip
    elif cmd == "all":
        yield gemm_peak("fp32", device=device, repeats=args.repeats)
        yield gemm_peak("bf16", device=device, repeats=args.repeats)
        if "train-step" not in args.skip:
            yield from bench_train_step(("fp32", "fp32-padded", "bf16"), lengths=args.lengths, **model, **timing)
        if "overhead" not in args.skip:
            yield from bench_overhead(lengths=args.lengths, **model, **timing)
        if "epoch" not in args.skip:
            yield from bench_epoch(
                ("fp32", "bf16", "fp32-bucketed"), max_batches=args.max_batches, num_dialogues=args.num_dialogues,
                **model, **timing,
            )  # fmt: skip
        if "anchors" not in args.skip:
            yield from bench_anchors(
                args.images, precisions=("fp32", "bf16"), num_workers=args.num_workers, model_name=args.model_name,
                batch_size=args.batch_size, per_class=args.per_class, image_size=args.image_size,
                max_images=args.max_images, **timing,
            )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: prints one JSON line per result record."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    for record in _run(args):
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
