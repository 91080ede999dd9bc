"""Hooks into :func:`~vega_anchors.training.fit`: log to your tracker without editing the engine.

A :class:`Callback` sees a :class:`TrainState` after every optimizer step, after every epoch and
when an epoch improves the selection score. Exceptions raised by a callback propagate out of
``fit`` (nothing is swallowed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import DualBranchVEGA, VEGALoss

__all__ = ["Callback", "TrainState"]


@dataclass
class TrainState:
    """Where a run stands; :func:`fit` updates it in place and hands it to every :class:`Callback`.

    Attributes:
        model: the model being trained (raw weights; under DDP the unwrapped module).
        scored: the weights that are evaluated, selected and returned: the moving average when
            ``TrainConfig.ema_decay`` is set, else ``model`` itself.
        epoch: during an epoch, the 1-based number of the epoch running; after it, the number of
            epochs completed (so a checkpoint's ``epoch`` is where a resumed run continues).
        step: optimizer steps taken since the start of the run (resumed runs included).
        history: one record per finished epoch (the dicts of ``FitResult.history``).
        best_epoch: the 1-based epoch with the best selection score so far (0 = none yet).
        best_step: optimizer steps taken when that epoch was evaluated (0 = none yet).
        best_score: its weighted F1 (``-inf`` before the first evaluation).
        best_model: ``scored.state_dict()`` of the best epoch (a deep copy).
        loss: the last step's :class:`~vega_anchors.models.VEGALoss` (``total`` and ``terms``; tensors
            on the training device, attached to nothing: read them with ``float(...)``).
        rank: this process's rank; ``world_size``: the number of processes (``1`` outside DDP).
    """

    model: DualBranchVEGA
    scored: DualBranchVEGA
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_step: int = 0
    best_score: float = -math.inf
    best_model: dict[str, Any] = field(default_factory=dict)
    loss: VEGALoss | None = None
    rank: int = 0
    world_size: int = 1


class Callback:
    """Base class of :func:`fit` callbacks: override the hooks you need; the others do nothing.

    ``fit(..., callbacks=[...])`` calls them in list order, **on every rank** (check
    ``state.rank == 0`` to log once under torchrun). The per-epoch hooks run after the epoch's
    evaluation and before the JSON log and checkpoints are written, so JSON-ready keys a hook adds
    to ``record`` are saved with it. Exceptions propagate out of ``fit``.
    """

    def on_step_end(self, state: TrainState) -> None:
        """After every optimizer step (``state.step`` counts them, ``state.loss`` is its loss)."""

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        """After every evaluation (one per epoch); ``record`` is the epoch's history entry (``epoch``,
        ``step``, ``train_loss``, ``<selected_on>_weighted_f1`` (the selection score), ``best_epoch``,
        ``best_step``, ``lr``, ...)."""

    def on_best(self, state: TrainState, record: dict[str, Any]) -> None:
        """When an epoch improves the selection score (before ``on_epoch_end`` of that epoch);
        ``state.best_model`` already holds its weights."""


def call_hooks(callbacks: Sequence[Callback], hook: str, *args: Any) -> None:
    """Call ``hook`` (a :class:`Callback` method name) on each callback, in order."""
    for callback in callbacks:
        getattr(callback, hook)(*args)
