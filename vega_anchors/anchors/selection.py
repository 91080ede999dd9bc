"""Curated exemplar selection in encoder space: random, typical (nearest the class mean) or diverse
(k-center greedy), with optional outlier and near-duplicate removal. Seeded and deterministic."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SELECT_METHODS", "SelectMethod", "Selection", "select_exemplars"]

logger = logging.getLogger(__name__)

SelectMethod = Literal["random", "typical", "diverse"]
SELECT_METHODS: tuple[str, ...] = ("random", "typical", "diverse")
"""The ``select=`` choices: ``random`` (a seeded random sample), ``typical`` (the ``per_class``
exemplars with the highest cosine to their class's mean feature) and ``diverse`` (k-center greedy:
start at the most typical exemplar, then repeatedly add the one farthest, in cosine distance, from
those chosen)."""


@dataclass
class Selection:
    """Which pool items were chosen, per class.

    ``indices[name]``: positions in the ``features``/pool given to :func:`select_exemplars`, in
    selection order. ``removed_outliers`` / ``removed_duplicates``: positions dropped before selecting.
    ``settings``: the arguments, for the bank's metadata.
    """

    indices: dict[str, list[int]]
    removed_outliers: dict[str, list[int]] = field(default_factory=dict)
    removed_duplicates: dict[str, list[int]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _outliers(feats: Tensor, z: float) -> Tensor:
    """Mask of rows whose cosine to the class mean is more than ``z`` standard deviations below average."""
    if feats.shape[0] < 3:
        return torch.zeros(feats.shape[0], dtype=torch.bool)
    cos = feats @ F.normalize(feats.mean(0), dim=0)
    std = cos.std()
    if float(std) == 0:
        return torch.zeros(feats.shape[0], dtype=torch.bool)
    return cos < cos.mean() - z * std


def _duplicates(feats: Tensor, order: Tensor, threshold: float) -> Tensor:
    """Mask of rows with cosine >= ``threshold`` to an earlier kept row (rows visited in ``order``)."""
    dup = torch.zeros(feats.shape[0], dtype=torch.bool)
    kept: list[int] = []
    for i in order.tolist():
        if kept and float((feats[kept] @ feats[i]).max()) >= threshold:
            dup[i] = True
        else:
            kept.append(i)
    return dup


def _k_center(feats: Tensor, k: int) -> list[int]:
    centre = F.normalize(feats.mean(0), dim=0)
    chosen = [int(torch.argmax(feats @ centre))]
    nearest = 1 - feats @ feats[chosen[0]]  # cosine distance to the chosen set
    while len(chosen) < k:
        nearest[chosen] = -1.0
        nxt = int(torch.argmax(nearest))
        chosen.append(nxt)
        nearest = torch.minimum(nearest, 1 - feats @ feats[nxt])
    return chosen


def select_exemplars(
    features: Tensor,
    labels: Sequence[str],
    *,
    per_class: int = 35,
    select: SelectMethod = "typical",
    seed: int = 0,
    outlier_z: float | None = None,
    duplicate_threshold: float | None = None,
    classes: Sequence[str] | None = None,
) -> Selection:
    """Choose up to ``per_class`` exemplars per class from ``features [N, D]`` with ``labels (N)``.

    Args:
        features: encoder features of the pool images (normalised here).
        labels: one class name per row.
        per_class: exemplars wanted per class; a class with fewer candidates keeps them all (logged).
        select: ``"random"``, ``"typical"`` or ``"diverse"`` (:data:`SELECT_METHODS`).
        seed: seeds the random order (``random`` sampling; the visiting order of duplicate removal);
            the same inputs and seed always give the same selection.
        outlier_z: drop candidates whose cosine to their class mean is more than ``outlier_z``
            standard deviations below the class average (e.g. 2.5); ``None`` = keep all.
        duplicate_threshold: drop candidates with a cosine >= this to an already kept one of the
            same class (e.g. 0.98; ``typical`` visits the most typical first); ``None`` = keep all.
            Costs O(n²·D) per class of n candidates: bound n with ``candidates_per_class`` on
            :meth:`AnchorBank.from_pool` for datasets with thousands of images per class.
        classes: the class order of the result; default = first-seen order of ``labels``.

    Returns:
        :class:`Selection` with pool positions per class.
    """
    _check_arguments(features, labels, per_class=per_class, select=select, duplicate_threshold=duplicate_threshold)
    feats_all = F.normalize(features.detach().float().cpu(), dim=-1)
    order = list(dict.fromkeys(labels)) if classes is None else list(classes)
    result = Selection(
        {},
        settings={
            "per_class": per_class,
            "select": select,
            "seed": seed,
            "outlier_z": outlier_z,
            "duplicate_threshold": duplicate_threshold,
        },
    )
    for c, name in enumerate(order):
        positions = torch.tensor([i for i, label in enumerate(labels) if label == name], dtype=torch.long)
        if positions.numel() == 0:
            raise ValueError(f"class {name!r} has no candidates; labels present: {sorted(set(labels))}")
        gen = torch.Generator().manual_seed(seed * 1_000_003 + c)
        feats = feats_all[positions]
        keep = _keep_mask(result, name, positions, feats, select, gen, outlier_z, duplicate_threshold)
        positions, feats = positions[keep], feats[keep]
        k = min(per_class, len(positions))
        if k < per_class:
            logger.info("class %s: only %d candidates for per_class=%d; keeping all", name, k, per_class)
        result.indices[name] = positions[_choose(feats, k, select, gen)].tolist()
    return result


def _check_arguments(
    features: Tensor, labels: Sequence[str], *, per_class: int, select: str, duplicate_threshold: float | None
) -> None:
    """Raise ``ValueError`` for invalid :func:`select_exemplars` arguments."""
    if select not in SELECT_METHODS:
        raise ValueError(f"select must be one of {SELECT_METHODS}, got {select!r}")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    if features.dim() != 2 or features.shape[0] != len(labels):
        raise ValueError(f"features must be [N, dim] with N = len(labels) = {len(labels)}, got {tuple(features.shape)}")
    if duplicate_threshold is not None and not -1 <= duplicate_threshold <= 1:
        raise ValueError(f"duplicate_threshold is a cosine in [-1, 1], got {duplicate_threshold}")


def _keep_mask(
    result: Selection,
    name: str,
    positions: Tensor,
    feats: Tensor,
    select: str,
    gen: torch.Generator,
    outlier_z: float | None,
    duplicate_threshold: float | None,
) -> Tensor:
    """Mask of one class's candidates left after outlier and duplicate removal (recorded in ``result``)."""
    keep = torch.ones(len(positions), dtype=torch.bool)
    if outlier_z is not None:
        out = _outliers(feats, outlier_z)
        keep &= ~out
        result.removed_outliers[name] = positions[out].tolist()
    if duplicate_threshold is not None:
        if select == "typical":
            visit = torch.argsort(-(feats @ F.normalize(feats[keep].mean(0), dim=0)), stable=True)
        else:
            visit = torch.randperm(len(positions), generator=gen)
        visit = visit[keep[visit]]
        dup = _duplicates(feats, visit, duplicate_threshold) & keep
        keep &= ~dup
        result.removed_duplicates[name] = positions[dup].tolist()
    return keep


def _choose(feats: Tensor, k: int, select: str, gen: torch.Generator) -> list[int]:
    """Positions (in ``feats``) of the ``k`` exemplars ``select`` picks, in selection order."""
    if select == "random":
        return torch.randperm(len(feats), generator=gen)[:k].tolist()
    if select == "typical":
        cos = feats @ F.normalize(feats.mean(0), dim=0)
        return torch.argsort(-cos, stable=True)[:k].tolist()
    return _k_center(feats, k)
