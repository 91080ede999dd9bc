"""Anchor banks: CLIP image (or text) features of exemplars per emotion class, and the tools that build
them: class folders, face-dataset pools, exemplar selection, prompts, diagnostics."""

from .bank import (
    AnchorBank,
)
from .diagnostics import (
    CENTER_COSINE_WARN,
    CLASS_LOO_WARN,
    DUPLICATE_COSINE,
    LOO_MARGIN,
    MIN_COUNT,
    NEARER_OTHER_FRACTION,
    AnchorDiagnostics,
    anchor_diagnostics,
)
from .folder import (
    find_class_images,
)
from .pools import (
    AFFECTNET_EMOTIONS,
    FER2013_EMOTIONS,
    FERPLUS_EMOTIONS,
    POOL_READERS,
    RAFDB_EMOTIONS,
    ExemplarPool,
    load_pool,
    load_source_images,
    map_pool,
    parse_mapping,
    read_affectnet,
    read_fer2013,
    read_ferplus,
    read_image_folder_pool,
    read_rafdb,
)
from .prompts import (
    DEFAULT_TEMPLATES,
    EMOTION_PROMPTS,
    default_prompts,
    read_prompts,
)
from .selection import (
    SELECT_METHODS,
    Selection,
    SelectMethod,
    select_exemplars,
)

__all__ = [
    "AFFECTNET_EMOTIONS",
    "CENTER_COSINE_WARN",
    "CLASS_LOO_WARN",
    "DEFAULT_TEMPLATES",
    "DUPLICATE_COSINE",
    "EMOTION_PROMPTS",
    "FER2013_EMOTIONS",
    "FERPLUS_EMOTIONS",
    "LOO_MARGIN",
    "MIN_COUNT",
    "NEARER_OTHER_FRACTION",
    "POOL_READERS",
    "RAFDB_EMOTIONS",
    "SELECT_METHODS",
    "AnchorBank",
    "AnchorDiagnostics",
    "ExemplarPool",
    "SelectMethod",
    "Selection",
    "anchor_diagnostics",
    "default_prompts",
    "find_class_images",
    "load_pool",
    "load_source_images",
    "map_pool",
    "parse_mapping",
    "read_affectnet",
    "read_fer2013",
    "read_ferplus",
    "read_image_folder_pool",
    "read_prompts",
    "read_rafdb",
    "select_exemplars",
]
