"""Data: dialogue tables (CSV/JSONL) and text features, dialogues and padded batches, length bucketing,
feature-pickle layouts, the safetensors feature store, data reports, synthetic sets."""

from .dataset import (
    Dialogue,
    DialogueBatch,
    DialogueDataset,
    LengthBucketBatchSampler,
    collate_dialogues,
    split_validation,
)
from .pickles import LAYOUTS, TEXT_FIELDS, FeatureSet, load_feature_pickle, save_feature_pickle
from .report import FeatureReport, ModalityStats, SplitStats, feature_report
from .store import is_feature_store, load_features, save_features
from .synthetic import SYNTHETIC_PRESETS, SyntheticPreset, synthetic_dialogues
from .tables import (
    DialogueTable,
    RawDialogue,
    SpeakerMap,
    TableColumns,
    build_dialogues,
    build_feature_set,
    load_dialogue_table,
    load_meld_tables,
    normalize_text,
)
from .text import (
    HFTextEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
    embed_tables,
    embed_texts,
    load_text_encoder,
)

__all__ = [
    "LAYOUTS",
    "SYNTHETIC_PRESETS",
    "TEXT_FIELDS",
    "Dialogue",
    "DialogueBatch",
    "DialogueDataset",
    "DialogueTable",
    "FeatureReport",
    "FeatureSet",
    "HFTextEncoder",
    "LengthBucketBatchSampler",
    "ModalityStats",
    "RawDialogue",
    "SentenceTransformerEncoder",
    "SpeakerMap",
    "SplitStats",
    "SyntheticPreset",
    "TableColumns",
    "TextEncoder",
    "build_dialogues",
    "build_feature_set",
    "collate_dialogues",
    "embed_tables",
    "embed_texts",
    "feature_report",
    "is_feature_store",
    "load_dialogue_table",
    "load_feature_pickle",
    "load_features",
    "load_meld_tables",
    "load_text_encoder",
    "normalize_text",
    "save_feature_pickle",
    "save_features",
    "split_validation",
    "synthetic_dialogues",
]
