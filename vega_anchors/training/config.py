"""What :func:`~vega_anchors.training.fit` reads (:class:`TrainConfig`) and what it returns
(:class:`FitResult`, :class:`EvalResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..distributed import Precision
from ..metrics import ClassificationMetrics

__all__ = ["EvalResult", "FitResult", "Precision", "TrainConfig"]


class TrainConfig(BaseModel):
    """How :func:`fit` trains. Defaults follow the official recipe (AdamW, batch 9, 400 epochs,
    patience 30), except model selection, which uses a held-out validation split by default.

    The budget (:mod:`~vega_anchors.training.schedule`) is ``max_steps`` optimizer steps when set
    (epochs then follow from the data size), else ``epochs`` epochs. The learning rate warms up over
    ``warmup_fraction`` of the budget and then follows ``scheduler`` to the end of the budget. Early
    stopping (``patience`` evaluations or ``patience_steps`` steps without improvement; one
    evaluation per epoch) never stops a run before ``min_steps``.
    """

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(400, ge=1, description="the budget in epochs (used when max_steps is None)")
    max_steps: int | None = Field(
        None, ge=1, description="the budget in optimizer steps, rounded up to whole epochs; None = epochs"
    )
    batch_size: int = Field(9, ge=1)
    lr: float = Field(9.839e-5, gt=0)
    weight_decay: float = Field(0.00997, ge=0)
    scheduler: Literal["none", "cosine", "linear"] = Field(
        "none", description="after warm-up: constant ('none') or decay to 0 at the end of the budget, per step"
    )
    warmup_fraction: float = Field(0.0, ge=0, lt=1, description="linear warm-up over this share of the budget")
    grad_clip: float | None = Field(None, gt=0)
    ema_decay: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="keep an exponential moving average of the weights (updated every step) and evaluate, "
        "select and return it instead of the raw weights; e.g. 0.99 (an average over ~100 steps). None = off",
    )
    patience: int | None = Field(
        30, ge=1, description="early stopping: evaluations (epochs) without improvement; None = off"
    )
    patience_steps: int | None = Field(
        None, ge=1, description="early stopping: optimizer steps since the best evaluation; None = off"
    )
    min_steps: int = Field(0, ge=0, description="early stopping never stops a run before this many steps")
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


@dataclass
class EvalResult:
    """``loss``: mean total loss over batches (None when not computed); ``metrics`` on the fused
    predictions; ``predictions``: dialogue id → predicted class ids."""

    loss: float | None
    metrics: ClassificationMetrics
    predictions: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: one dict per epoch (the JSON log's records).
        best_epoch: the selected epoch (1-based); ``best_score`` its selection weighted F1.
        test: the selected weights' test evaluation (when test dialogues were given).
        selected_on: the name of the selection split (``val_name``, ``"validation"`` or ``"test"``).
        selection: the selected weights' evaluation on the selection split.
        best_step: optimizer steps taken when the selected weights were evaluated.
        budget_steps, budget_epochs: the run's budget (:func:`~vega_anchors.training.schedule.plan_budget`).
        still_improving: the selected step lies in the last 10% of the budget (more budget may
            help; :func:`~vega_anchors.training.schedule.still_improving`).
    """

    history: list[dict[str, Any]]
    best_epoch: int
    best_score: float
    test: EvalResult | None = None
    selected_on: str = "validation"
    selection: EvalResult | None = None
    best_step: int = 0
    budget_steps: int = 0
    budget_epochs: int = 0
    still_improving: bool = False

    def summary(self) -> dict[str, Any]:
        """The selection facts as plain values: ``best_epoch``, ``best_step``, ``budget_steps``,
        ``budget_epochs``, ``still_improving``, ``selected_on`` (what a run's metrics.json records per seed)."""
        return {
            "best_epoch": self.best_epoch,
            "best_step": self.best_step,
            "budget_steps": self.budget_steps,
            "budget_epochs": self.budget_epochs,
            "still_improving": self.still_improving,
            "selected_on": self.selected_on,
        }
