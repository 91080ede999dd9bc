"""Deprecated: moved to :mod:`vega_anchors.official` (this alias is removed in 0.3)."""

import warnings

from .official.checkpoints import (
    LETTERS,
    from_official_state_dict,
    load_official_state_dict,
    read_official_checkpoint,
    to_official_state_dict,
)

warnings.warn(
    "vega_anchors.interop is deprecated and will be removed in 0.3; use vega_anchors.official",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "LETTERS",
    "from_official_state_dict",
    "load_official_state_dict",
    "read_official_checkpoint",
    "to_official_state_dict",
]
