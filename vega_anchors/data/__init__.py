"""Data: the shared types (dialogues, batches, feature sets), dialogue tables (CSV/JSONL) and text
features, padded batches and length bucketing, the safetensors feature store, data reports, synthetic
sets. The authors' feature pickles are read by :mod:`vega_anchors.official`."""


from .assembly import build_dialogues, build_feature_set
from .cleaning import normalize_text
from .dataset import (
    DialogueDataset,
    LengthBucketBatchSampler,
    collate_dialogues,
    split_validation,
)
from .recipe import FeatureRecipe, check_feature_recipe
from .speakers import SpeakerMap
from .store import is_feature_store, load_features, save_features
from .store_report import FeatureReport, ModalityStats, SplitStats, feature_report
from .synthetic import SYNTHETIC_PRESETS, SyntheticPreset, synthetic_dialogues
from .tables import (
    DialogueTable,
    RawDialogue,
    TableColumns,
    load_dialogue_table,
    load_dialogue_tables,
    load_meld_tables,
    parse_speaker_cell,
)
from .text import context_inputs, embed_tables
from .types import Dialogue, DialogueBatch, FeatureSet

__all__ = [
    "SYNTHETIC_PRESETS",
    "Dialogue",
    "DialogueBatch",
    "DialogueDataset",
    "DialogueTable",
    "FeatureRecipe",
    "FeatureReport",
    "FeatureSet",
    "LengthBucketBatchSampler",
    "ModalityStats",
    "RawDialogue",
    "SpeakerMap",
    "SplitStats",
    "SyntheticPreset",
    "TableColumns",
    "build_dialogues",
    "build_feature_set",
    "check_feature_recipe",
    "collate_dialogues",
    "context_inputs",
    "embed_tables",
    "feature_report",
    "is_feature_store",
    "load_dialogue_table",
    "load_dialogue_tables",
    "load_features",
    "load_meld_tables",
    "normalize_text",
    "parse_speaker_cell",
    "save_features",
    "split_validation",
    "synthetic_dialogues",
]
