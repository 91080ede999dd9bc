"""Measurement helpers of the benchmarks: FLOP counting, the same-run GEMM probe, peak memory,
interleaved timing (:func:`time_modes`) and the one record builder (:func:`record`) every workload
uses."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..distributed import low_precision_dtype

Record = dict[str, Any]
"""One JSON-ready result row."""



def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
        dtype = low_precision_dtype(self.precision) or torch.float32
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


@dataclass
class Timing:
    """What :func:`time_modes` measured: per-mode seconds of each timed call, the GEMM rate probed
    just before it (GFLOP/s), the peak memory (MiB), and the probes and memory gauge used."""

    seconds: dict[str, list[float]]
    probed: dict[str, list[float]]
    peak_mb: dict[str, float]
    probes: dict[str, _GemmProbe]
    memory: _PeakMemory
    device: torch.device

    def ratio(self, numerator: str, denominator: str) -> float:
        """Median over rounds of ``seconds[numerator] / seconds[denominator]``."""
        return _paired_ratio(self.seconds[numerator], self.seconds[denominator])


def time_modes(
    fns: Mapping[str, Callable[[], Any]],
    precisions: Mapping[str, str],
    *,
    repeats: int,
    warmup: int,
    device: torch.device,
) -> Timing:
    """Time every mode of ``fns`` interleaved, with a GEMM probe of ``precisions[mode]`` before
    each timed call and the peak memory of each call."""
    probes = {mode: _GemmProbe(precisions[mode], device) for mode in fns}
    memory = _PeakMemory(device)
    seconds, probed, peak = _interleaved(
        fns, repeats=repeats, warmup=warmup, device=device, probes=probes, memory=memory
    )
    return Timing(seconds, probed, peak, probes, memory, device)


def record(
    workload: str, mode: str, timing: Timing, *, flops: int | None = None, unit: str = "ms", **fields: Any
) -> Record:
    """The one record layout: ``workload``, ``mode``, the workload's ``fields``, then
    ``median_<unit>``/``min_<unit>``/``repeats``, FLOPs and rates (``gflop``, ``achieved_gflops``,
    ``ratio_to_peak``; with ``flops``) or the GEMM probe alone, ``peak_memory_mb``, ``memory_kind``,
    ``device`` and ``threads``."""
    seconds = timing.seconds[mode]
    if flops is not None:
        rates = _rate_fields(flops, seconds, timing.probes[mode], timing.probed[mode])
    else:
        rates = timing.probes[mode].summary()
    return {
        "workload": workload,
        "mode": mode,
        **fields,
        **_time_fields(seconds, unit),
        **rates,
        "peak_memory_mb": round(timing.peak_mb[mode], 1),
        "memory_kind": timing.memory.kind,
        "device": str(timing.device),
        "threads": torch.get_num_threads(),
    }
