"""What :func:`~vega_anchors.finetune.finetune_text` reads (:class:`FinetuneConfig`) and returns
(:class:`FinetuneResult`), and the files it writes in the encoder directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FOLDS_DIR", "PROVENANCE_FILE", "FinetuneConfig", "FinetuneResult"]

from ..encoders.provenance import PROVENANCE_FILE

FOLDS_DIR = "folds"
"""Sub-directory of the fold encoders (``folds/fold0`` ...) when fine-tuned with ``folds=k``."""


class FinetuneConfig(BaseModel):
    """How :func:`~vega_anchors.finetune.finetune_text` fine-tunes an encoder.

    ``context``/``future_context``: turns read before/after each utterance (speaker-tagged);
    ``max_length``: tokens per input (the utterance is never cut for context, only context is);
    ``batch_size × grad_accum`` utterances per optimizer step; linear warm-up over ``warmup`` of the
    steps, then linear decay to 0; ``precision="auto"``: bf16 autocast on a GPU that has it, else fp16
    (with a gradient scaler), fp32 on CPU; ``folds``: cross-fitted training features (k >= 2 fold
    encoders besides the full one; ``None`` = off); ``holdout``: the fraction of training dialogues
    held out for selection when there is no dev split.
    """

    model_config = ConfigDict(extra="forbid")

    context: int = Field(0, ge=0)
    future_context: int = Field(0, ge=0)
    max_length: int = Field(128, ge=8)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(2e-5, gt=0)
    head_lr: float = Field(1e-3, gt=0, description="learning rate of the new classification head")
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.1, ge=0, lt=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    grad_clip: float = Field(1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    folds: int | None = Field(None, ge=2)
    holdout: float = Field(0.1, gt=0, lt=1)
    seed: int = 0
    device: str | None = None
    progress: bool = True


@dataclass
class FinetuneResult:
    """What :func:`~vega_anchors.finetune.finetune_text` produced.

    Attributes:
        path: the encoder directory (``build-features --encoder PATH`` reads it).
        dev_weighted_f1: the selected epoch's weighted F1 on the selection split.
        best_epoch: the selected epoch (1-based).
        history: per epoch ``{"epoch", "train_loss", "dev_weighted_f1"}``.
        dev_source: ``"dev"`` or ``"train-holdout"`` (no dev split given: a held-out part of training).
        fold_dev_weighted_f1: each fold encoder's selected dev weighted F1 (empty without folds).
        provenance: the contents of ``PATH/vega_finetune.json``.
    """

    path: Path
    dev_weighted_f1: float
    best_epoch: int
    history: list[dict[str, Any]]
    dev_source: str
    fold_dev_weighted_f1: list[float] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
