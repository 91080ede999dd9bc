"""Files of a fine-tuned encoder directory: atomic directory publishing, provenance, tokenizer checks.
(Provenance reading lives in :mod:`vega_anchors.encoders.provenance`, re-exported here.)"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..encoders.provenance import PROVENANCE_FILE, provenance_summary, read_provenance

__all__ = ["has_tokenizer", "provenance_summary", "read_provenance", "write_provenance"]

_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def write_provenance(directory: Path, provenance: dict[str, Any]) -> None:
    """Write ``directory/vega_finetune.json`` atomically."""
    atomic_write_text(directory / PROVENANCE_FILE, json.dumps(provenance, indent=1, sort_keys=True))


def has_tokenizer(path: str | os.PathLike[str]) -> bool:
    """Whether a local directory holds tokenizer files (hub names: ``True``, the hub decides)."""
    local = Path(path)
    if not local.is_dir():
        return True
    return any((local / name).is_file() for name in _TOKENIZER_FILES)
