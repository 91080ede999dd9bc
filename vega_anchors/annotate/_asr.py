"""Speech-to-text for videos without a transcript: a Hugging Face ASR pipeline with timestamps → cues."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .transcripts import Cue, Transcript, _clean, _split_speaker, make_transcript

logger = logging.getLogger(__name__)

__all__ = ["load_asr", "transcribe"]

AsrCallable = Callable[[dict[str, Any]], dict[str, Any]]
"""``{"raw": [S] float32, "sampling_rate": 16000} -> {"text": str, "chunks": [{"timestamp": (s, e), "text": str}]}``
(what a ``transformers`` ASR pipeline called with ``return_timestamps=True`` returns)."""


def load_asr(spec: str, *, device: str | None = None) -> AsrCallable:
    """``"hf:<local dir or hub name>"`` → a ``transformers`` automatic-speech-recognition pipeline that
    returns segment timestamps (Whisper and CTC models)."""
    kind, _, name = spec.partition(":")
    if kind != "hf" or not name:
        raise ConfigError(
            f"speech-to-text model {spec!r} not understood",
            python_fix="pass transcribe='hf:<local model dir or hub name>', e.g. 'hf:openai/whisper-small'",
            cli_fix="give --transcribe hf:<local model dir or hub name>, e.g. hf:openai/whisper-small",
        )
    try:
        from transformers import pipeline
    except ImportError as err:
        raise ImportError('speech-to-text needs transformers: pip install "vega-anchors[text]"') from err
    try:
        asr = pipeline("automatic-speech-recognition", model=name, device=device or "cpu")
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"the speech-to-text model {name!r} cannot be loaded ({err})",
            python_fix="pass a local model directory (offline) or a reachable hub name",
            cli_fix="give --transcribe hf:<local model dir> (offline) or a reachable hub name",
        ) from err

    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        return dict(asr(inputs, return_timestamps=True))

    return run


def transcribe(
    video: str | os.PathLike[str], asr: AsrCallable, *, duration: float | None, source: str = "speech-to-text"
) -> Transcript:
    """Cues from ``asr`` run on the video's 16 kHz mono audio (one speaker unless a ``NAME:`` prefix says).

    Overlapping segments are cut at the next one's start; segments without words are dropped; an
    open end (``None``) runs to the video's end.

    Raises:
        ConfigError: the model returned no timed segments with words.
    """
    from ..media.decode import SAMPLE_RATE, decode_group
    from ..media.sources import MediaItem
    from ._video import probe_video

    if not probe_video(video).has_audio:
        raise ConfigError(
            f"speech-to-text needs sound, and {video} has no audio stream",
            python_fix="give a transcript instead of transcribe=",
            cli_fix="give --transcript FILE instead of --transcribe",
        )
    clip = decode_group([MediaItem("video", "0", Path(video))], audio=True, video=False)[0]
    assert clip.audio is not None
    result = asr({"raw": np.asarray(clip.audio, dtype=np.float32), "sampling_rate": SAMPLE_RATE})
    end_of_audio = clip.audio.size / SAMPLE_RATE if duration is None else duration
    chunks = [c for c in result.get("chunks") or [] if str(c.get("text") or "").strip()]
    cues: list[Cue] = []
    for i, chunk in enumerate(chunks):
        start, end = chunk.get("timestamp") or (None, None)
        start = float(start or 0.0)
        following = chunks[i + 1].get("timestamp", (None, None))[0] if i + 1 < len(chunks) else None
        end = float(end) if end is not None else end_of_audio
        if following is not None:
            end = min(end, float(following))
        end = min(end, end_of_audio)
        if end <= start:
            logger.warning("speech-to-text: dropped a segment without duration at %.2f s", start)
            continue
        speaker, text = _split_speaker(_clean(str(chunk["text"]).replace("\ufffd", "")), "")
        if not text:
            continue  # only undecodable bytes
        cues.append(Cue(start, end, speaker, text))
    if not cues:
        raise ConfigError(
            f"speech-to-text found no timed speech in {video} ({source})",
            python_fix="give a transcript, or a model that returns timestamps",
            cli_fix="give --transcript FILE, or a --transcribe model that returns timestamps",
        )
    logger.info("speech-to-text: %d cues from %s", len(cues), source)
    return make_transcript(cues, source)
