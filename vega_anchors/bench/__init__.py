"""Benchmarks: ``python -m vega_anchors.bench {train-step,overhead,epoch,anchors,media,compare,finetune,annotate,all}``.

Every workload function returns a list of JSON-ready records (dicts); only the CLI prints them, one
JSON line per record. Modes of one workload are timed *interleaved* (round-robin, one call of each
mode per round), so slow phases of a shared, noisy machine hit every mode alike; ratios between
modes (``speedup_vs_padded``, ``overhead``, ...) are medians of the per-round ratios.

FLOPs are counted once, outside timing, with :class:`torch.utils.flop_counter.FlopCounterMode`
(matrix products and convolutions; elementwise work is not counted). ``ratio_to_peak`` compares the
achieved rate with a GEMM of the same dtype timed in the same run (``F.linear`` on ``n × n``
matrices: it is the kernel the models run; on CPUs without native bf16, ``torch.mm`` in bf16 takes
a far slower fallback kernel than ``F.linear``).

Sizes default to the paper's IEMOCAP setting (:class:`ModelShape`); every size is an argument, so
tests run the same code at tiny sizes. Training steps are the engine's own
:func:`vega_anchors.training.train_step`, the step ``fit`` runs.

Layout: :mod:`._measure` (timing, FLOPs, GEMM probe, memory, the one record builder),
:mod:`.workloads` (the workload functions), :mod:`._cli` (the command line; ``__main__``).
"""

from __future__ import annotations

from ._cli import main
from ._measure import GEMM_SIZE, count_flops, environment, gemm_peak
from .workloads import (
    IEMOCAP_LENGTHS,
    IEMOCAP_MODALITIES,
    ModelShape,
    bench_anchors,
    bench_epoch,
    bench_overhead,
    bench_train_step,
)

__all__ = [
    "GEMM_SIZE",
    "IEMOCAP_LENGTHS",
    "IEMOCAP_MODALITIES",
    "ModelShape",
    "bench_anchors",
    "bench_epoch",
    "bench_overhead",
    "bench_train_step",
    "count_flops",
    "environment",
    "gemm_peak",
    "main",
]
