"""The training budget and the learning-rate schedule over it (one home for both).

The budget is counted in optimizer steps. :func:`plan_budget` turns a
:class:`~vega_anchors.training.TrainConfig` and the number of batches an epoch into a
:class:`Budget`: with ``max_steps`` the run lasts ``ceil(max_steps / batches_per_epoch)`` epochs
(whole epochs, so the budget is ``max_steps`` rounded up to an epoch), else ``epochs`` epochs. The
learning rate (:func:`lr_factor`) rises linearly over the first ``warmup_fraction`` of the budget,
then stays (``scheduler="none"``) or decays to 0 at the end of the budget (``"cosine"`` or
``"linear"``). :func:`still_improving` says whether a selected step lies in the last 10% of the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["STILL_IMPROVING_FRACTION", "Budget", "lr_factor", "make_scheduler", "plan_budget", "still_improving"]

STILL_IMPROVING_FRACTION = 0.1
"""A best checkpoint in this last share of the budget means the run was still improving."""


@dataclass(frozen=True)
class Budget:
    """A run's budget: ``steps`` optimizer steps = ``epochs`` × ``batches_per_epoch``; ``warmup_steps``
    of linear warm-up at its start."""

    steps: int
    epochs: int
    batches_per_epoch: int
    warmup_steps: int


def plan_budget(config: TrainConfig, batches_per_epoch: int) -> Budget:
    """The budget of ``config`` for data with ``batches_per_epoch`` batches an epoch (``max_steps`` when
    set, rounded up to whole epochs; else ``epochs``)."""
    per_epoch = max(int(batches_per_epoch), 1)
    epochs = math.ceil(config.max_steps / per_epoch) if config.max_steps is not None else config.epochs
    steps = epochs * per_epoch
    return Budget(steps, epochs, per_epoch, round(config.warmup_fraction * steps))


def lr_factor(step: int, budget: Budget, scheduler: str) -> float:
    """The learning rate's multiplier for optimizer step ``step`` (0-based: the factor used by the
    ``step + 1``-th update).

    Linear warm-up ``(step + 1) / (warmup_steps + 1)`` over ``budget.warmup_steps`` steps, then 1
    (``"none"``), ``0.5 (1 + cos(π p))`` (``"cosine"``) or ``1 - p`` (``"linear"``), where ``p`` is
    the share of the post-warm-up budget already spent (0 at its start, 1 at its end).
    """
    if step < budget.warmup_steps:
        return (step + 1) / (budget.warmup_steps + 1)
    if scheduler == "none":
        return 1.0
    span = max(budget.steps - budget.warmup_steps, 1)
    progress = min(max(step - budget.warmup_steps, 0) / span, 1.0)
    if scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if scheduler == "linear":
        return 1.0 - progress
    raise ValueError(f"unknown scheduler {scheduler!r}; use 'none', 'cosine' or 'linear'")


def make_scheduler(
    optimizer: torch.optim.Optimizer, budget: Budget, scheduler: str
) -> torch.optim.lr_scheduler.LambdaLR | None:
    """A per-step ``LambdaLR`` following :func:`lr_factor` (stepped after every optimizer step), or
    None when the rate is constant (no warm-up, ``scheduler="none"``). Its state (``last_epoch`` = steps
    taken) is checkpointed, so a resumed run continues the schedule exactly."""
    if scheduler == "none" and budget.warmup_steps == 0:
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, budget, scheduler))


def still_improving(best_step: int, budget_steps: int) -> bool:
    """Whether the selected checkpoint (after ``best_step`` optimizer steps) lies in the last
    :data:`STILL_IMPROVING_FRACTION` of a ``budget_steps`` budget: more budget may help."""
    if budget_steps <= 0 or best_step <= 0:
        return False
    return best_step > (1.0 - STILL_IMPROVING_FRACTION) * budget_steps
