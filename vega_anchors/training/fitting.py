""":func:`fit`: the training run, read top to bottom. Setup, resume, then per epoch: train
(:func:`~vega_anchors.training.loop.train_epoch`), evaluate and select
(:mod:`~vega_anchors.training.evaluate`), callbacks, log and checkpoints
(:mod:`~vega_anchors.training.checkpoint`), until the budget (:mod:`~vega_anchors.training.schedule`)
is spent or early stopping ends the run; at the end the selected weights are loaded and tested.
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
from .evaluate import consider_best, evaluate, selection_split
from .loop import EpochStats, setup, train_epoch
from .schedule import Budget, still_improving

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
    val_name: str = "validation",
) -> FitResult:
    """Train ``model`` with AdamW over the budget of ``config`` and select the best evaluation by
    weighted F1 (one evaluation per epoch).

    Model selection uses ``val``, named ``val_name`` in the history, log and result (e.g. ``"dev"``);
    when ``val`` is None, ``config.val_fraction`` of the training dialogues is held out (named
    ``"validation"``); ``config.select_on_test_paper_protocol`` selects on ``test`` (the paper's
    optimistic protocol). The one choice is :func:`~vega_anchors.training.evaluate.selection_split`.

    The budget is ``config.max_steps`` optimizer steps (rounded up to whole epochs) or
    ``config.epochs``; the learning rate warms up and decays over it, and early stopping waits for
    ``config.min_steps`` (:mod:`~vega_anchors.training.schedule`). When the selected step lies in the
    last 10% of the budget, the log warns "still improving" and ``FitResult.still_improving`` is True.

    With ``config.checkpoint_dir``, ``last.pt`` (all that an exact resume needs, the schedule's
    state included) and ``best.pt`` are written atomically every epoch. ``resume_from`` continues such
    a run; on CPU the result is bit-identical to an uninterrupted run.

    One truth: at the end the selected weights (the moving average with ``ema_decay``) are loaded into
    ``model``; ``best_score``, ``selection`` and ``test`` are those weights' evaluations. ``callbacks``
    (:class:`~vega_anchors.training.Callback`) see every step, evaluation and improvement.
    """
    cfg = config or TrainConfig()
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    train, selection, selected_on = selection_split(
        train, val=val, test=test, val_fraction=cfg.val_fraction, seed=cfg.seed,
        paper_protocol=cfg.select_on_test_paper_protocol, val_name=val_name,
    )  # fmt: skip
    engine = setup(model, train, cfg, fit_inputs=resume_from is None)
    state = TrainState(model=model, scored=engine.scored, rank=engine.rank, world_size=engine.world)
    state.best_model = copy.deepcopy(engine.scored.state_dict())
    if resume_from is not None:
        restore(load_checkpoint(resume_from), engine, state, source=resume_from,
                batches_per_epoch=engine.budget.batches_per_epoch)  # fmt: skip
        logger.info("resumed from %s at epoch %d (step %d)", resume_from, state.epoch, state.step)

    def evaluate_on(dialogues: Sequence[Dialogue], weights: DualBranchVEGA) -> EvalResult:
        return evaluate(weights, dialogues, batch_size=cfg.batch_size, device=engine.device,
                        precision=cfg.precision, class_names=class_names)  # fmt: skip

    best: EvalResult | None = None
    for epoch in range(state.epoch, engine.budget.epochs):
        reason = _stop_reason(cfg, state)
        if reason:
            logger.info("early stop at step %d: %s", state.step, reason)
            break
        state.epoch = epoch + 1
        stats = train_epoch(engine, train, cfg, state, callbacks)
        evaluation = evaluate_on(selection, engine.scored)
        improved = consider_best(state, evaluation.metrics.weighted_f1)
        best = evaluation if improved else best
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
    best = best if best is not None else evaluate_on(selection, model)  # resumed after the best epoch
    test_result = evaluate_on(test, model) if test else None
    return _result(state, engine.budget, selected_on, best, test_result)


def _result(
    state: TrainState, budget: Budget, selected_on: str, best: EvalResult, test: EvalResult | None
) -> FitResult:
    """The :class:`FitResult`; warns "still improving" when the selected step is in the budget's last 10%."""
    flag = still_improving(state.best_step, budget.steps)
    if flag:
        logger.warning(
            "still improving: the best %s score came at step %d of a %d-step budget (epoch %d of %d, the last "
            "10%%); a larger budget (max_steps or epochs) may help",
            selected_on, state.best_step, budget.steps, state.best_epoch, budget.epochs,
        )  # fmt: skip
    return FitResult(
        state.history, state.best_epoch, state.best_score, test, selected_on, best,
        state.best_step, budget.steps, budget.epochs, flag,
    )  # fmt: skip


def _stop_reason(cfg: TrainConfig, state: TrainState) -> str | None:
    """Why early stopping ends the run before the next epoch (None: go on). Never before
    ``cfg.min_steps`` steps or the first evaluation."""
    if state.best_epoch == 0 or state.step < cfg.min_steps:
        return None
    if cfg.patience is not None and state.epoch - state.best_epoch >= cfg.patience:
        return f"no improvement for {cfg.patience} evaluations"
    if cfg.patience_steps is not None and state.step - state.best_step >= cfg.patience_steps:
        return f"no improvement for {state.step - state.best_step} steps (patience_steps {cfg.patience_steps})"
    return None


def _epoch_record(
    stats: EpochStats, evaluation: EvalResult, selected_on: str, lr: float, state: TrainState
) -> dict[str, Any]:
    """The epoch's history entry (the JSON log's record)."""
    return {
        "epoch": state.epoch,
        "step": state.step,
        "train_loss": stats.train_loss,
        f"{selected_on}_loss": evaluation.loss,
        f"{selected_on}_weighted_f1": evaluation.metrics.weighted_f1,
        f"{selected_on}_accuracy": evaluation.metrics.accuracy,
        "lr": lr,
        "seconds": stats.seconds,
        "utterances_per_s": stats.utterances / stats.seconds if stats.seconds > 0 else None,
        "best_epoch": state.best_epoch,
        "best_step": state.best_step,
    }


def _log_epoch(record: dict[str, Any], selected_on: str, improved: bool) -> None:
    logger.info(
        "epoch %d (step %d): loss %.4f %s w-F1 %.4f%s",
        record["epoch"],
        record["step"],
        record["train_loss"].get("total", float("nan")),
        selected_on,
        record[f"{selected_on}_weighted_f1"],
        " (best)" if improved else "",
    )
