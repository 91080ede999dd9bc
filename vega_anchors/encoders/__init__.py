"""Encoders: text (sentence-transformers / ``transformers``), audio (openSMILE / ``transformers`` speech
models) and images (open_clip), each with the identity record that keys caches and feature stores.

The heavy packages (transformers, sentence-transformers, open_clip, opensmile) are imported only when
an encoder is built.
"""

from ..distributed import PRECISIONS
from .audio import (
    OPENSMILE_SETS,
    SAMPLE_RATE,
    AudioExtractor,
    HFAudioExtractor,
    OpenSmileExtractor,
    load_audio_extractor,
)
from .embed import CONTEXT_JOIN, cache_key, embed_texts
from .image import ImageEncoder, OpenCLIPImageEncoder
from .text import (
    HFTextEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
    encoder_info,
    load_text_encoder,
    text_encoder_from_record,
)

__all__ = [
    "CONTEXT_JOIN",
    "OPENSMILE_SETS",
    "PRECISIONS",
    "SAMPLE_RATE",
    "AudioExtractor",
    "HFAudioExtractor",
    "HFTextEncoder",
    "ImageEncoder",
    "OpenCLIPImageEncoder",
    "OpenSmileExtractor",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "cache_key",
    "embed_texts",
    "encoder_info",
    "load_audio_extractor",
    "load_text_encoder",
    "text_encoder_from_record",
]
