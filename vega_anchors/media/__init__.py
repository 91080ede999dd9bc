"""Audio and visual features from raw utterance clips (issue: "your own videos").

``sources`` (MELD / IEMOCAP / manifest layouts → :class:`MediaItem`), ``decode`` (PyAV: 16 kHz mono
audio, uniformly sampled frames, ``DataLoader`` workers), ``visual`` (``clip-face:<open_clip model>``:
face crops in the anchors' CLIP space), ``cache`` (one entry per utterance per extractor) and
``extract`` (the driver). The audio extractors (``opensmile:<set>``, ``hf:<model>``) are in
:mod:`vega_anchors.encoders`. Heavy dependencies (av, cv2, opensmile, soundfile, transformers) are
imported only when used. Install with ``pip install "vega-anchors[media]"`` (plus ``[smile]`` for openSMILE).
"""

from __future__ import annotations

from .cache import CacheEntry, FeatureCache, media_fingerprint
from .decode import SAMPLE_RATE, Clip, MediaDataset, MediaError, decode_group, frame_targets, group_by_file
from .extract import SILENCE_RMS, MediaFeatures, extract_media_features
from .sources import (
    MEDIA_LAYOUTS,
    MELD_SPLIT_FOLDERS,
    MediaItem,
    MediaMatch,
    discover_media,
    iemocap_media,
    manifest_media,
    match_media,
    meld_media,
)
from .visual import (
    ClipFaceExtractor,
    FaceBox,
    FaceCrops,
    FaceDetector,
    HaarFaceDetector,
    crop_face,
    load_visual_extractor,
)

__all__ = [
    "MEDIA_LAYOUTS",
    "MELD_SPLIT_FOLDERS",
    "SAMPLE_RATE",
    "SILENCE_RMS",
    "CacheEntry",
    "Clip",
    "ClipFaceExtractor",
    "FaceBox",
    "FaceCrops",
    "FaceDetector",
    "FeatureCache",
    "HaarFaceDetector",
    "MediaDataset",
    "MediaError",
    "MediaFeatures",
    "MediaItem",
    "MediaMatch",
    "crop_face",
    "decode_group",
    "discover_media",
    "extract_media_features",
    "frame_targets",
    "group_by_file",
    "iemocap_media",
    "load_visual_extractor",
    "manifest_media",
    "match_media",
    "media_fingerprint",
    "meld_media",
]
