""":func:`fit`: the training run, read top to bottom. Setup, resume, then per epoch: train
(:func:`~vega_anchors.training.loop.train_epoch`), evaluate and select
(:mod:`~vega_anchors.training.evaluate`), callbacks, log and checkpoints
(:mod:`~vega_anchors.training.checkpoint`); at the end the selected weights are loaded and tested.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write_text
from ..data import Dialogue
from ..models import DualBranchVEGA
from .callbacks import Callback, TrainState, call_hooks
from .checkpoint import load_checkpoint, restore, save_epoch_checkpoints
from .config import EvalResult, FitResult, TrainConfig
from .evaluate import batch_indices, consider_best, evaluate, selection_split
from .loop import EpochStats, setup, train_epoch

__all__ = ["fit"]

logger = logging.getLogger(__name__)


def fit(
    model: DualBranchVEGA,
    train: Sequence[Dialogue],
    *,
    config: TrainConfig | None = None,
    val: Sequence[Dialogue] | None = None,
    test: Sequence[Dialogue] | None = None,
    class_names: Sequence[str] | None = None,
    resume_from: str | os.PathLike[str] | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train ``model`` with AdamW and select the best epoch by weighted F1.

    Model selection uses ``val``; when ``val`` is None, ``config.val_fraction`` of the training
    dialogues is held out (deterministically). ``config.select_on_test_paper_protocol`` selects on
    ``test`` instead, like the official code (optimistic; for reproducing the paper only).

    With ``config.checkpoint_dir``, ``last.pt`` (everything needed to resume exactly: model,
    optimizer, scheduler, RNG states including the anchor sampler's, epoch, history) and
    ``best.pt`` are written atomically every epoch. ``resume_from`` continues such a run; on CPU the
    result is bit-identical to an uninterrupted run.

    One truth: at the end the selected weights (the moving average when ``ema_decay`` is set) are
    loaded into ``model``; ``best_score`` and the test score are those weights' scores.
    ``callbacks`` (:class:`~vega_anchors.training.Callback`) see every step, epoch and improvement.
    """
    cfg = config or TrainConfig()
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    train, selection, selected_on = selection_split(train, val=val, test=test, config=cfg)
    engine = setup(model, train, cfg, fit_inputs=resume_from is None)
    state = TrainState(model=model, scored=engine.scored, rank=engine.rank, world_size=engine.world)
    state.best_model = copy.deepcopy(engine.scored.state_dict())
    if resume_from is not None:
        per_epoch = len(batch_indices(train, cfg.batch_size, shuffle=False, bucket_by_length=cfg.bucket_by_length))
        restore(load_checkpoint(resume_from), engine, state, source=resume_from, batches_per_epoch=per_epoch)
        logger.info("resumed from %s at epoch %d", resume_from, state.epoch)

    def evaluate_on(dialogues: Sequence[Dialogue], weights: DualBranchVEGA) -> EvalResult:
        return evaluate(weights, dialogues, batch_size=cfg.batch_size, device=engine.device,
                        precision=cfg.precision, class_names=class_names)  # fmt: skip

    for epoch in range(state.epoch, cfg.epochs):
        if cfg.patience is not None and state.best_epoch > 0 and epoch - state.best_epoch >= cfg.patience:
            logger.info("early stop: no improvement for %d epochs", cfg.patience)
            break
        state.epoch = epoch + 1
        stats = train_epoch(engine, train, cfg, state, callbacks)
        evaluation = evaluate_on(selection, engine.scored)
        improved = consider_best(state, evaluation.metrics.weighted_f1)
        record = _epoch_record(stats, evaluation, selected_on, engine.optimizer.param_groups[0]["lr"], state)
        state.history.append(record)
        _log_epoch(record, selected_on, improved)
        if improved:
            call_hooks(callbacks, "on_best", state, record)
        call_hooks(callbacks, "on_epoch_end", state, record)
        if engine.rank == 0:
            if cfg.log_path:
                atomic_write_text(cfg.log_path, json.dumps(state.history, indent=1))
            if cfg.checkpoint_dir:
                save_epoch_checkpoints(Path(cfg.checkpoint_dir), engine, state, cfg, improved=improved)

    model.load_state_dict(state.best_model)
    test_result = evaluate_on(test, model) if test else None
    return FitResult(state.history, state.best_epoch, state.best_score, test_result, selected_on)


def _epoch_record(
    stats: EpochStats, evaluation: EvalResult, selected_on: str, lr: float, state: TrainState
) -> dict[str, Any]:
    """The epoch's history entry (the JSON log's record)."""
    return {
        "epoch": state.epoch,
        "train_loss": stats.train_loss,
        f"{selected_on}_loss": evaluation.loss,
        f"{selected_on}_weighted_f1": evaluation.metrics.weighted_f1,
        f"{selected_on}_accuracy": evaluation.metrics.accuracy,
        "lr": lr,
        "seconds": stats.seconds,
        "utterances_per_s": stats.utterances / stats.seconds if stats.seconds > 0 else None,
        "best_epoch": state.best_epoch,
    }


def _log_epoch(record: dict[str, Any], selected_on: str, improved: bool) -> None:
    logger.info(
        "epoch %d: loss %.4f %s w-F1 %.4f%s",
        record["epoch"],
        record["train_loss"].get("total", float("nan")),
        selected_on,
        record[f"{selected_on}_weighted_f1"],
        " (best)" if improved else "",
    )
