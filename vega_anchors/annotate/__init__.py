"""A conversation video in, its emotions out: transcripts, the annotate pipeline and its HTML page.

``transcripts`` (SubRip, WebVTT with voice tags, CSV/JSONL cue tables → :class:`Cue` records),
``pipeline`` (:class:`EmotionPipeline`: a trained run + its feature recipe, called on a video and a
transcript → :class:`Annotation`) and ``page`` (one self-contained HTML page). Heavy dependencies
(av, cv2, transformers, open_clip models) are imported only when a pipeline is built or called.
The command is ``vega-anchors annotate VIDEO --transcript FILE --model RUN_DIR --out DIR``
(docs/annotate.md).
"""

from __future__ import annotations

from ._asr import load_asr, transcribe
from ._video import VideoInfo, probe_video
from .page import class_colors, render_page, write_annotation
from .pipeline import Annotation, EmotionPipeline
from .transcripts import TRANSCRIPT_SUFFIXES, Cue, Transcript, check_cues, make_transcript, read_transcript

__all__ = [
    "TRANSCRIPT_SUFFIXES",
    "Annotation",
    "Cue",
    "EmotionPipeline",
    "Transcript",
    "VideoInfo",
    "check_cues",
    "class_colors",
    "load_asr",
    "make_transcript",
    "probe_video",
    "read_transcript",
    "render_page",
    "transcribe",
    "write_annotation",
]
