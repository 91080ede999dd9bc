"""VEGA's losses as composable modules: masked class-weighted CE, anchor alignment, self-distillation.

Every loss masks padding the same way (:func:`valid_mask`) and reduces through one helper
(:func:`weighted_mean`), which returns an exact, graph-attached zero when nothing is valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .anchors.bank import AnchorBank
from .heads import ActivationLike, AnchorHead
from .sampling import StochasticAnchorSampler

Reduction = Literal["elementwise_mean", "batchmean"]


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


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def weighted_mean(
    values: Tensor, weights: Tensor, *, across_ranks: bool = False, total: Tensor | None = None
) -> Tensor:
    """``Σ w·v / Σ w``, with masked-out (``w == 0``) values never touching the result (NaN-safe),
    and an exact zero that stays attached to the graph when ``Σ w == 0``.

    With ``across_ranks`` (under ``torch.distributed``), ``Σ w`` is summed over all ranks and the
    result scaled by the world size, so that DDP's gradient *average* equals the gradient of the
    weighted mean over the global batch (ranks may hold different numbers of utterances).
    ``total`` supplies ``Σ w`` (already summed over ranks) when several means share it, so it is
    reduced once instead of once per term.
    """
    values = torch.where(weights > 0, values, torch.zeros_like(values))
    world = _world_size() if across_ranks else 1
    if total is None:
        total = weights.sum()
        if world > 1:
            total = total.detach().clone()
            torch.distributed.all_reduce(total)
    return (values * weights).sum() * world / torch.where(total > 0, total, torch.ones_like(total))


def check_labels(labels: Tensor, num_classes: int, ignore_index: int = -1) -> None:
    """Raise if a label is outside ``[0, num_classes)`` and not ``ignore_index`` (one host sync)."""
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bool(bad.any()):
        values = sorted(set(labels[bad].tolist()))
        raise ValueError(
            f"labels {values[:10]} are outside [0, {num_classes}); use {ignore_index} for padding/unlabelled"
        )


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

    ``logits [N, C]``, ``labels [N]``, ``valid [N]`` bool. Computed in float32 or wider.
    ``across_ranks``: normalise over the global batch under DDP (see :func:`weighted_mean`).
    """
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
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
    paper's ``F.kl_div(..., reduction="mean")``); ``"batchmean"`` over valid items only.
    """
    if student.dtype in (torch.float16, torch.bfloat16):
        student, teacher = student.float(), teacher.float()
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


# ---------------------------------------------------------------------------- modules
class MaskedCrossEntropyLoss(nn.Module):
    """Class-weighted cross-entropy over real utterances (weighted mean, like the paper).

    ``forward(logits [..., C], labels [...], mask=None [...])`` → scalar. Labels ``-1`` (and
    items where ``mask`` is 0) are ignored; all-padding batches give an exact 0 with zero gradients.
    """

    class_weights: Tensor | None

    def __init__(self, class_weights: Sequence[float] | Tensor | None = None, ignore_index: int = -1) -> None:
        super().__init__()
        _class_weight_buffer(self, class_weights)
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, labels: Tensor, mask: Tensor | None = None) -> Tensor:
        check_labels(labels, logits.shape[-1], self.ignore_index)
        valid = valid_mask(labels, mask, labels.shape, self.ignore_index)
        return masked_cross_entropy(_flatten(logits), labels.reshape(-1), valid, self.class_weights)


class AnchorAlignmentOutput(NamedTuple):
    """``loss``: scalar; ``logits``: ``[..., C]`` = ``logit_scale × cos(projection, anchors)``."""

    loss: Tensor
    logits: Tensor


class AnchorAlignmentLoss(nn.Module):
    """Align features to (visual) emotion anchors: the VEGA branch, for any ERC model.

    Owns a projector (``projector_layers`` Linear maps with ``activation`` and ``dropout`` between
    them) into the anchor space; logits are ``logit_scale × cosine(projection, anchors)`` and the
    loss is class-weighted masked cross-entropy over them.

    Args:
        anchors: an :class:`AnchorBank` (centers in eval; stochastic exemplars in training when
            ``sampler`` is given) or a fixed ``[C, D]`` tensor.
        in_features: feature size of the model's utterance representations.
        sampler: e.g. ``StochasticAnchorSampler(p=0.4)``; ``None`` always uses the centers.
    """

    class_weights: Tensor | None
    fixed_anchors: Tensor | None

    def __init__(
        self,
        anchors: AnchorBank | Tensor,
        in_features: int,
        *,
        sampler: StochasticAnchorSampler | None = None,
        projector_layers: int = 2,
        hidden_features: int | None = None,
        activation: ActivationLike = "elu",
        dropout: float = 0.0,
        logit_scale: float = 100.0,
        class_weights: Sequence[float] | Tensor | None = None,
        ignore_index: int = -1,
    ) -> None:
        super().__init__()
        if isinstance(anchors, AnchorBank):
            self.bank: AnchorBank | None = anchors
            self.register_buffer("fixed_anchors", None)
            num_classes, dim = anchors.num_classes, anchors.dim
        else:
            if anchors.dim() != 2:
                raise ValueError(f"anchors must be an AnchorBank or a [C, D] tensor, got shape {tuple(anchors.shape)}")
            if sampler is not None:
                raise ValueError("a sampler needs an AnchorBank (exemplars to draw from), not a fixed tensor")
            self.bank = None
            self.register_buffer("fixed_anchors", F.normalize(anchors.detach().float(), dim=-1))
            num_classes, dim = anchors.shape
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
        _class_weight_buffer(self, class_weights)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def current_anchors(self, n: int | None = None) -> Tensor:
        """The anchors this step uses: ``[C, D]`` (or ``[n, C, D]`` for an utterance-mode sampler)."""
        if self.bank is None:
            assert self.fixed_anchors is not None
            return self.fixed_anchors
        if self.sampler is None:
            return self.bank.centers
        return self.sampler(self.bank, n)

    def forward(
        self, features: Tensor, labels: Tensor, mask: Tensor | None = None, anchors: Tensor | None = None
    ) -> AnchorAlignmentOutput:
        """``features [B, T, F]`` or ``[N, F]``, ``labels [B, T]``/``[N]`` (-1 = padding),
        ``mask`` like labels (1 = real). ``anchors`` overrides the sampler (unit-norm ``[C, D]``)."""
        if labels.shape != features.shape[:-1]:
            raise ValueError(f"labels shape {tuple(labels.shape)} does not match features {tuple(features.shape)}")
        check_labels(labels, self.num_classes, self.ignore_index)
        flat = _flatten(features)
        if anchors is None:
            anchors = self.current_anchors(flat.shape[0])
        logits = self.head(flat, anchors)
        valid = valid_mask(labels, mask, labels.shape, self.ignore_index)
        loss = masked_cross_entropy(logits, labels.reshape(-1), valid, self.class_weights)
        return AnchorAlignmentOutput(loss, logits.reshape(*features.shape[:-1], -1))


class SelfDistillationLoss(nn.Module):
    """``KL(softmax(teacher/T) ‖ softmax(student/T)) · T²`` over valid items, with a learnable T.

    The temperature is stored as ``log_temperature`` (init ``log(temperature)``, as the paper).
    ``reduction="elementwise_mean"`` is the paper's (mean over items × classes); ``"batchmean"`` is
    the textbook one. The teacher is not detached unless ``detach_teacher`` (the paper lets the
    gradient flow into the teacher too).
    """

    def __init__(
        self,
        temperature: float = 2.0,
        learnable: bool = True,
        reduction: Reduction = "elementwise_mean",
        detach_teacher: bool = False,
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

    @property
    def temperature(self) -> Tensor:
        return self.log_temperature.exp()

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, mask: Tensor | None = None) -> Tensor:
        """``student_logits, teacher_logits [..., C]``; ``mask [...]`` (1 = real) → scalar."""
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
        return distillation_kl(_flatten(student_logits), _flatten(teacher), valid, self.temperature, self.reduction)
