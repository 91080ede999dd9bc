"""vega-anchors: Visual Emotion Guided Anchoring (VEGA) for emotion recognition in conversations.

Plug VEGA's visual anchor alignment into any ERC model (:class:`AnchorAlignmentLoss`,
:class:`SelfDistillationLoss`), or use the paper's reference model (:class:`DualBranchVEGA`),
built from those losses, and train it with :func:`fit`. The authors' files are read by
:mod:`vega_anchors.official`; your own data by :mod:`vega_anchors.data`. open_clip is imported only
when an :class:`OpenCLIPImageEncoder` is built.
"""

from __future__ import annotations

import logging

from . import official
from .anchors.bank import AnchorBank
from .encoders.image import ImageEncoder, OpenCLIPImageEncoder
from .heads import AnchorHead
from .labels import CLASS_WEIGHTS, EMOTION_LABELS, LABEL_ALIASES, canonical_label
from .losses import (
    AnchorAlignmentLoss,
    AnchorAlignmentOutput,
    MaskedCrossEntropyLoss,
    SelfDistillationLoss,
)
from .models import DualBranchVEGA, VEGAConfig, VEGALoss, VEGAOutput
from .sampling import StochasticAnchorSampler
from .training import EvalResult, FitResult, TrainConfig, evaluate, fit

__version__ = "0.2.0.dev0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CLASS_WEIGHTS",
    "EMOTION_LABELS",
    "LABEL_ALIASES",
    "AnchorAlignmentLoss",
    "AnchorAlignmentOutput",
    "AnchorBank",
    "AnchorHead",
    "DualBranchVEGA",
    "EvalResult",
    "FitResult",
    "ImageEncoder",
    "MaskedCrossEntropyLoss",
    "OpenCLIPImageEncoder",
    "SelfDistillationLoss",
    "StochasticAnchorSampler",
    "TrainConfig",
    "VEGAConfig",
    "VEGALoss",
    "VEGAOutput",
    "__version__",
    "canonical_label",
    "evaluate",
    "fit",
    "official",
]
