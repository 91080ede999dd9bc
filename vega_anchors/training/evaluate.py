"""Evaluation and model selection: :func:`evaluate`, the batch order (:func:`batch_indices`,
:func:`iterate_batches`), which dialogues select the best epoch (:func:`selection_split`) and the
one place the best weights are kept (:func:`consider_best`)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..data import Dialogue, DialogueBatch, LengthBucketBatchSampler, collate_dialogues, split_validation
from ..distributed import Precision, autocast
from ..metrics import compute_metrics
from ..models import FUSED, DualBranchVEGA
from .callbacks import TrainState
from .config import EvalResult

__all__ = ["Selection", "batch_indices", "consider_best", "evaluate", "iterate_batches", "selection_split"]

logger = logging.getLogger(__name__)


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
            with autocast(device, precision):
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


class Selection(NamedTuple):
    """The split of :func:`selection_split`: ``train`` (what is trained on), ``selection`` (what picks
    the best evaluation) and ``selected_on`` (its name: ``val_name``, ``"validation"`` or ``"test"``)."""

    train: list[Dialogue]
    selection: list[Dialogue]
    selected_on: str


def selection_split(
    train: Sequence[Dialogue],
    *,
    val: Sequence[Dialogue] | None = None,
    test: Sequence[Dialogue] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    paper_protocol: bool = False,
    val_name: str = "validation",
) -> Selection:
    """The one choice of the dialogues that select the best evaluation (``fit``, ``train_run`` and the
    baselines all call it).

    ``val`` when given (named ``val_name``, e.g. ``"dev"``); else ``val_fraction`` of ``train`` held
    out (whole dialogues, deterministically by ``seed``; named ``"validation"``, with a warning);
    ``test`` with ``paper_protocol`` (the official code's optimistic protocol).

    Raises:
        ValueError: no selection data, or no training dialogues left.
    """
    train = list(train)
    if paper_protocol:
        if not test:
            raise ValueError("select_on_test_paper_protocol needs test dialogues")
        logger.warning("selecting the best epoch on the TEST set (paper protocol): results are optimistic")
        selection, selected_on = list(test), "test"
    elif val:
        selection, selected_on = list(val), val_name
    elif val_fraction > 0:
        train, selection = split_validation(train, val_fraction, seed=seed)
        selected_on = "validation"
        logger.warning(
            "no dev split: selecting on %d of the training dialogues (%.0f%%, seed %d; the validation split)",
            len(selection), 100 * val_fraction, seed,
        )  # fmt: skip
    else:
        raise ValueError("no model-selection data: give val=, set val_fraction > 0, or opt into the paper protocol")
    if not train:
        raise ValueError("no training dialogues")
    return Selection(train, selection, selected_on)


def consider_best(state: TrainState, score: float) -> bool:
    """Keep ``state.scored``'s weights as the best when ``score`` beats ``state.best_score``
    (strictly: ties keep the earlier epoch). Returns whether it did.

    This is the single truth of selection: ``fit`` returns ``state.best_model``, reports
    ``state.best_score`` and scores the test set with those weights.
    """
    if not score > state.best_score:  # NaN never improves
        return False
    state.best_score, state.best_epoch, state.best_step = score, state.epoch, state.step
    state.best_model = copy.deepcopy(state.scored.state_dict())
    return True
