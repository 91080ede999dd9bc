"""The authors' files, in one place: checkpoints (``IEMOCAP.pth``), the anchor cache
(``35_anchor.pt``), the training script's argument names, and the shared feature pickles.

This package sits above the rest of the library: it imports the model, the bank and the data
types, and nothing below imports it.

Example::

    from vega_anchors import EMOTION_LABELS, VEGAConfig, official

    bank = official.load_anchors("35_anchor.pt", classes=EMOTION_LABELS["iemocap"])
    model = official.load_model("IEMOCAP.pth", VEGAConfig.iemocap(), bank)
    features = official.load_feature_pickle("IEMOCAP_features.pkl")  # TRUSTED files only
"""

from .anchors import anchors_to_official, load_anchors
from .config import config_from_args
from .pickles import LAYOUTS, TEXT_FIELDS, load_feature_pickle, save_feature_pickle
from .state_dicts import (
    from_official_state_dict,
    load_model,
    load_official_state_dict,
    read_official_checkpoint,
    to_official_state_dict,
)

__all__ = [
    "LAYOUTS",
    "TEXT_FIELDS",
    "anchors_to_official",
    "config_from_args",
    "from_official_state_dict",
    "load_anchors",
    "load_feature_pickle",
    "load_model",
    "load_official_state_dict",
    "read_official_checkpoint",
    "save_feature_pickle",
    "to_official_state_dict",
]
