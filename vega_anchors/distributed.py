"""Process, device and precision helpers, in one place: rank and world size, torchrun setup, the
default device, autocast by precision name, and sharded anchor encoding.

Everything here is the identity outside ``torch.distributed`` (or with one process), so code that
calls it runs unchanged on a laptop and under ``torchrun``.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import torch
from torch import Tensor

__all__ = [
    "PRECISIONS",
    "Precision",
    "autocast",
    "default_device",
    "init_distributed",
    "is_distributed",
    "low_precision_dtype",
    "rank_and_world",
    "shard_encode",
    "sync_errors",
    "world_size",
]

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
"""The numeric precisions of encoders, training and benchmarks: ``("fp32", "bf16", "fp16")``."""
_LOW_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}

logger = logging.getLogger(__name__)


def is_distributed() -> bool:
    """``True`` when ``torch.distributed`` is initialised with more than one process."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside ``torch.distributed``."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def world_size() -> int:
    """Number of processes in ``torch.distributed``; 1 outside it."""
    return rank_and_world()[1]


def init_distributed() -> tuple[int, int]:
    """Initialise ``torch.distributed`` from torchrun's environment (gloo on CPU, nccl on CUDA).
    Returns ``(rank, world_size)``; ``(0, 1)`` outside torchrun."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return rank_and_world()


_SYNC_GROUPS: dict[int, Any] = {}


def sync_errors(error: BaseException | None = None, *, what: str = "the work", hours: float = 48.0) -> None:
    """A barrier that carries errors: every rank calls it (``error``: what this rank raised, or None),
    waits for all the others, and raises on every rank if any rank failed — so no rank waits forever
    on one that stopped. The identity outside ``torch.distributed``.

    It runs on a CPU (gloo) group with a long timeout (``hours``): ranks of an uneven share may
    arrive hours apart, longer than NCCL's default timeout.

    Raises:
        The rank's own ``error``; on the other ranks RuntimeError naming each failed rank and its error.
    """
    if not is_distributed():
        if error is not None:
            raise error
        return
    key = id(torch.distributed.group.WORLD)
    if key not in _SYNC_GROUPS:
        _SYNC_GROUPS[key] = torch.distributed.new_group(backend="gloo", timeout=datetime.timedelta(hours=hours))
    gathered: list[Any] = [None] * world_size()
    message = None if error is None else f"{type(error).__name__}: {error}"
    torch.distributed.all_gather_object(gathered, message, group=_SYNC_GROUPS[key])
    failed = [f"rank {r}: {m}" for r, m in enumerate(gathered) if m is not None]
    if error is not None:
        raise error
    if failed:
        raise RuntimeError(f"{what} failed on " + "; ".join(failed))


def default_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given; else this process's CUDA device (``LOCAL_RANK``) when CUDA is available,
    else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def low_precision_dtype(precision: str) -> torch.dtype | None:
    """``torch.bfloat16``/``torch.float16`` for ``"bf16"``/``"fp16"``, ``None`` for ``"fp32"``."""
    if precision == "fp32":
        return None
    if precision not in _LOW_PRECISION:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return _LOW_PRECISION[precision]


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Autocast to ``precision`` on ``device`` (a no-op for ``"fp32"``). fp16 needs CUDA."""
    device = torch.device(device)
    dtype = low_precision_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; use 'bf16' on CPU")
    return torch.autocast(device.type, dtype=dtype)


def _signature(images: Sequence[Any]) -> str:
    """A digest of the image list, so ranks can check they were given the same one."""
    digest = hashlib.sha1(usedforsecurity=False)
    for item in images:
        name = os.fspath(item) if isinstance(item, str | os.PathLike) else f"<{type(item).__name__}>"
        digest.update(str(name).encode("utf-8", "surrogatepass") + b"\0")
    return f"{len(images)}:{digest.hexdigest()}"


def shard_encode(encoder: Callable[[Sequence[Any]], Tensor], images: Sequence[Any]) -> Tensor:
    """Encode ``images`` with every rank doing a share: rank ``r`` encodes ``images[r::world]``.

    The features of all ranks are gathered (``all_gather_object``, on CPU) and put back in the order
    of ``images``, so every rank returns the same ``[N, dim]`` tensor that ``encoder(images)`` would
    give in one process. Every rank must call this with the same ``images`` (checked). Outside
    ``torch.distributed`` this is ``encoder(images)``.

    Args:
        encoder: ``images -> [n, dim]`` (e.g. an :class:`~vega_anchors.encoders.OpenCLIPImageEncoder`).
        images: image paths or PIL images, the same list on every rank.

    Returns:
        ``[len(images), dim]`` features (on CPU when distributed; the encoder's dtype).

    Raises:
        ValueError: the ranks hold different image lists, or an encoder returned the wrong number of
            rows. If the encoder raises on one rank, every rank raises (no rank is left waiting).
    """
    images = list(images)
    rank, world = rank_and_world()
    if world == 1:
        return torch.as_tensor(encoder(images))
    mine = images[rank::world]
    result: Tensor | None = None
    error: str | None = None
    try:
        if mine:
            result = torch.as_tensor(encoder(mine)).detach().cpu()
            if result.dim() != 2 or result.shape[0] != len(mine):
                raise ValueError(f"encoder returned features of shape {tuple(result.shape)} for {len(mine)} images")
    except Exception as err:  # reported on every rank below, so no rank waits forever
        error = f"{type(err).__name__}: {err}"
    gathered: list[Any] = [None] * world
    torch.distributed.all_gather_object(gathered, (_signature(images), result, error))
    signatures = {sig for sig, _, _ in gathered}
    if len(signatures) > 1:
        raise ValueError(f"shard_encode: ranks were given different image lists ({sorted(signatures)})")
    errors = [f"rank {r}: {err}" for r, (_, _, err) in enumerate(gathered) if err is not None]
    if errors:
        raise ValueError("encoding failed on " + "; ".join(errors))
    parts = [(r, feats) for r, (_, feats, _) in enumerate(gathered) if feats is not None]
    if not parts:
        raise ValueError("shard_encode needs at least one image")
    first = parts[0][1]
    dims = {feats.shape[-1] for _, feats in parts}
    if len(dims) > 1:
        raise ValueError(f"ranks returned features of different dims: {sorted(dims)}")
    out = torch.empty(len(images), first.shape[-1], dtype=first.dtype)
    for r, feats in parts:
        out[r::world] = feats.to(first.dtype)
    logger.debug("rank %d encoded %d of %d images", rank, len(mine), len(images))
    return out
