"""Data: dialogues and padded batches, length bucketing, feature-pickle layouts, synthetic sets."""

from .dataset import (
    Dialogue,
    DialogueBatch,
    DialogueDataset,
    LengthBucketBatchSampler,
    collate_dialogues,
    split_validation,
)
from .pickles import LAYOUTS, TEXT_FIELDS, FeatureSet, load_feature_pickle, save_feature_pickle
from .synthetic import SYNTHETIC_PRESETS, SyntheticPreset, synthetic_dialogues

__all__ = [
    "LAYOUTS",
    "SYNTHETIC_PRESETS",
    "TEXT_FIELDS",
    "Dialogue",
    "DialogueBatch",
    "DialogueDataset",
    "FeatureSet",
    "LengthBucketBatchSampler",
    "SyntheticPreset",
    "collate_dialogues",
    "load_feature_pickle",
    "save_feature_pickle",
    "split_validation",
    "synthetic_dialogues",
]
