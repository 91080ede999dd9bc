"""One fine-tuning run: an encoder with a classification head, trained on utterance inputs and
selected on dev weighted F1, checkpointed each epoch (atomically) so a rerun resumes it.

The run's working directory holds ``checkpoint.pt`` (model, head, optimizer, scheduler, scaler,
history; written after each epoch), ``best/`` (the best epoch's encoder, Hugging Face format) and,
once finished, ``final/`` with ``outcome.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write, atomic_write_text, publish_dir, safe_torch_load
from ..distributed import autocast
from ..metrics import compute_metrics
from .config import FinetuneConfig
from .inputs import UtteranceInput, collate, length_batches

logger = logging.getLogger(__name__)

__all__ = ["RunOutcome", "TextClassifier", "make_optimizer", "resolve_precision", "run_finetune", "train_epoch"]

_CHECKPOINT = "checkpoint.pt"


class TextClassifier(nn.Module):
    """A Hugging Face encoder + mean pooling over the target span + a linear head.

    ``forward(batch)``: ``batch`` from :func:`~vega_anchors.finetune.inputs.collate` → ``[B, C]`` logits.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(encoder.config.hidden_size), num_classes)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        hidden = self.encoder(**inputs).last_hidden_state  # [B, L, D]
        weights = batch["target_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, L, 1]
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)  # [B, D]
        return self.head(self.dropout(pooled))


@dataclass
class RunOutcome:
    """A finished run: the selected epoch, its dev weighted F1, and per-epoch history."""

    best_epoch: int
    dev_weighted_f1: float
    history: list[dict[str, Any]]


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` → bf16 on a GPU that supports it, fp16 on other GPUs, fp32 on CPU."""
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _fingerprint(name: str, cfg: FinetuneConfig, train: Sequence[UtteranceInput], dev: Sequence[UtteranceInput]) -> str:
    """What a checkpoint must match to be resumed: settings, base encoder and the inputs."""
    digest = hashlib.sha256(name.encode())
    digest.update(cfg.model_dump_json(exclude={"device", "progress", "folds"}).encode())
    for items in (train, dev):
        for u in items:
            digest.update(np.asarray(u.input_ids, dtype=np.int64).tobytes())
            digest.update(bytes([u.label % 256, u.target_length % 256]))
    return digest.hexdigest()[:20]


def make_optimizer(model: TextClassifier, cfg: FinetuneConfig, total_steps: int) -> tuple[Any, Any]:
    """AdamW (no decay on biases and norms; the head at ``head_lr``) and linear warm-up then decay."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        no_decay = param.ndim < 2
        groups.setdefault((name.startswith("head."), no_decay), []).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": ps, "lr": cfg.head_lr if head else cfg.lr, "weight_decay": 0.0 if nd else cfg.weight_decay}
            for (head, nd), ps in groups.items()
        ]
    )
    warmup = max(1, int(cfg.warmup * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _bar(iterable: Any, enabled: bool, desc: str) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="batch", leave=False)


def train_epoch(
    model: TextClassifier,
    items: Sequence[UtteranceInput],
    batches: Sequence[Sequence[int]],
    state: tuple[Any, Any, Any],
    cfg: FinetuneConfig,
    *,
    device: torch.device,
    precision: str,
    pad_id: int,
    pad_to: int | None = None,
    desc: str = "fine-tuning",
) -> float:
    """One pass over ``batches`` (index lists into ``items``) with gradient accumulation; mean loss."""
    optimizer, scheduler, scaler = state
    model.train()
    total, count = 0.0, 0
    optimizer.zero_grad(set_to_none=True)
    for step, index in enumerate(_bar(batches, cfg.progress, desc)):
        batch = collate([items[i] for i in index], pad_id, pad_to=pad_to, device=device)
        with autocast(device, precision):
            logits = model(batch)
        loss = nn.functional.cross_entropy(logits.float(), batch["labels"])
        scaler.scale(loss / cfg.grad_accum).backward()
        total, count = total + float(loss.detach()) * len(index), count + len(index)
        if (step + 1) % cfg.grad_accum == 0 or step + 1 == len(batches):
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
    return total / max(count, 1)


@torch.no_grad()
def predict(
    model: TextClassifier, items: Sequence[UtteranceInput], *, batch_size: int, device: torch.device, precision: str,
    pad_id: int,
) -> np.ndarray:  # fmt: skip
    """``[N]`` predicted class ids."""
    model.eval()
    preds = np.zeros(len(items), dtype=np.int64)
    for index in length_batches([len(u.input_ids) for u in items], batch_size, shuffle=False):
        batch = collate([items[i] for i in index], pad_id, device=device)
        with autocast(device, precision):
            preds[index] = model(batch).argmax(-1).cpu().numpy()
    return preds


def _save_best(work: Path, epoch: int, model: TextClassifier, tokenizer: Any) -> None:
    """``work/best-<epoch>/``: the encoder and tokenizer (Hugging Face format) and the head's weights."""
    tmp = work / "best.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(model.head.state_dict(), tmp / "vega_head.pt")
    publish_dir(tmp, work / f"best-{epoch}")


def _drop_stale_best(work: Path, keep: int) -> None:
    """Remove best-epoch directories other than ``best-<keep>`` (after the checkpoint names ``keep``)."""
    for path in work.glob("best-*"):
        if path.name != f"best-{keep}":
            shutil.rmtree(path)


def _save_checkpoint(work: Path, payload: dict[str, Any]) -> None:
    atomic_write(work / _CHECKPOINT, lambda p: torch.save(payload, p))


def _resume(work: Path, fingerprint: str, model: TextClassifier, state: tuple[Any, Any, Any]) -> dict[str, Any]:
    """The checkpoint's progress (``epoch``, ``history``, ``best``), its weights loaded; or a fresh start."""
    fresh: dict[str, Any] = {"epoch": 0, "history": [], "best": (-1.0, 0)}
    file = work / _CHECKPOINT
    if not file.is_file():
        return fresh
    payload = safe_torch_load(file)
    if payload.get("fingerprint") != fingerprint:
        logger.warning("%s is from other settings or data; starting this run afresh", file)
        return fresh
    model.load_state_dict(payload["model"])
    for obj, key in zip(state, ("optimizer", "scheduler", "scaler"), strict=True):
        obj.load_state_dict(payload[key])
    logger.info("resuming %s after epoch %d", work, payload["epoch"])
    return {"epoch": payload["epoch"], "history": payload["history"], "best": tuple(payload["best"])}


def _finish(work: Path, best_epoch: int, best_f1: float, history: list[dict[str, Any]]) -> RunOutcome:
    """Publish ``work/final`` (the best epoch's encoder + ``outcome.json``) and drop the checkpoint."""
    outcome = RunOutcome(best_epoch, best_f1, history)
    tmp = work / "final.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(work / f"best-{best_epoch}", tmp)
    atomic_write_text(tmp / "outcome.json", json.dumps(outcome.__dict__, indent=1))
    publish_dir(tmp, work / "final")
    (work / _CHECKPOINT).unlink(missing_ok=True)
    _drop_stale_best(work, -1)
    return outcome


def _device(cfg: FinetuneConfig) -> torch.device:
    return torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))


def run_finetune(
    work: Path,
    encoder_name: str,
    tokenizer: Any,
    train: Sequence[UtteranceInput],
    dev: Sequence[UtteranceInput],
    num_classes: int,
    cfg: FinetuneConfig,
    *,
    desc: str = "fine-tuning",
) -> RunOutcome:
    """Fine-tune ``encoder_name`` on ``train`` for ``cfg.epochs``, keep the best dev epoch in
    ``work/final``; a rerun with the same settings and inputs resumes after the last finished epoch
    (a finished run is returned as is)."""
    done = work / "final" / "outcome.json"
    if done.is_file():
        return RunOutcome(**json.loads(done.read_text(encoding="utf-8")))
    from transformers import AutoModel

    work.mkdir(parents=True, exist_ok=True)
    device = _device(cfg)
    precision = resolve_precision(cfg.precision, device)
    torch.manual_seed(cfg.seed)
    model = TextClassifier(AutoModel.from_pretrained(encoder_name), num_classes, cfg.dropout).to(device)
    steps = math.ceil(math.ceil(len(train) / cfg.batch_size) / cfg.grad_accum) * cfg.epochs
    optimizer, scheduler = make_optimizer(model, cfg, steps)
    state = (optimizer, scheduler, torch.amp.GradScaler(device.type, enabled=precision == "fp16"))
    fingerprint = _fingerprint(encoder_name, cfg, train, dev)
    progress = _resume(work, fingerprint, model, state)
    history, (best_f1, best_epoch) = progress["history"], progress["best"]
    lengths, pad_id = [len(u.input_ids) for u in train], int(tokenizer.pad_token_id or 0)
    dev_labels = np.asarray([u.label for u in dev])
    for epoch in range(progress["epoch"] + 1, cfg.epochs + 1):
        torch.manual_seed(cfg.seed * 1000 + epoch)
        batches = length_batches(lengths, cfg.batch_size, seed=cfg.seed * 1000 + epoch)
        loss = train_epoch(
            model, train, batches, state, cfg, device=device, precision=precision, pad_id=pad_id,
            desc=f"{desc} epoch {epoch}/{cfg.epochs}",
        )  # fmt: skip
        preds = predict(model, dev, batch_size=2 * cfg.batch_size, device=device, precision=precision, pad_id=pad_id)
        f1 = compute_metrics(dev_labels, preds, num_classes=num_classes).weighted_f1
        history.append({"epoch": epoch, "train_loss": round(loss, 5), "dev_weighted_f1": round(f1, 5)})
        logger.info("%s epoch %d: train loss %.4f, dev weighted F1 %.4f", desc, epoch, loss, f1)
        if f1 > best_f1:
            best_f1, best_epoch = f1, epoch
            _save_best(work, epoch, model, tokenizer)
        payload = {"fingerprint": fingerprint, "epoch": epoch, "history": history, "best": [best_f1, best_epoch],
                   "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "scaler": state[2].state_dict()}  # fmt: skip
        _save_checkpoint(work, payload)
        _drop_stale_best(work, best_epoch)
    return _finish(work, best_epoch, best_f1, history)
