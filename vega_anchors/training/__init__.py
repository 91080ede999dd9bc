"""A small training engine for DualBranchVEGA: fit, evaluate, checkpoint, resume, callbacks.

It is a recipe, not a framework, split so each part reads on its own:

* :mod:`.config`: :class:`TrainConfig` (what ``fit`` reads), :class:`FitResult`, :class:`EvalResult`;
* :mod:`.fitting`: :func:`fit`, the run from top to bottom;
* :mod:`.loop`: :func:`setup`, :func:`train_step` (one optimizer step, also timed by
  ``python -m vega_anchors.bench``) and :func:`train_epoch`;
* :mod:`.evaluate`: :func:`evaluate`, the batch order and model selection;
* :mod:`.schedule`: the budget in steps, the learning-rate schedule over it, "still improving";
* :mod:`.checkpoint`: the one checkpoint layout (``last.pt``/``best.pt``), save, load, restore;
* :mod:`.callbacks`: :class:`Callback` hooks and the :class:`TrainState` they see.

It runs unchanged under ``torchrun --nproc_per_node=N`` (each rank trains on its share of every
batch; DDP averages gradients; evaluation happens on every rank, logs and checkpoints on rank 0).
"""

from __future__ import annotations

from ..distributed import init_distributed
from .callbacks import Callback, TrainState
from .checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from .config import EvalResult, FitResult, Precision, TrainConfig
from .evaluate import batch_indices, evaluate, iterate_batches
from .fitting import fit
from .loop import Engine, EpochStats, make_optimizer, make_scaler, setup, train_epoch, train_step

__all__ = [
    "CHECKPOINT_FORMAT",
    "Callback",
    "Engine",
    "EpochStats",
    "EvalResult",
    "FitResult",
    "Precision",
    "TrainConfig",
    "TrainState",
    "batch_indices",
    "evaluate",
    "fit",
    "init_distributed",
    "iterate_batches",
    "load_checkpoint",
    "make_optimizer",
    "make_scaler",
    "save_checkpoint",
    "setup",
    "train_epoch",
    "train_step",
]
