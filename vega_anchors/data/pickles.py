"""Deprecated: the feature pickles moved to :mod:`vega_anchors.official` (this alias is removed in 0.3)."""

import warnings

from ..official.pickles import LAYOUTS, MODALITIES, TEXT_FIELDS, load_feature_pickle, save_feature_pickle
from .types import FeatureSet

warnings.warn(
    "vega_anchors.data.pickles is deprecated and will be removed in 0.3; use vega_anchors.official "
    "(FeatureSet: vega_anchors.data)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["LAYOUTS", "MODALITIES", "TEXT_FIELDS", "FeatureSet", "load_feature_pickle", "save_feature_pickle"]
