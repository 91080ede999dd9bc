"""``python -m vega_anchors.bench features --ranks 1,2``: ``build_features`` shared by N processes.

:func:`build_with_ranks` starts ``world`` processes on this machine (``torch.multiprocessing`` spawn,
gloo over a file store — what ``torchrun --nproc-per-node N`` sets up, without the launcher) and runs
:func:`~vega_anchors.features.build_features` in each; rank 0 writes the store. :func:`bench_features`
times it for each rank count on generated MELD-like clips (a fresh cache each time) and checks the
stores are identical.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["bench_features", "build_with_ranks"]


def _rank_main(
    rank: int, world: int, init_file: str, kwargs: dict[str, Any], setup: Callable[[], None] | None, threads: int
) -> None:
    import torch
    import torch.distributed as dist

    from ..features import build_features

    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        if setup is not None:
            setup()
        torch.manual_seed(0)  # random-weight test models start alike on every rank
        build_features(**kwargs)
    finally:
        dist.destroy_process_group()


def build_with_ranks(
    world: int, kwargs: Mapping[str, Any], *, setup: Callable[[], None] | None = None, threads: int = 1
) -> float:
    """Run ``build_features(**kwargs)`` in ``world`` spawned processes (gloo); the wall seconds.

    ``kwargs`` must name ``out`` (rank 0 writes it) and may name ``cache_dir`` (shared by the ranks).
    ``setup`` runs first in each process (e.g. registering a test model); every process seeds torch
    with 0 before building. Raises when a process fails.
    """
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "store")
        start = time.perf_counter()
        mp.spawn(_rank_main, args=(world, init_file, dict(kwargs), setup, threads), nprocs=world, join=True)
        return time.perf_counter() - start


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _same_store(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    x, y = load_file(str(a)), load_file(str(b))
    return x.keys() == y.keys() and all(bool((x[k] == y[k]).all()) and x[k].dtype == y[k].dtype for k in x)


def bench_features(
    *,
    ranks: Sequence[int] = (1, 2),
    dialogues: int = 4,
    utterances: int = 3,
    encoder: str | None = None,
    audio: str | None = "opensmile:IS09",
    visual: str | None = "clip-face:ViT-B-32-quickgelu",
    num_frames: int = 4,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """Time ``build_features`` over generated MELD-like clips (``dialogues × utterances`` per split; text by
    ``encoder``, audio and visual as named; CLIP with random weights) with each rank count, a fresh cache each.

    Returns one record per rank count: ``ranks``, ``seconds`` (wall, process start and model loading
    included), ``cpu_seconds`` (all processes together), ``load_average_1min`` (at the end),
    ``utterances``, ``speedup`` (over the first rank count) and ``identical`` (the store equals the
    first rank count's, tensor for tensor).
    """
    from ..features import MediaOptions
    from ..media.benchmark import write_meld_folder

    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tables = write_meld_folder(root / "meld", dialogues=dialogues, utterances=utterances)
        media = MediaOptions(layout="meld", directory=root / "meld", audio=audio, visual=visual, num_frames=num_frames)
        first: Path | None = None
        for world in ranks:
            out = root / f"store-{world}.safetensors"
            kwargs = {"tables": tables, "encoder": encoder, "media": media, "cache_dir": root / f"cache-{world}",
                      "labels": "meld", "progress": False, "out": out}  # fmt: skip
            cpu = _children_cpu()
            seconds = build_with_ranks(world, kwargs, threads=threads)
            cpu = _children_cpu() - cpu
            first = first or out
            records.append({
                "workload": "features", "ranks": world, "threads_per_rank": threads, "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 1), "load_average_1min": round(os.getloadavg()[0], 1),
                "utterances": 3 * dialogues * utterances, "encoder": encoder, "audio": audio, "visual": visual,
                "num_frames": num_frames, "speedup": round(records[0]["seconds"] / seconds, 2) if records else 1.0,
                "identical": _same_store(first, out),
            })  # fmt: skip
    return records
