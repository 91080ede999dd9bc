"""vega-anchors: Visual Emotion Guided Anchoring (VEGA) for emotion recognition in conversations.

Plug VEGA's visual anchor alignment into any ERC model (:class:`AnchorAlignmentLoss`,
:class:`SelfDistillationLoss`), or use the paper's reference model (:class:`DualBranchVEGA`).
open_clip is imported only when an :class:`OpenCLIPImageEncoder` is built.
"""

from __future__ import annotations

import logging

from .anchors.bank import AnchorBank
from .anchors.encoder import ImageEncoder, OpenCLIPImageEncoder
from .heads import AnchorHead, mlp
from .labels import CLASS_WEIGHTS, EMOTION_LABELS, LABEL_ALIASES, canonical_label
from .losses import (
    AnchorAlignmentLoss,
    AnchorAlignmentOutput,
    MaskedCrossEntropyLoss,
    SelfDistillationLoss,
)
from .models import FUSED, DualBranchVEGA, VEGAConfig, VEGALoss, VEGAOutput
from .sampling import StochasticAnchorSampler

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CLASS_WEIGHTS",
    "EMOTION_LABELS",
    "FUSED",
    "LABEL_ALIASES",
    "AnchorAlignmentLoss",
    "AnchorAlignmentOutput",
    "AnchorBank",
    "AnchorHead",
    "DualBranchVEGA",
    "ImageEncoder",
    "MaskedCrossEntropyLoss",
    "OpenCLIPImageEncoder",
    "SelfDistillationLoss",
    "StochasticAnchorSampler",
    "VEGAConfig",
    "VEGALoss",
    "VEGAOutput",
    "__version__",
    "canonical_label",
    "mlp",
]
