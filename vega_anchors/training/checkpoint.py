"""The one owner of the checkpoint layout that :func:`~vega_anchors.training.fit` writes and reads.

``last.pt`` (:func:`resume_state`) holds everything needed to continue a run exactly; ``best.pt``
(:func:`best_state`) the selected weights. Both are dicts tagged ``format: "vega-anchors/checkpoint"``,
written atomically and read with ``weights_only=True``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .._io import atomic_write, safe_torch_load
from .callbacks import TrainState
from .config import TrainConfig

if TYPE_CHECKING:
    from .loop import Engine

__all__ = [
    "CHECKPOINT_FORMAT",
    "best_state",
    "load_checkpoint",
    "restore",
    "resume_state",
    "save_checkpoint",
    "save_epoch_checkpoints",
]

CHECKPOINT_FORMAT = "vega-anchors/checkpoint"
"""The ``format`` tag of every checkpoint ``fit`` writes."""


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write a training checkpoint atomically (readable with ``torch.load(weights_only=True)``)."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (data only: ``weights_only=True``)."""
    state = safe_torch_load(path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vega-anchors training checkpoint")
    return state


def rng_state() -> dict[str, Any]:
    """The torch, Python and (when available) CUDA generator states."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resume_state(engine: Engine, state: TrainState, config: TrainConfig) -> dict[str, Any]:
    """The ``last.pt`` dict: model (with the anchor sampler's generator), optimizer, scheduler,
    scaler, weight average, RNG states, epochs done, steps, history, best weights, both configs."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": state.model.state_dict(),
        "optimizer": engine.optimizer.state_dict(),
        "scheduler": engine.scheduler.state_dict() if engine.scheduler is not None else None,
        "scaler": engine.scaler.state_dict(),
        "ema": engine.ema.state_dict() if engine.ema is not None else None,
        "epoch": state.epoch,
        "step": state.step,
        "history": state.history,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "best_step": state.best_step,
        "best_model": state.best_model,
        "rng": rng_state(),
        "config": state.model.config.model_dump(),
        "train_config": config.model_dump(),
    }


def best_state(state: TrainState) -> dict[str, Any]:
    """The ``best.pt`` dict: ``format``, ``model`` (the selected weights), ``epoch``, ``config``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "model": state.best_model,
        "epoch": state.best_epoch,
        "config": state.model.config.model_dump(),
    }


def save_epoch_checkpoints(
    directory: Path, engine: Engine, state: TrainState, config: TrainConfig, *, improved: bool
) -> None:
    """Write ``directory/last.pt`` and, when the epoch improved, ``directory/best.pt``."""
    save_checkpoint(directory / "last.pt", resume_state(engine, state, config))
    if improved:
        save_checkpoint(directory / "best.pt", best_state(state))


def restore(
    checkpoint: dict[str, Any], engine: Engine, state: TrainState, *, source: object, batches_per_epoch: int
) -> None:
    """Load a ``last.pt`` dict (from :func:`load_checkpoint`) into ``engine`` and ``state`` and set
    the RNG states, so the run continues as if it had never stopped.

    ``batches_per_epoch`` gives ``state.step`` (and ``state.best_step``) for checkpoints written
    before steps were saved. The scheduler's state (steps taken) continues the schedule exactly.

    Raises:
        ValueError: the checkpoint was saved with ``ema_decay`` and the run has none, or the reverse.
    """
    if (engine.ema is None) != (checkpoint.get("ema") is None):
        saved = "without" if engine.ema is not None else "with"
        raise ValueError(f"{source} was saved {saved} ema_decay; resume with the same TrainConfig")
    state.model.load_state_dict(checkpoint["model"])
    engine.optimizer.load_state_dict(checkpoint["optimizer"])
    if engine.scheduler is not None and checkpoint.get("scheduler") is not None:
        engine.scheduler.load_state_dict(checkpoint["scheduler"])
    engine.scaler.load_state_dict(checkpoint["scaler"])
    if engine.ema is not None:
        engine.ema.load_state_dict(checkpoint["ema"])
    state.history, state.epoch = checkpoint["history"], checkpoint["epoch"]
    state.step = checkpoint.get("step", state.epoch * batches_per_epoch)
    state.best_score, state.best_epoch = checkpoint["best_score"], checkpoint["best_epoch"]
    state.best_step = checkpoint.get("best_step", state.best_epoch * batches_per_epoch)
    state.best_model = checkpoint["best_model"]
    set_rng_state(checkpoint["rng"])
