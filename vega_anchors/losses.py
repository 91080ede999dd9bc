"""VEGA's losses as composable modules: masked class-weighted CE, anchor alignment, self-distillation.

Every loss masks padding the same way (:func:`valid_mask`, then :func:`masked_rows` before any
projector, softmax or log, so garbage at padded positions reaches neither the loss nor a gradient),
takes its denominators from one helper (:func:`denominators`, one process or DDP alike), and
reduces through :func:`weighted_mean`, which returns an exact, graph-attached zero when nothing is
valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .anchors.bank import AnchorBank
from .distributed import world_size
from .heads import ActivationLike, AnchorHead
from .sampling import StochasticAnchorSampler

Reduction = Literal["elementwise_mean", "batchmean"]

__all__ = [
    "AnchorAlignmentLoss",
    "AnchorAlignmentOutput",
    "Denominators",
    "MaskedCrossEntropyLoss",
    "Reduction",
    "SelfDistillationLoss",
    "check_labels",
    "denominators",
    "distillation_kl",
    "masked_cross_entropy",
    "masked_rows",
    "valid_mask",
    "weighted_mean",
]


# ---------------------------------------------------------------------------- shared helpers
def valid_mask(labels: Tensor | None, mask: Tensor | None, shape: torch.Size, ignore_index: int = -1) -> Tensor:
    """Flattened bool ``[N]`` of the items that count: ``mask`` (1 = real) and ``labels != ignore_index``."""
    parts: list[Tensor] = []
    if labels is not None:
        parts.append(labels.reshape(-1) != ignore_index)
    if mask is not None:
        if mask.shape != shape:
            raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {tuple(shape)} (one entry per item)")
        parts.append(mask.reshape(-1).bool())
    if not parts:
        raise ValueError("valid_mask needs labels or a mask")
    valid = parts[0]
    for part in parts[1:]:
        valid = valid & part
    return valid


def masked_rows(x: Tensor, valid: Tensor) -> Tensor:
    """``x [N, ...]`` with every row where ``valid [N]`` is False replaced by zeros (``torch.where``).

    This is how every loss here masks: invalid rows are replaced *before* any projector, softmax or
    log, so garbage there (NaN, Inf, 1e30) reaches neither a result nor a gradient.
    """
    keep = valid.reshape(-1, *([1] * (x.dim() - 1)))
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


def _sum_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


class Denominators(NamedTuple):
    """The denominators of the masked means over one batch, computed once and shared by every term.

    ``class_weight``: ``Σ w_y`` over the valid items (the class-weighted CE's denominator);
    ``count``: the number of valid items (the distillation KL's); ``across_ranks``: both were summed
    over all DDP ranks, and the means are scaled by the world size, so that DDP's gradient *average*
    equals the gradient of the mean over the global batch (ranks may hold different numbers of items).
    """

    class_weight: Tensor
    count: Tensor
    across_ranks: bool


def denominators(
    labels: Tensor, valid: Tensor, class_weights: Tensor | None = None, *, across_ranks: bool = False
) -> Denominators:
    """:class:`Denominators` for ``labels [N]`` and ``valid [N]``: one helper for one process and DDP.

    Under ``torch.distributed`` with ``across_ranks``, both sums travel in a single ``all_reduce``.
    """
    dtype = _sum_dtype(valid.device)
    weight = valid.to(dtype)
    if class_weights is not None:
        weight = weight * class_weights.to(dtype)[torch.where(valid, labels, torch.zeros_like(labels))]
    totals = torch.stack([weight.sum(), valid.to(dtype).sum()])
    across_ranks = across_ranks and world_size() > 1
    if across_ranks:
        totals = totals.detach().clone()
        torch.distributed.all_reduce(totals)
    return Denominators(totals[0], totals[1], across_ranks)


def weighted_mean(
    values: Tensor, weights: Tensor, *, across_ranks: bool = False, total: Tensor | None = None
) -> Tensor:
    """``Σ w·v / Σ w``, with masked-out (``w == 0``) values never touching the result (NaN-safe),
    and an exact zero that stays attached to the graph when ``Σ w == 0``.

    With ``across_ranks`` (under ``torch.distributed``), ``Σ w`` is summed over all ranks and the
    result scaled by the world size (see :class:`Denominators`). ``total`` supplies ``Σ w`` (already
    summed over ranks) when several means share it, so it is reduced once instead of once per term.
    """
    values = torch.where(weights > 0, values, torch.zeros_like(values))
    world = world_size() if across_ranks else 1
    if total is None:
        total = weights.sum()
        if world > 1:
            total = total.detach().clone()
            torch.distributed.all_reduce(total)
    total = total.to(values.dtype)
    return (values * weights).sum() * world / torch.where(total > 0, total, torch.ones_like(total))


def check_labels(labels: Tensor, num_classes: int, ignore_index: int = -1) -> None:
    """Raise if a label is outside ``[0, num_classes)`` and not ``ignore_index`` (one host sync)."""
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bool(bad.any()):
        values = sorted(set(labels[bad].tolist()))
        raise ValueError(
            f"labels {values[:10]} are outside [0, {num_classes}); use {ignore_index} for padding/unlabelled"
        )


def _at_least_float32(x: Tensor) -> Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def masked_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    valid: Tensor,
    class_weights: Tensor | None = None,
    *,
    across_ranks: bool = False,
    total: Tensor | None = None,
) -> Tensor:
    """Class-weighted CE over valid items, as a weighted mean ``Σ w_y·ce / Σ w_y`` (the paper's).

    ``logits [N, C]``, ``labels [N]``, ``valid [N]`` bool. Computed in float32 or wider. Invalid rows
    are replaced before the softmax (:func:`masked_rows`). ``across_ranks``/``total``: see
    :func:`weighted_mean` and :class:`Denominators`.
    """
    logits = masked_rows(_at_least_float32(logits), valid)
    target = torch.where(valid, labels, torch.zeros_like(labels))
    ce = F.cross_entropy(logits, target, reduction="none")
    w = valid.to(ce.dtype)
    if class_weights is not None:
        w = w * class_weights.to(ce.dtype)[target]
    return weighted_mean(ce, w, across_ranks=across_ranks, total=total)


def distillation_kl(
    student: Tensor,
    teacher: Tensor,
    valid: Tensor,
    temperature: Tensor,
    reduction: Reduction = "elementwise_mean",
    *,
    across_ranks: bool = False,
    total: Tensor | None = None,
) -> Tensor:
    """``KL(softmax(teacher/T) ‖ softmax(student/T)) · T²`` over valid items.

    ``student, teacher [N, C]``. ``"elementwise_mean"`` averages over valid items × classes (the
    paper's ``F.kl_div(..., reduction="mean")``); ``"batchmean"`` over valid items only. Invalid rows
    are replaced before the softmax (:func:`masked_rows`).
    """
    if student.dtype in (torch.float16, torch.bfloat16):
        student, teacher = student.float(), teacher.float()
    student, teacher = masked_rows(student, valid), masked_rows(teacher, valid)
    t = temperature.to(student.dtype)
    log_p_student = F.log_softmax(student / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher / t, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1)  # [N]
    if reduction == "elementwise_mean":
        kl = kl / student.shape[-1]
    elif reduction != "batchmean":
        raise ValueError(f"reduction must be 'elementwise_mean' or 'batchmean', got {reduction!r}")
    return weighted_mean(kl, valid.to(kl.dtype), across_ranks=across_ranks, total=total) * t * t


def _flatten(x: Tensor) -> Tensor:
    return x.reshape(-1, x.shape[-1])


def _class_weight_buffer(module: nn.Module, class_weights: Sequence[float] | Tensor | None) -> None:
    # float64 keeps the given values exact; they are cast to the logits' dtype at use.
    weights = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float64)
    module.register_buffer("class_weights", weights)


def _shared(denominators: Denominators | None, across_ranks: bool, which: str) -> dict[str, Any]:
    """Keyword arguments of the functional losses for a module call (shared or own denominators)."""
    if denominators is None:
        return {"across_ranks": across_ranks}
    return {"across_ranks": denominators.across_ranks, "total": getattr(denominators, which)}


# ---------------------------------------------------------------------------- modules
class MaskedCrossEntropyLoss(nn.Module):
    """Class-weighted cross-entropy over real utterances (weighted mean, like the paper).

    ``forward(logits [..., C], labels [...], mask=None [...])`` → scalar. Labels ``-1`` (and
    items where ``mask`` is 0) are ignored; all-padding batches give an exact 0 with zero gradients.
    ``across_ranks``: under DDP, normalise over the global batch (see :class:`Denominators`).
    """

    class_weights: Tensor | None

    def __init__(
        self,
        class_weights: Sequence[float] | Tensor | None = None,
        ignore_index: int = -1,
        *,
        across_ranks: bool = False,
    ) -> None:
        super().__init__()
        _class_weight_buffer(self, class_weights)
        self.ignore_index = ignore_index
        self.across_ranks = across_ranks

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        mask: Tensor | None = None,
        *,
        denominators: Denominators | None = None,
        validate: bool = True,
    ) -> Tensor:
        """``denominators``: shared with other terms (from :func:`denominators`); ``validate=False``
        skips the label range check (a host sync) when the caller has done it."""
        if validate:
            check_labels(labels, logits.shape[-1], self.ignore_index)
        valid = valid_mask(labels, mask, labels.shape, self.ignore_index)
        return masked_cross_entropy(
            _flatten(logits),
            labels.reshape(-1),
            valid,
            self.class_weights,
            **_shared(denominators, self.across_ranks, "class_weight"),
        )


class AnchorAlignmentOutput(NamedTuple):
    """``loss``: scalar; ``logits``: ``[..., C]`` = ``logit_scale × cos(projection, anchors)``."""

    loss: Tensor
    logits: Tensor


class AnchorAlignmentLoss(nn.Module):
    """Align features to (visual) emotion anchors: the VEGA branch, for any ERC model.

    Owns a projector (``projector_layers`` Linear maps with ``activation`` and ``dropout`` between
    them) into the anchor space; logits are ``logit_scale × cosine(projection, anchors)`` and the
    loss is class-weighted masked cross-entropy over them. ``forward`` = :meth:`logits` then
    :meth:`loss`; call them apart when the logits are needed before the labels are known.

    Args:
        anchors: an :class:`AnchorBank` (centers in eval; stochastic exemplars in training when
            ``sampler`` is given), a fixed ``[C, D]`` tensor, or ``None``: anchors are then passed to
            every call (e.g. one draw shared by several heads, as in :class:`DualBranchVEGA`), and
            ``num_classes`` and ``anchor_dim`` are required.
        in_features: feature size of the model's utterance representations.
        sampler: e.g. ``StochasticAnchorSampler(p=0.4)``; ``None`` always uses the centers.
        across_ranks: under DDP, normalise the loss over the global batch (see :class:`Denominators`).
    """

    fixed_anchors: Tensor | None

    def __init__(
        self,
        anchors: AnchorBank | Tensor | None,
        in_features: int,
        *,
        sampler: StochasticAnchorSampler | None = None,
        num_classes: int | None = None,
        anchor_dim: int | None = None,
        projector_layers: int = 2,
        hidden_features: int | None = None,
        activation: ActivationLike = "elu",
        dropout: float = 0.0,
        logit_scale: float = 100.0,
        class_weights: Sequence[float] | Tensor | None = None,
        ignore_index: int = -1,
        across_ranks: bool = False,
    ) -> None:
        super().__init__()
        self.bank, fixed, (num_classes, dim) = _anchor_source(anchors, sampler, num_classes, anchor_dim)
        self.register_buffer("fixed_anchors", fixed)
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"{len(class_weights)} class weights for {num_classes} anchor classes")
        self.sampler = sampler
        self.head = AnchorHead(
            in_features,
            dim,
            layers=projector_layers,
            hidden_features=hidden_features,
            activation=activation,
            dropout=dropout,
            logit_scale=logit_scale,
        )
        self.ce = MaskedCrossEntropyLoss(class_weights, ignore_index, across_ranks=across_ranks)
        self.num_classes = num_classes
        self.register_load_state_dict_pre_hook(_upgrade_alignment_state)

    @property
    def class_weights(self) -> Tensor | None:
        """The CE class weights ``[C]`` (``None`` = unweighted): ``self.ce.class_weights``."""
        return self.ce.class_weights

    @property
    def ignore_index(self) -> int:
        return self.ce.ignore_index

    def current_anchors(self, n: int | None = None) -> Tensor:
        """The anchors this step uses: ``[C, D]`` (or ``[n, C, D]`` for an utterance-mode sampler)."""
        if self.bank is None:
            if self.fixed_anchors is None:
                raise ValueError("this AnchorAlignmentLoss holds no anchors (built with anchors=None): pass anchors=")
            return self.fixed_anchors
        if self.sampler is None:
            return self.bank.centers
        return self.sampler(self.bank, n)

    def logits(self, features: Tensor, anchors: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``features [..., F]`` → ``[..., C]`` scaled cosines to ``anchors`` (unit-norm ``[C, D]``,
        or ``[N, C, D]`` per item; default: :meth:`current_anchors`). Rows where ``mask [...]`` is 0
        are replaced by zeros before the projector (their logits are meaningless but finite)."""
        flat = _flatten(features)
        if mask is not None:
            flat = masked_rows(flat, valid_mask(None, mask, features.shape[:-1]))
        if anchors is None:
            anchors = self.current_anchors(flat.shape[0])
        return self.head(flat, anchors).reshape(*features.shape[:-1], self.num_classes)

    def loss(
        self,
        logits: Tensor,
        labels: Tensor,
        mask: Tensor | None = None,
        *,
        denominators: Denominators | None = None,
        validate: bool = True,
    ) -> Tensor:
        """Class-weighted masked CE of ``logits [..., C]`` against ``labels [...]`` (-1 = padding),
        by :attr:`ce` (a :class:`MaskedCrossEntropyLoss`); ``denominators`` shared with other terms;
        ``validate=False`` skips the label range check."""
        return self.ce(logits, labels, mask, denominators=denominators, validate=validate)

    def forward(
        self, features: Tensor, labels: Tensor, mask: Tensor | None = None, anchors: Tensor | None = None
    ) -> AnchorAlignmentOutput:
        """``features [B, T, F]`` or ``[N, F]``, ``labels [B, T]``/``[N]`` (-1 = padding),
        ``mask`` like labels (1 = real). ``anchors`` overrides the sampler (unit-norm ``[C, D]``).
        Features at padded positions never reach the projector: garbage there changes nothing."""
        if labels.shape != features.shape[:-1]:
            raise ValueError(f"labels shape {tuple(labels.shape)} does not match features {tuple(features.shape)}")
        check_labels(labels, self.num_classes, self.ignore_index)
        valid = valid_mask(labels, mask, labels.shape, self.ignore_index).reshape(labels.shape)
        logits = self.logits(features, anchors, mask=valid)
        return AnchorAlignmentOutput(self.loss(logits, labels, valid, validate=False), logits)


def _upgrade_alignment_state(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Read state dicts saved by vega-anchors 0.1, which kept the class weights at ``class_weights``."""
    if prefix + "class_weights" in state_dict:
        state_dict[prefix + "ce.class_weights"] = state_dict.pop(prefix + "class_weights")


def _anchor_source(
    anchors: AnchorBank | Tensor | None,
    sampler: StochasticAnchorSampler | None,
    num_classes: int | None,
    anchor_dim: int | None,
) -> tuple[AnchorBank | None, Tensor | None, tuple[int, int]]:
    """``(bank, fixed unit-norm anchors, (classes, dim))`` for :class:`AnchorAlignmentLoss`."""
    if isinstance(anchors, AnchorBank):
        return anchors, None, (anchors.num_classes, anchors.dim)
    if sampler is not None:
        raise ValueError("a sampler needs an AnchorBank (exemplars to draw from), not a fixed tensor or None")
    if anchors is None:
        if num_classes is None or anchor_dim is None:
            raise ValueError("anchors=None (anchors passed to every call) needs num_classes= and anchor_dim=")
        return None, None, (num_classes, anchor_dim)
    if anchors.dim() != 2:
        raise ValueError(f"anchors must be an AnchorBank or a [C, D] tensor, got shape {tuple(anchors.shape)}")
    fixed = F.normalize(anchors.detach().float(), dim=-1)
    return None, fixed, (fixed.shape[0], fixed.shape[1])


class SelfDistillationLoss(nn.Module):
    """``KL(softmax(teacher/T) ‖ softmax(student/T)) · T²`` over valid items, with a learnable T.

    The temperature is stored as ``log_temperature`` (init ``log(temperature)``, as the paper).
    ``reduction="elementwise_mean"`` is the paper's (mean over items × classes); ``"batchmean"`` is
    the textbook one. The teacher is not detached unless ``detach_teacher`` (the paper lets the
    gradient flow into the teacher too). ``across_ranks``: under DDP, normalise over the global batch.
    """

    def __init__(
        self,
        temperature: float = 2.0,
        learnable: bool = True,
        reduction: Reduction = "elementwise_mean",
        detach_teacher: bool = False,
        *,
        across_ranks: bool = False,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if reduction not in ("elementwise_mean", "batchmean"):
            raise ValueError(f"reduction must be 'elementwise_mean' or 'batchmean', got {reduction!r}")
        log_t = torch.tensor(math.log(temperature))
        if learnable:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)
        self.reduction: Reduction = reduction
        self.detach_teacher = detach_teacher
        self.across_ranks = across_ranks

    @property
    def temperature(self) -> Tensor:
        return self.log_temperature.exp()

    def forward(
        self,
        student_logits: Tensor,
        teacher_logits: Tensor,
        mask: Tensor | None = None,
        *,
        denominators: Denominators | None = None,
    ) -> Tensor:
        """``student_logits, teacher_logits [..., C]``; ``mask [...]`` (1 = real) → scalar.
        ``denominators``: shared with other terms (its ``count``). Rows where ``mask`` is 0 never
        reach the softmax: garbage there changes neither the value nor any gradient."""
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f"student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)} logits differ"
            )
        teacher = teacher_logits.detach() if self.detach_teacher else teacher_logits
        items = student_logits.shape[:-1]
        valid = (
            torch.ones(items.numel(), dtype=torch.bool, device=student_logits.device)
            if mask is None
            else valid_mask(None, mask, items)
        )
        return distillation_kl(
            _flatten(student_logits),
            _flatten(teacher),
            valid,
            self.temperature,
            self.reduction,
            **_shared(denominators, self.across_ranks, "count"),
        )
