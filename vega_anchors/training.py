"""A small training engine for DualBranchVEGA: fit, evaluate, checkpoint, resume.

It is a recipe, not a framework: one loop, readable top to bottom. It runs unchanged under
``torchrun --nproc_per_node=N`` (each rank trains on its share of every batch; DDP averages
gradients; evaluation, checkpoints and logs happen on every rank identically or on rank 0 only).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from ._io import atomic_write, atomic_write_text, safe_torch_load
from .data.dataset import (
    Dialogue,
    DialogueBatch,
    LengthBucketBatchSampler,
    collate_dialogues,
    split_validation,
)
from .metrics import ClassificationMetrics, compute_metrics
from .models.config import FUSED, VEGAConfig
from .models.dual_branch import DualBranchVEGA

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]


class TrainConfig(BaseModel):
    """How :func:`fit` trains. Defaults follow the official recipe (AdamW, batch 9, patience 30),
    except model selection, which uses a held-out validation split by default."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(400, ge=1)
    batch_size: int = Field(9, ge=1)
    lr: float = Field(9.839e-5, gt=0)
    weight_decay: float = Field(0.00997, ge=0)
    scheduler: Literal["none", "cosine"] = "none"
    grad_clip: float | None = Field(None, gt=0)
    ema_decay: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="keep an exponential moving average of the weights (updated every step) and evaluate, "
        "select and return it instead of the raw weights; e.g. 0.99 (an average over ~100 steps). None = off",
    )
    patience: int | None = Field(30, ge=1, description="early stopping: epochs without improvement; None = off")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="training dialogues held out for model selection")
    select_on_test_paper_protocol: bool = Field(
        False,
        description="pick the best epoch by TEST weighted F1, as the official VEGA/SDT code does. "
        "This inflates reported results; use only to reproduce the paper's numbers.",
    )
    precision: Precision = "fp32"
    bucket_by_length: bool = False
    seed: int = 0
    device: str | None = Field(None, description="default: cuda if available, else cpu")
    checkpoint_dir: str | None = None
    log_path: str | None = Field(None, description="JSON file with one record per epoch")
    progress: bool = True

    @classmethod
    def from_vega_config(cls, config: VEGAConfig, **overrides: Any) -> TrainConfig:
        """The optimisation settings of a model preset (``config.optim``), with ``overrides``."""
        o = config.optim
        values: dict[str, Any] = {
            "epochs": o.epochs,
            "batch_size": o.batch_size,
            "lr": o.lr,
            "weight_decay": o.weight_decay,
            "patience": o.patience,
        }
        return cls(**{**values, **overrides})


@dataclass
class EvalResult:
    """``loss``: mean total loss over batches (None when not computed); ``metrics`` on the fused
    predictions; ``predictions``: dialogue id → predicted class ids."""

    loss: float | None
    metrics: ClassificationMetrics
    predictions: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class FitResult:
    """``history``: one dict per epoch; ``best_epoch`` (1-based) and its selection score; ``test``:
    the best model's test evaluation (when test dialogues were given)."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_score: float
    test: EvalResult | None = None
    selected_on: str = "validation"


# ---------------------------------------------------------------------------- distributed helpers
def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


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
    return _dist()


def _device(config: TrainConfig) -> torch.device:
    if config.device:
        return torch.device(config.device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; use 'bf16' on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


# ---------------------------------------------------------------------------- batches
def batch_indices(
    dialogues: Sequence[Dialogue],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    bucket_by_length: bool = False,
) -> list[list[int]]:
    """Dialogue indices of each batch; the order depends only on ``(seed, epoch)``."""
    if bucket_by_length:
        sampler = LengthBucketBatchSampler([d.length for d in dialogues], batch_size, shuffle=shuffle, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)
    order = list(range(len(dialogues)))
    if shuffle:
        order = torch.randperm(len(dialogues), generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def iterate_batches(
    dialogues: Sequence[Dialogue],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    bucket_by_length: bool = False,
) -> Iterator[DialogueBatch]:
    """Padded batches of ``dialogues``; the order depends only on ``(seed, epoch)``."""
    for idx in batch_indices(
        dialogues, batch_size, shuffle=shuffle, seed=seed, epoch=epoch, bucket_by_length=bucket_by_length
    ):
        yield collate_dialogues([dialogues[i] for i in idx])


# ---------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(
    model: DualBranchVEGA,
    dialogues: Sequence[Dialogue],
    *,
    batch_size: int = 9,
    device: torch.device | str | None = None,
    precision: Precision = "fp32",
    class_names: Sequence[str] | None = None,
    with_loss: bool = True,
) -> EvalResult:
    """Evaluate in eval mode: fused-classifier predictions (the paper's inference path) and, with
    ``with_loss``, the mean training objective (anchor branch on, centers as anchors)."""
    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    device = torch.device(device) if device is not None else next(module.parameters()).device
    was_training = module.training
    module.eval()
    losses: list[float] = []
    y_true: list[Tensor] = []
    y_pred: list[Tensor] = []
    predictions: dict[str, list[int]] = {}
    try:
        for batch in iterate_batches(dialogues, batch_size, shuffle=False):
            batch = batch.to(device)
            with _autocast(device, precision):
                out = module(**batch.model_inputs(), anchor_branch=with_loss and module.has_anchor_branch)
                if with_loss:
                    losses.append(float(module.compute_loss(out, batch.labels, batch.utterance_mask).total))
            pred = out.logits[FUSED].argmax(-1).masked_fill(~batch.utterance_mask, -1)
            y_true.append(batch.labels[batch.utterance_mask].cpu())
            y_pred.append(pred[batch.utterance_mask].cpu())
            for i, dlg in enumerate(batch.dialogue_ids):
                predictions[dlg] = pred[i, : int(batch.lengths[i])].tolist()
    finally:
        module.train(was_training)
    metrics = compute_metrics(
        torch.cat(y_true), torch.cat(y_pred), num_classes=module.config.num_classes, class_names=class_names
    )
    return EvalResult(sum(losses) / len(losses) if losses else None, metrics, predictions)


# ---------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write a training checkpoint atomically (readable with ``torch.load(weights_only=True)``)."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (data only: ``weights_only=True``)."""
    state = safe_torch_load(path)
    if not isinstance(state, dict) or state.get("format") != "vega-anchors/checkpoint":
        raise ValueError(f"{path} is not a vega-anchors training checkpoint")
    return state


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------- fit
def fit(
    model: DualBranchVEGA,
    train: Sequence[Dialogue],
    *,
    config: TrainConfig | None = None,
    val: Sequence[Dialogue] | None = None,
    test: Sequence[Dialogue] | None = None,
    class_names: Sequence[str] | None = None,
    resume_from: str | os.PathLike[str] | None = None,
) -> FitResult:
    """Train ``model`` with AdamW and select the best epoch by weighted F1.

    Model selection uses ``val``; when ``val`` is None, ``config.val_fraction`` of the training
    dialogues is held out (deterministically). ``config.select_on_test_paper_protocol`` selects on
    ``test`` instead, like the official code (optimistic; for reproducing the paper only).

    With ``config.checkpoint_dir``, ``last.pt`` (everything needed to resume exactly: model,
    optimizer, scheduler, RNG states including the anchor sampler's, epoch, history) and
    ``best.pt`` are written atomically every epoch. ``resume_from`` continues such a run; on CPU the
    result is bit-identical to an uninterrupted run. At the end the best weights are loaded.
    """
    cfg = config or TrainConfig()
    rank, world = _dist()
    device = _device(cfg)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    train = list(train)
    if cfg.select_on_test_paper_protocol:
        if not test:
            raise ValueError("select_on_test_paper_protocol needs test dialogues")
        logger.warning("selecting the best epoch on the TEST set (paper protocol): results are optimistic")
        selection, selected_on = list(test), "test"
    elif val:
        selection, selected_on = list(val), "validation"
    elif cfg.val_fraction > 0:
        train, selection = split_validation(train, cfg.val_fraction, seed=cfg.seed)
        selected_on = "validation"
    else:
        raise ValueError("no model-selection data: give val=, set val_fraction > 0, or opt into the paper protocol")
    if not train:
        raise ValueError("no training dialogues")

    if model.needs_input_fit and resume_from is None:
        model.fit_input_normalization(train)  # statistics from the training split only
        logger.info("fitted input standardisation on %d training dialogues", len(train))
    model.to(device)
    # The averaged copy (made before DDP wraps the model) is what gets evaluated, selected and
    # returned; the raw weights keep training. Only parameters are averaged: the buffers (anchors,
    # fitted input statistics, class weights) are fixed by now, and some are integer or bool.
    ema = (
        torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.ema_decay)
        )
        if cfg.ema_decay is not None
        else None
    )
    scored: DualBranchVEGA = cast(DualBranchVEGA, ema.module) if ema is not None else model
    ddp: nn.Module = model
    if world > 1:
        # A switched-off loss family leaves its temperatures (or anchor heads) without gradients.
        switches = model.config.losses
        unused = not (
            switches.cls and switches.cls_kl and (model.bank is None or (switches.anchor and switches.anchor_kl))
        )
        ddp = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=unused
        )
    fused_ok = device.type == "cuda"
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        **({"fused": True} if fused_ok else {"foreach": True}),
    )
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs) if cfg.scheduler == "cosine" else None
    )
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    history: list[dict[str, Any]] = []
    best_score, best_epoch, best_state = -math.inf, 0, copy.deepcopy(scored.state_dict())
    start_epoch = 0
    if resume_from is not None:
        state = load_checkpoint(resume_from)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if (ema is None) != (state.get("ema") is None):
            saved = "without" if ema is not None else "with"
            raise ValueError(f"{resume_from} was saved {saved} ema_decay; resume with the same TrainConfig")
        if ema is not None:
            ema.load_state_dict(state["ema"])
        history, start_epoch = state["history"], state["epoch"]
        best_score, best_epoch, best_state = state["best_score"], state["best_epoch"], state["best_model"]
        _set_rng_state(state["rng"])
        logger.info("resumed from %s at epoch %d", resume_from, start_epoch)

    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None

    def evaluate_on(dialogues: Sequence[Dialogue]) -> EvalResult:
        return evaluate(scored, dialogues, batch_size=cfg.batch_size, device=device, precision=cfg.precision,
                        class_names=class_names)  # fmt: skip

    for epoch in range(start_epoch, cfg.epochs):
        if cfg.patience is not None and epoch - best_epoch >= cfg.patience and best_epoch > 0:
            logger.info("early stop: no improvement for %d epochs", cfg.patience)
            break
        model.train()
        t0 = time.perf_counter()
        sums: dict[str, Tensor] = {}  # on-device running sums: no host sync per step
        steps = utterances = 0
        batches = batch_indices(
            train, cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=epoch, bucket_by_length=cfg.bucket_by_length
        )
        bar = _progress(batches, enabled=cfg.progress and rank == 0, desc=f"epoch {epoch + 1}/{cfg.epochs}")
        for idx in bar:
            # Every rank sees the same global batch and collates only its share of the dialogues.
            # A batch smaller than the world leaves some ranks without a dialogue; they still join
            # DDP's gradient all-reduce with an unlabelled placeholder (zero loss and gradients;
            # compute_loss normalises over the global batch, so the result is exact).
            mine = idx[rank::world]
            real = bool(mine)
            batch = collate_dialogues([train[i] for i in mine] if real else [_unlabelled(train[idx[0]])])
            utterances += batch.num_utterances if real else 0  # counted on the host copy
            batch = batch.to(device, non_blocking=True)
            with _autocast(device, cfg.precision):
                out = ddp(**batch.model_inputs())
                loss = model.compute_loss(out, batch.labels, batch.utterance_mask)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss.total).backward()
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            if ema is not None:
                ema.update_parameters(model)
            steps += 1
            for name, value in {"total": loss.total, **loss.terms}.items():
                if "/" not in name:
                    sums[name] = sums.get(name, 0) + value.detach().double()
            if hasattr(bar, "set_postfix") and steps % 10 == 0:
                bar.set_postfix(loss=f"{float(sums['total']) / steps:.4f}")
        totals = {name: float(value) for name, value in sums.items()}
        if world > 1:
            totals, utterances = _reduce_epoch_totals(totals, utterances, world, device)
        if scheduler is not None:
            scheduler.step()
        seconds = time.perf_counter() - t0
        evaluation = evaluate_on(selection)
        score = evaluation.metrics.weighted_f1
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": {k: v / max(steps, 1) for k, v in totals.items()},
            f"{selected_on}_loss": evaluation.loss,
            f"{selected_on}_weighted_f1": score,
            f"{selected_on}_accuracy": evaluation.metrics.accuracy,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": seconds,
            "utterances_per_s": utterances / seconds if seconds > 0 else None,
        }
        improved = score > best_score
        if improved:
            best_score, best_epoch = score, epoch + 1
            best_state = copy.deepcopy(scored.state_dict())
        record["best_epoch"] = best_epoch
        history.append(record)
        logger.info(
            "epoch %d: loss %.4f %s w-F1 %.4f%s",
            epoch + 1,
            record["train_loss"].get("total", float("nan")),
            selected_on,
            score,
            " (best)" if improved else "",
        )
        if rank == 0:
            if cfg.log_path:
                atomic_write_text(cfg.log_path, json.dumps(history, indent=1))
            if ckpt_dir is not None:
                state = {
                    "format": "vega-anchors/checkpoint",
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "scaler": scaler.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "epoch": epoch + 1,
                    "history": history,
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "best_model": best_state,
                    "rng": _rng_state(),
                    "config": model.config.model_dump(),
                    "train_config": cfg.model_dump(),
                }
                save_checkpoint(ckpt_dir / "last.pt", state)
                if improved:
                    save_checkpoint(
                        ckpt_dir / "best.pt",
                        {
                            "format": "vega-anchors/checkpoint",
                            "model": best_state,
                            "epoch": best_epoch,
                            "config": model.config.model_dump(),
                        },
                    )

    # One truth: the returned model, best_score and the test score are the same (dev-selected,
    # averaged when EMA is on) weights.
    model.load_state_dict(best_state)
    test_result = None
    if test:
        test_result = evaluate(
            model, test, batch_size=cfg.batch_size, device=device, precision=cfg.precision, class_names=class_names
        )
    return FitResult(history, best_epoch, best_score, test_result, selected_on)


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


__all__ = [
    "EvalResult",
    "FitResult",
    "TrainConfig",
    "batch_indices",
    "evaluate",
    "fit",
    "init_distributed",
    "iterate_batches",
    "load_checkpoint",
    "save_checkpoint",
]
