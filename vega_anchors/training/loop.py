"""The training loop's parts: :func:`setup` (device, weight average, DDP, optimizer, scheduler,
scaler), :func:`train_step` (one optimizer step, shared by ``fit`` and the benchmarks) and
:func:`train_epoch` (one pass over the training dialogues)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..data import Dialogue, DialogueBatch, collate_dialogues
from ..distributed import Precision, autocast, default_device, rank_and_world
from ..models import DualBranchVEGA, VEGALoss
from .callbacks import Callback, TrainState, call_hooks
from .config import TrainConfig
from .evaluate import batch_indices
from .schedule import Budget, make_scheduler, plan_budget

__all__ = ["Engine", "make_optimizer", "make_scaler", "setup", "train_epoch", "train_step"]

logger = logging.getLogger(__name__)


@dataclass
class Engine:
    """What :func:`setup` builds around a model for :func:`fit`.

    ``forward`` is the module to call for the training forward pass (the DDP wrapper of ``model``
    under torchrun, else ``model``); ``ema`` the weight average (``None`` without ``ema_decay``);
    ``scored`` the weights evaluated and selected (``ema.module`` or ``model``); ``scheduler`` the
    per-step learning-rate schedule over ``budget`` (None: constant rate).
    """

    model: DualBranchVEGA
    forward: nn.Module
    scored: DualBranchVEGA
    ema: torch.optim.swa_utils.AveragedModel | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler
    device: torch.device
    rank: int
    world: int
    budget: Budget


def make_optimizer(model: nn.Module, *, lr: float, weight_decay: float, device: torch.device) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters (fused kernels on CUDA, ``foreach`` elsewhere)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if device.type == "cuda":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)


def make_scaler(device: torch.device, precision: Precision) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for fp16 only (elsewhere it passes gradients through)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def _wrap_ddp(model: DualBranchVEGA, device: torch.device) -> nn.Module:
    # A switched-off loss family leaves its temperatures (or anchor heads) without gradients.
    switches = model.config.losses
    unused = not (switches.cls and switches.cls_kl and (model.bank is None or (switches.anchor and switches.anchor_kl)))
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=unused
    )


def setup(model: DualBranchVEGA, train: Sequence[Dialogue], config: TrainConfig, *, fit_inputs: bool) -> Engine:
    """Move ``model`` to its device and build the weight average, DDP wrapper, optimizer, budget
    (:func:`~vega_anchors.training.schedule.plan_budget`), scheduler and scaler. With ``fit_inputs``
    (a fresh run), input standardisation is fitted on ``train`` first (the training split only)."""
    rank, world = rank_and_world()
    device = default_device(config.device)
    if model.needs_input_fit and fit_inputs:
        model.fit_input_normalization(train)
        logger.info("fitted input standardisation on %d training dialogues", len(train))
    model.to(device)
    # The averaged copy (made before DDP wraps the model) is what gets evaluated, selected and
    # returned; the raw weights keep training. Only parameters are averaged: the buffers (anchors,
    # fitted input statistics, class weights) are fixed by now, and some are integer or bool.
    ema = None
    if config.ema_decay is not None:
        average = torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema_decay)
        ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=average)
    scored = cast(DualBranchVEGA, ema.module) if ema is not None else model
    forward = _wrap_ddp(model, device) if world > 1 else model
    optimizer = make_optimizer(model, lr=config.lr, weight_decay=config.weight_decay, device=device)
    per_epoch = len(batch_indices(train, config.batch_size, shuffle=False, bucket_by_length=config.bucket_by_length))
    budget = plan_budget(config, per_epoch)
    scheduler = make_scheduler(optimizer, budget, config.scheduler)
    scaler = make_scaler(device, config.precision)
    return Engine(model, forward, scored, ema, optimizer, scheduler, scaler, device, rank, world, budget)


def train_step(
    model: DualBranchVEGA,
    batch: DialogueBatch,
    optimizer: torch.optim.Optimizer,
    *,
    forward: nn.Module | None = None,
    scaler: torch.amp.GradScaler | None = None,
    precision: Precision = "fp32",
    grad_clip: float | None = None,
    ema: torch.optim.swa_utils.AveragedModel | None = None,
) -> VEGALoss:
    """One optimizer step on ``batch`` (already on the model's device): forward under autocast,
    ``model.compute_loss``, backward (scaled by ``scaler``), optional gradient-norm clipping,
    ``optimizer.step()``, then the weight average's update.

    Args:
        model: the model (its ``compute_loss`` and parameters; not a DDP wrapper).
        batch: a :class:`~vega_anchors.data.DialogueBatch` (``[B, T, ...]``) on the model's device.
        forward: the module whose call runs the forward pass, e.g. the
            ``DistributedDataParallel`` wrapper of ``model``; default ``model``.
        scaler: a ``torch.amp.GradScaler`` (needed for fp16, see :func:`make_scaler`); default none.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` autocast.
        grad_clip: max gradient norm over ``model.parameters()``; ``None`` = no clipping.
        ema: a ``torch.optim.swa_utils.AveragedModel`` of ``model`` to update after the step.

    Returns:
        The step's :class:`~vega_anchors.models.VEGALoss` (``total`` still attached to the graph).
    """
    with autocast(batch.labels.device, precision):
        out = (forward or model)(**batch.model_inputs())
        loss = model.compute_loss(out, batch.labels, batch.utterance_mask)
    optimizer.zero_grad(set_to_none=True)
    (scaler.scale(loss.total) if scaler is not None else loss.total).backward()
    if grad_clip is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if ema is not None:
        ema.update_parameters(model)
    return loss


@dataclass
class EpochStats:
    """One epoch's training numbers: mean loss per family (``train_loss``, equal on every rank),
    utterances trained on (all ranks) and wall-clock seconds."""

    train_loss: dict[str, float]
    utterances: int
    seconds: float


def train_epoch(
    engine: Engine,
    train: Sequence[Dialogue],
    config: TrainConfig,
    state: TrainState,
    callbacks: Sequence[Callback] = (),
) -> EpochStats:
    """Train one epoch (``state.epoch``, 1-based) over ``train`` in the order fixed by
    ``(config.seed, epoch)``; the learning-rate schedule steps and ``on_step_end`` runs after every step.

    Every rank sees the same global batch and collates only its share of the dialogues. A batch
    smaller than the world leaves some ranks without a dialogue; they still join DDP's gradient
    all-reduce with an unlabelled placeholder (zero loss and gradients; ``compute_loss`` normalises
    over the global batch, so the result is exact).
    """
    model, rank, world = engine.model, engine.rank, engine.world
    model.train()
    t0 = time.perf_counter()
    sums: dict[str, Tensor] = {}  # on-device running sums: no host sync per step
    steps = utterances = 0
    batches = batch_indices(
        train, config.batch_size, shuffle=True, seed=config.seed, epoch=state.epoch - 1,
        bucket_by_length=config.bucket_by_length,
    )  # fmt: skip
    bar = _progress(batches, enabled=config.progress and rank == 0, desc=f"epoch {state.epoch}/{engine.budget.epochs}")
    for idx in bar:
        mine = idx[rank::world]
        batch = collate_dialogues([train[i] for i in mine] if mine else [_unlabelled(train[idx[0]])])
        utterances += batch.num_utterances if mine else 0  # counted on the host copy
        loss = train_step(
            model, batch.to(engine.device, non_blocking=True), engine.optimizer, forward=engine.forward,
            scaler=engine.scaler, precision=config.precision, grad_clip=config.grad_clip, ema=engine.ema,
        )  # fmt: skip
        if engine.scheduler is not None:
            engine.scheduler.step()
        steps += 1
        state.step += 1
        state.loss = VEGALoss(total=loss.total.detach(), terms={k: v.detach() for k, v in loss.terms.items()})
        for name, value in {"total": loss.total, **loss.terms}.items():
            if "/" not in name:
                sums[name] = sums.get(name, 0) + value.detach().double()
        if hasattr(bar, "set_postfix") and steps % 10 == 0:
            bar.set_postfix(loss=f"{float(sums['total']) / steps:.4f}")
        call_hooks(callbacks, "on_step_end", state)
    totals = {name: float(value) for name, value in sums.items()}
    if world > 1:
        totals, utterances = _reduce_epoch_totals(totals, utterances, world, engine.device)
    mean = {name: value / max(steps, 1) for name, value in totals.items()}
    return EpochStats(mean, utterances, time.perf_counter() - t0)


def _reduce_epoch_totals(
    totals: dict[str, float], utterances: int, world: int, device: torch.device
) -> tuple[dict[str, float], int]:
    """Sum an epoch's loss totals and utterance count over ranks (identical on every rank afterwards).

    Under DDP each rank's loss is its share of the global batch × world size, so the mean over ranks
    is the loss of the global batch: the history then matches a single-process run.
    """
    names = sorted(totals)
    packed = torch.tensor([totals[n] for n in names] + [float(utterances)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(packed)
    values = packed.tolist()
    return {n: v / world for n, v in zip(names, values, strict=False)}, round(values[-1])


def _unlabelled(dialogue: Dialogue) -> Dialogue:
    """``dialogue`` with every label -1: it runs through the model but adds nothing to the loss."""
    return Dialogue(
        id=dialogue.id,
        features=dialogue.features,
        speakers=dialogue.speakers,
        labels=torch.full_like(dialogue.labels, -1),
    )


def _progress(items: list[Any], *, enabled: bool, desc: str) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, unit="batch")
