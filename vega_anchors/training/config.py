"""What :func:`~vega_anchors.training.fit` reads (:class:`TrainConfig`) and what it returns
(:class:`FitResult`, :class:`EvalResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..distributed import Precision
from ..metrics import ClassificationMetrics
from ..models import VEGAConfig

__all__ = ["EvalResult", "FitResult", "Precision", "TrainConfig"]


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
