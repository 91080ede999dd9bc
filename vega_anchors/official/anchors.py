"""The official anchor cache (``35_anchor.pt``): read it into an :class:`AnchorBank`, write one back.

Layout: ``{"anchor_center": [C, D], "anchor_img_dict": {label: {"feature": [K, D]}}}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .._io import safe_torch_load
from ..anchors.bank import AnchorBank
from ..labels import canonical_label

__all__ = ["anchors_to_official", "load_anchors"]


def _resolve_classes(available: Sequence[str], classes: Sequence[str] | None) -> list[str]:
    """Order ``available`` labels as ``classes`` (matching through aliases); error lists what is missing."""
    if classes is None:
        return list(available)
    by_canonical = {canonical_label(name): name for name in available}
    missing = [c for c in classes if canonical_label(c) not in by_canonical]
    if missing:
        raise KeyError(
            f"anchor classes {missing} not found; available: {list(available)}. "
            "Pass classes= in the dataset's label order using these names (aliases such as "
            "angry→anger are accepted)."
        )
    return [by_canonical[canonical_label(c)] for c in classes]


def load_anchors(
    path_or_dict: str | os.PathLike[str] | Mapping[str, Any], classes: Sequence[str] | None = None
) -> AnchorBank:
    """Load the official anchor cache (``35_anchor.pt``):
    ``{"anchor_center": [C, D], "anchor_img_dict": {label: {"feature": [K, D]}}}``.

    Files are read with ``torch.load(weights_only=True)``, which refuses pickled code.
    ``classes`` orders (and may subset) the classes, e.g. ``EMOTION_LABELS["iemocap"]``; by default
    the file's order is kept. The stored ``anchor_center`` rows are used as the center means.
    """
    data = path_or_dict if isinstance(path_or_dict, Mapping) else safe_torch_load(path_or_dict)
    if not isinstance(data, Mapping) or "anchor_img_dict" not in data:
        found = list(data) if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(
            f"not an official anchor file: expected keys 'anchor_center' and 'anchor_img_dict', found {found}"
        )
    img_dict = data["anchor_img_dict"]
    available = list(img_dict)
    names = _resolve_classes(available, classes)
    features = {}
    for name in names:
        entry = img_dict[name]
        feat = entry["feature"] if isinstance(entry, Mapping) else entry
        features[name] = torch.as_tensor(feat)
    bank = AnchorBank.from_features(features)
    centers = data.get("anchor_center")
    if centers is not None:
        centers = torch.as_tensor(centers)
        if centers.shape[0] != len(available):
            raise ValueError(f"anchor_center has {centers.shape[0]} rows for {len(available)} classes")
        rows = torch.stack([centers[available.index(n)] for n in names]).to(bank.exemplars.dtype)
        bank = AnchorBank(names, bank.exemplars, bank.counts, center_means=rows)
    return bank



def anchors_to_official(bank: AnchorBank) -> dict[str, Any]:
    """The official anchor-cache layout (``torch.save`` it to get a ``35_anchor.pt``)."""
    return {
        "anchor_center": bank.center_means.detach().cpu().clone(),
        "anchor_img_dict": {
            name: {"feature": bank.exemplars[i, : int(bank.counts[i])].detach().cpu().clone()}
            for i, name in enumerate(bank.class_names)
        },
    }
