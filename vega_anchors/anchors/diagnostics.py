"""Can the anchors teach anything? Separability and quality checks of an :class:`AnchorBank`.

All cosines are between L2-normalised exemplar features and unit-norm class centres (the encoder
space the anchors live in). Warnings fire at these documented thresholds (keyword arguments of
:func:`anchor_diagnostics`):

* ``min_count`` (:data:`MIN_COUNT` = 5): a class with fewer exemplars gives a noisy centre.
* ``center_cosine`` (:data:`CENTER_COSINE_WARN` = 0.95): two class centres this similar are hard
  to tell apart (aligning to them teaches little).
* ``loo_margin`` (:data:`LOO_MARGIN` = 0.5): leave-one-out nearest-centre accuracy below
  ``chance + loo_margin × (1 - chance)`` (chance = 1/C), i.e. less than half-way from chance to
  perfect, means the classes are poorly separable in this encoder.
* ``class_loo`` (:data:`CLASS_LOO_WARN` = 0.5): a class whose own exemplars are nearest its
  (leave-one-out) centre less than half the time.
* ``duplicate_cosine`` (:data:`DUPLICATE_COSINE` = 0.98): exemplar pairs at least this similar are
  near-duplicates (the same image, or a crop of it, twice).
* ``nearer_other_fraction`` (:data:`NEARER_OTHER_FRACTION` = 0.1): more than this fraction of a
  class's exemplars lie nearer another class's centre than their own.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from .bank import AnchorBank

__all__ = [
    "CENTER_COSINE_WARN",
    "CLASS_LOO_WARN",
    "DUPLICATE_COSINE",
    "LOO_MARGIN",
    "MIN_COUNT",
    "NEARER_OTHER_FRACTION",
    "AnchorDiagnostics",
    "anchor_diagnostics",
]

MIN_COUNT = 5
"""Warn when a class has fewer exemplars than this."""
CENTER_COSINE_WARN = 0.95
"""Warn when two class centres have a cosine >= this."""
LOO_MARGIN = 0.5
"""Warn when the leave-one-out accuracy is below ``chance + LOO_MARGIN * (1 - chance)``."""
CLASS_LOO_WARN = 0.5
"""Warn when one class's leave-one-out accuracy is below this."""
DUPLICATE_COSINE = 0.98
"""Exemplar pairs with a cosine >= this are reported as near-duplicates."""
NEARER_OTHER_FRACTION = 0.1
"""Warn when more than this fraction of a class's exemplars are nearer another class's centre."""

_MAX_LISTED = 50


@dataclass
class AnchorDiagnostics:
    """Diagnostics of an anchor bank with ``C`` classes.

    Attributes:
        class_names: ``C`` names.
        counts: exemplars per class.
        spread: per class, the mean cosine of its exemplars to its centre (1 = all identical;
            lower = more varied).
        center_cosine: ``[C][C]`` cosines between the unit class centres.
        loo_accuracy: leave-one-out nearest-centre accuracy over all exemplars of classes with >= 2
            exemplars (each exemplar is left out of its own centre); ``chance`` = 1/C.
        loo_per_class: the same per class (``nan`` for a class with one exemplar).
        loo_confusion: ``[C][C]`` counts (row = true class, column = nearest centre).
        near_duplicates: pairs ``{"a": class, "i": index, "b": class, "j": index, "cosine": c}`` with
            cosine >= ``thresholds["duplicate_cosine"]`` (at most 50 listed, most similar first);
            ``num_near_duplicates`` counts all.
        nearer_other: exemplars nearer another class's centre than their own (full centres):
            ``{"class", "index", "nearest", "cosine_own", "cosine_nearest"}`` (at most 50 listed);
            ``num_nearer_other`` per class counts all.
        warnings: human-readable warnings (thresholds in the module docstring).
        thresholds: the thresholds used.
    """

    class_names: list[str]
    counts: list[int]
    spread: list[float]
    center_cosine: list[list[float]]
    loo_accuracy: float
    loo_per_class: list[float]
    loo_confusion: list[list[int]]
    chance: float
    near_duplicates: list[dict[str, Any]]
    num_near_duplicates: int
    nearer_other: list[dict[str, Any]]
    num_nearer_other: list[int]
    warnings: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``nan`` becomes ``None``)."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, list):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return value

        return clean(asdict(self))  # type: ignore[no-any-return]

    def most_similar_pair(self) -> tuple[str, str, float] | None:
        """The two different classes whose centres are most similar, with their cosine."""
        best = None
        n = len(self.class_names)
        for a in range(n):
            for b in range(a + 1, n):
                if best is None or self.center_cosine[a][b] > best[2]:
                    best = (self.class_names[a], self.class_names[b], self.center_cosine[a][b])
        return best

    def format(self) -> str:
        """A plain-text report: one line per class, the most similar centres, LOO accuracy, warnings."""
        width = max(len(n) for n in self.class_names)
        lines = [f"{'class':<{width}}  count  spread  loo_acc  nearer_other"]
        for i, name in enumerate(self.class_names):
            loo = self.loo_per_class[i]
            loo_text = "  n/a" if math.isnan(loo) else f"{loo:5.2f}"
            cells = f"{self.counts[i]:5d}  {self.spread[i]:6.3f}  {loo_text:>7}  {self.num_nearer_other[i]:12d}"
            lines.append(f"{name:<{width}}  {cells}")
        pair = self.most_similar_pair()
        if pair is not None:
            lines.append(f"most similar centres: {pair[0]} / {pair[1]} (cosine {pair[2]:.3f})")
        lines.append(f"leave-one-out nearest-centre accuracy: {self.loo_accuracy:.3f} (chance {self.chance:.3f})")
        lines.append(
            f"near-duplicate pairs (cosine >= {self.thresholds.get('duplicate_cosine')}): {self.num_near_duplicates}"
        )
        lines += [f"WARNING: {w}" for w in self.warnings] or ["no warnings"]
        return "\n".join(lines)


def anchor_diagnostics(
    bank: AnchorBank,
    *,
    min_count: int = MIN_COUNT,
    center_cosine: float = CENTER_COSINE_WARN,
    loo_margin: float = LOO_MARGIN,
    class_loo: float = CLASS_LOO_WARN,
    duplicate_cosine: float = DUPLICATE_COSINE,
    nearer_other_fraction: float = NEARER_OTHER_FRACTION,
) -> AnchorDiagnostics:
    """Per-class counts and spread, centre cosines, leave-one-out separability, near-duplicates and
    misplaced exemplars of ``bank``, with warnings at the given thresholds (see the module docstring).

    Works on ``bank.exemplars [C, K, D]`` / ``bank.counts [C]`` / ``bank.centers [C, D]`` in float32
    on the CPU; cost is O(N²·D) for N exemplars in all (fine for thousands).
    """
    names = list(bank.class_names)
    n_cls = len(names)
    ex, counts, centers, feats, owner, index = _flatten(bank)

    # spread: mean cosine to the own (unit) centre
    cos_all = feats @ centers.T  # [N, C]
    own = cos_all.gather(1, owner[:, None]).squeeze(1)
    spread = [float(own[owner == c].mean()) for c in range(n_cls)]
    center_cos = (centers @ centers.T).clamp(-1, 1)

    confusion = _loo_confusion(ex, counts, feats, owner, cos_all)
    per_class = [
        float(confusion[c, c] / confusion[c].sum()) if int(confusion[c].sum()) > 0 else float("nan")
        for c in range(n_cls)
    ]
    loo_acc = float(confusion.diag().sum() / confusion.sum()) if int(confusion.sum()) > 0 else float("nan")
    duplicates, num_duplicates = _near_duplicates(feats, owner, index, names, duplicate_cosine)
    nearer, num_nearer = _nearer_other(cos_all, own, owner, index, names)
    thresholds = {
        "min_count": min_count,
        "center_cosine": center_cosine,
        "loo_margin": loo_margin,
        "class_loo": class_loo,
        "duplicate_cosine": duplicate_cosine,
        "nearer_other_fraction": nearer_other_fraction,
    }
    diagnostics = AnchorDiagnostics(
        class_names=names,
        counts=counts.tolist(),
        spread=spread,
        center_cosine=center_cos.tolist(),
        loo_accuracy=loo_acc,
        loo_per_class=per_class,
        loo_confusion=confusion.tolist(),
        chance=1.0 / n_cls,
        near_duplicates=duplicates,
        num_near_duplicates=num_duplicates,
        nearer_other=nearer,
        num_nearer_other=num_nearer,
        thresholds=thresholds,
    )
    diagnostics.warnings = _class_warnings(diagnostics) + _bank_warnings(diagnostics) + _exemplar_warnings(diagnostics)
    return diagnostics


def _flatten(bank: AnchorBank) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(exemplars [C, K, D], counts [C], unit centres [C, D], features [N, D], owner class [N], index [N])``."""
    counts = bank.counts.detach().cpu().long()
    ex = bank.exemplars.detach().cpu().float()  # [C, K, D], unit rows, zero padding
    centers = F.normalize(bank.centers.detach().cpu().float(), dim=-1)  # [C, D]
    valid = torch.arange(ex.shape[1]) < counts[:, None]  # [C, K]
    feats = ex[valid]  # [N, D]
    owner = torch.arange(len(counts))[:, None].expand_as(valid)[valid]  # [N]
    index = torch.arange(ex.shape[1])[None].expand_as(valid)[valid]  # [N]
    return ex, counts, centers, feats, owner, index


def _loo_confusion(ex: Tensor, counts: Tensor, feats: Tensor, owner: Tensor, cos_all: Tensor) -> Tensor:
    """``[C, C]`` leave-one-out nearest-centre counts (own centre recomputed without the exemplar)."""
    n_cls = len(counts)
    sums = ex.sum(1)  # [C, D]
    loo_counts = (counts[owner] - 1).clamp(min=1).float()
    loo_own = F.normalize((sums[owner] - feats) / loo_counts[:, None], dim=-1)
    loo_cos = cos_all.clone()
    loo_cos[torch.arange(len(owner)), owner] = (feats * loo_own).sum(-1)
    predicted = loo_cos.argmax(1)
    usable = counts[owner] >= 2
    confusion = torch.zeros(n_cls, n_cls, dtype=torch.long)
    for t, p in zip(owner[usable].tolist(), predicted[usable].tolist(), strict=True):
        confusion[t, p] += 1
    return confusion


def _near_duplicates(
    feats: Tensor, owner: Tensor, index: Tensor, names: list[str], threshold: float
) -> tuple[list[dict[str, Any]], int]:
    """Near-duplicate exemplar pairs (most similar first, at most ``_MAX_LISTED``) and their total count."""
    sim = feats @ feats.T
    upper = torch.triu(torch.ones_like(sim, dtype=torch.bool), diagonal=1)
    hits = (sim >= threshold) & upper
    pairs = hits.nonzero().tolist()
    pairs.sort(key=lambda ij: -float(sim[ij[0], ij[1]]))
    duplicates = [
        {"a": names[int(owner[i])], "i": int(index[i]), "b": names[int(owner[j])], "j": int(index[j]),
         "cosine": round(float(sim[i, j]), 6)}
        for i, j in pairs[:_MAX_LISTED]
    ]  # fmt: skip
    return duplicates, int(hits.sum())


def _nearer_other(
    cos_all: Tensor, own: Tensor, owner: Tensor, index: Tensor, names: list[str]
) -> tuple[list[dict[str, Any]], list[int]]:
    """Exemplars nearer another class's (full) centre than their own (at most ``_MAX_LISTED``), and counts per class."""
    n_cls = len(names)
    others = cos_all.clone()
    others[torch.arange(len(owner)), owner] = -math.inf
    best_other, best_other_cls = others.max(1) if n_cls > 1 else (torch.full_like(own, -math.inf), owner)
    misplaced = (best_other > own).nonzero().flatten().tolist()
    num_nearer = [sum(1 for i in misplaced if int(owner[i]) == c) for c in range(n_cls)]
    nearer = [
        {"class": names[int(owner[i])], "index": int(index[i]), "nearest": names[int(best_other_cls[i])],
         "cosine_own": round(float(own[i]), 6), "cosine_nearest": round(float(best_other[i]), 6)}
        for i in misplaced[:_MAX_LISTED]
    ]  # fmt: skip
    return nearer, num_nearer


def _class_warnings(d: AnchorDiagnostics) -> list[str]:
    """Warnings about classes with too few exemplars and pairs of too similar centres."""
    min_count, center_cosine = d.thresholds["min_count"], d.thresholds["center_cosine"]
    names, n_cls = d.class_names, len(d.class_names)
    warnings: list[str] = []
    for c, name in enumerate(names):
        if d.counts[c] < min_count:
            warnings.append(f"class {name!r} has {d.counts[c]} exemplar(s) (< {min_count}): its centre is noisy")
    for a in range(n_cls):
        for b in range(a + 1, n_cls):
            if d.center_cosine[a][b] >= center_cosine:
                warnings.append(
                    f"centres of {names[a]!r} and {names[b]!r} have cosine {d.center_cosine[a][b]:.3f} "
                    f"(>= {center_cosine}): aligning to them teaches little"
                )
    return warnings


def _bank_warnings(d: AnchorDiagnostics) -> list[str]:
    """Warnings about poor leave-one-out separability, overall and per class."""
    class_loo, chance = d.thresholds["class_loo"], d.chance
    warnings: list[str] = []
    floor = chance + d.thresholds["loo_margin"] * (1 - chance)
    if not math.isnan(d.loo_accuracy) and d.loo_accuracy < floor:
        warnings.append(
            f"leave-one-out nearest-centre accuracy {d.loo_accuracy:.3f} is below {floor:.3f} (chance {chance:.3f}): "
            "the classes are poorly separable in this encoder's space"
        )
    for c, name in enumerate(d.class_names):
        if not math.isnan(d.loo_per_class[c]) and d.loo_per_class[c] < class_loo:
            warnings.append(
                f"class {name!r}: only {d.loo_per_class[c]:.2f} of its exemplars are nearest its own centre"
            )
    return warnings


def _exemplar_warnings(d: AnchorDiagnostics) -> list[str]:
    """Warnings about near-duplicate exemplars and exemplars nearer another class's centre."""
    warnings: list[str] = []
    if d.num_near_duplicates > 0:
        first = d.near_duplicates[0]
        warnings.append(
            f"{d.num_near_duplicates} near-duplicate exemplar pair(s) (cosine >= {d.thresholds['duplicate_cosine']}), "
            f"e.g. {first['a']}[{first['i']}] / {first['b']}[{first['j']}]"
        )
    for c, name in enumerate(d.class_names):
        if d.num_nearer_other[c] > d.thresholds["nearer_other_fraction"] * d.counts[c]:
            warnings.append(
                f"class {name!r}: {d.num_nearer_other[c]} of {d.counts[c]} exemplars are nearer another class's centre"
            )
    return warnings
