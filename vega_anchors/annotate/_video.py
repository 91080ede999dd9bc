"""What a video holds (duration, streams) and face thumbnails from the frames the model saw (cached)."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write

logger = logging.getLogger(__name__)

__all__ = ["VideoInfo", "probe_video", "thumbnails"]

THUMB_HEIGHT = 96
"""Thumbnail height in pixels."""


@dataclass(frozen=True)
class VideoInfo:
    """A video's duration (seconds; ``None`` when unknown) and whether it has audio and video streams."""

    path: Path
    duration: float | None
    has_audio: bool
    has_video: bool


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Open ``path`` with PyAV and read its duration (the longest stream's) and streams.

    Raises:
        FileNotFoundError: no such file; MediaError: not a media file.
    """
    import av

    from ..media.decode import MediaError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise MediaError(path, f"{path} cannot be opened as media ({err}); is the file complete?") from None
    try:
        streams = [*container.streams.video, *container.streams.audio]
        durations = [float(s.duration * s.time_base) for s in streams if s.duration is not None and s.time_base]
        if not durations and container.duration is not None:
            durations = [container.duration / 1_000_000]
        duration = max(durations) if durations else None
        return VideoInfo(path, duration, bool(container.streams.audio), bool(container.streams.video))
    finally:
        container.close()


def _cache_file(cache_dir: Path, item: Any, num_frames: int, detector: Any) -> Path:
    from ..media.cache import media_fingerprint

    key = hashlib.sha256(f"{media_fingerprint(item)}\n{num_frames}\n{detector.identity}\n{THUMB_HEIGHT}".encode())
    return cache_dir / f"{key.hexdigest()[:32]}.jpg"


def _thumbnail(frame: np.ndarray, detector: Any, margin: float) -> bytes:
    from PIL import Image

    from ..media.visual import crop_face

    found = detector(frame)
    if found:
        frame = crop_face(frame, max(found, key=lambda b: b.area), margin)
    image = Image.fromarray(frame)
    width = max(1, round(image.width * THUMB_HEIGHT / max(image.height, 1)))
    buffer = io.BytesIO()
    image.resize((width, THUMB_HEIGHT)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def thumbnails(
    items: Sequence[Any],
    *,
    num_frames: int,
    detector: Any = None,
    margin: float = 0.2,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[str | None]:
    """One ``data:image/jpeg;base64,...`` face thumbnail per utterance: of the frames the visual features
    sample (``num_frames`` per utterance), the middle one, cropped to its largest face (the whole frame
    when there is none). Cached as JPEG files under ``cache_dir``; ``None`` for an utterance whose
    frames cannot be decoded."""
    from ..media.decode import MediaError, decode_group, group_by_file
    from ..media.visual import HaarFaceDetector

    detector = detector if detector is not None else HaarFaceDetector()
    cache = Path(cache_dir) if cache_dir is not None else None
    found: dict[int, bytes] = {}
    todo = []
    for item in items:
        path = _cache_file(cache, item, num_frames, detector) if cache is not None else None
        if path is not None and path.is_file():
            found[id(item)] = path.read_bytes()
        else:
            todo.append(item)
    for group in group_by_file(todo):
        try:
            clips = decode_group(group, audio=False, video=True, num_frames=num_frames)
        except MediaError as err:
            logger.warning("no thumbnails for %s: %s", group[0].path, err)
            continue
        for clip in clips:
            assert clip.frames is not None
            data = _thumbnail(clip.frames[num_frames // 2], detector, margin)
            found[id(clip.item)] = data
            if cache is not None:
                atomic_write(_cache_file(cache, clip.item, num_frames, detector), lambda p, d=data: p.write_bytes(d))
    return [
        "data:image/jpeg;base64," + base64.b64encode(found[id(i)]).decode("ascii") if id(i) in found else None
        for i in items
    ]
