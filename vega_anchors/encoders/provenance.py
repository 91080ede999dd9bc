"""Where a fine-tuned text encoder came from: the ``vega_finetune.json`` that ``finetune-text``
(:func:`vega_anchors.finetune.finetune_text`) writes in its encoder directory, read here so that an
encoder's identity record (:func:`~vega_anchors.encoders.encoder_info`) can carry it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["PROVENANCE_FILE", "provenance_summary", "read_provenance"]

PROVENANCE_FILE = "vega_finetune.json"
"""The provenance file in a fine-tuned encoder directory: base encoder, context, epochs, folds, dev score."""


def read_provenance(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The ``vega_finetune.json`` of encoder directory ``path``, or ``None`` (not a fine-tuned directory)."""
    if path is None:
        return None
    file = Path(path) / PROVENANCE_FILE
    if not file.is_file():
        return None
    return dict(json.loads(file.read_text(encoding="utf-8")))


def provenance_summary(provenance: dict[str, Any]) -> dict[str, Any]:
    """The provenance without its bulky parts (per-dialogue fold assignment, history), for feature stores."""
    summary = {k: v for k, v in provenance.items() if k not in ("history", "folds")}
    folds = provenance.get("folds")
    if folds:
        summary["folds"] = {k: v for k, v in folds.items() if k not in ("assignment", "holdout")}
    return summary
