"""Decoding utterance media with PyAV: 16 kHz mono audio and ``N`` uniformly sampled frames per utterance.

Each file is opened once, however many utterances it holds (an IEMOCAP dialog holds dozens): the
utterances of one file form a group, decoded in one pass. Audio is resampled by FFmpeg to
16 kHz mono float32 and cut by sample index from the stream's own timestamps; frames are chosen by
presentation time, so variable-frame-rate files sample the frame on screen at each target time
(never "every k-th frame"). :class:`MediaDataset` runs the decoding in ``DataLoader`` workers, so
it overlaps with the encoders in the main process.

Needs the ``media`` extra (``pip install "vega-anchors[media]"``: PyAV, which bundles FFmpeg).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from ..encoders.audio import SAMPLE_RATE
from .sources import MediaItem

logger = logging.getLogger(__name__)

__all__ = [
    "SAMPLE_RATE",
    "Clip",
    "MediaDataset",
    "MediaError",
    "decode_group",
    "frame_targets",
    "group_by_file",
]

_END_TOLERANCE = 0.5  # seconds a segment may run past the media's end (transcripts round up)
_INSTALL_HINT = 'pip install "vega-anchors[media]"  (PyAV)'


class MediaError(ValueError):
    """A media file that cannot give what was asked (missing, corrupt, no such stream, bad segment).

    Attributes:
        path: the offending file.
    """

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(message)
        self.path = Path(path)

    def __reduce__(self) -> tuple[Any, ...]:  # crosses DataLoader worker processes intact
        return (type(self), (self.path, str(self)))


@dataclass
class Clip:
    """One utterance's decoded media.

    Attributes:
        item: the :class:`~vega_anchors.media.sources.MediaItem` it came from.
        audio: ``[S]`` float32 mono samples at :data:`SAMPLE_RATE`, or ``None`` when audio was not asked for.
        frames: ``[N, H, W, 3]`` uint8 RGB frames (cropped to ``item.region``), or ``None``.
        frame_times: ``[N]`` float64 presentation times (seconds) of the frames, or ``None``.
    """

    item: MediaItem
    audio: np.ndarray | None = None
    frames: np.ndarray | None = None
    frame_times: np.ndarray | None = None


def frame_targets(start: float, end: float, num_frames: int) -> np.ndarray:
    """``[num_frames]`` target times, the centres of ``num_frames`` equal parts of ``[start, end)``."""
    return start + (np.arange(num_frames) + 0.5) * (end - start) / num_frames


def _av() -> Any:
    try:
        import av
    except ImportError as err:
        raise ImportError(f"decoding media needs PyAV: {_INSTALL_HINT}") from err
    return av


def _open(path: Path) -> Any:
    av = _av()
    if not path.is_file():
        raise MediaError(path, f"media file not found: {path}")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise MediaError(path, f"{path} cannot be opened as media ({err}); is the file complete?") from None


def _stream_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def _check_segment(item: MediaItem, path: Path, duration: float | None) -> tuple[float, float]:
    start = 0.0 if item.start is None else float(item.start)
    end = duration if item.end is None else float(item.end)
    if end is None:
        raise MediaError(path, f"{path}: the media has no duration; give the segment's end in seconds")
    if start < 0 or end <= start:
        raise MediaError(
            path,
            f"{path}: segment [{start:.3f}, {end:.3f}] s of utterance {item.key} is empty or reversed; "
            "fix its start/end times",
        )
    if duration is not None and (start >= duration or end > duration + _END_TOLERANCE):
        raise MediaError(
            path,
            f"{path}: segment [{start:.3f}, {end:.3f}] s of utterance {item.key} is outside the media "
            f"(duration {duration:.3f} s); fix its start/end times",
        )
    return start, min(end, duration) if duration is not None else end


def _decode_audio(path: Path, items: Sequence[MediaItem], sample_rate: int) -> list[np.ndarray]:
    chunks, origin = _read_audio(path, sample_rate)
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if samples.size == 0:
        raise MediaError(path, f"{path}: the audio stream holds no samples")
    origin = origin or 0.0
    duration = origin + samples.size / sample_rate
    out = []
    for item in items:
        start, end = _check_segment(item, path, duration)
        first = max(round((start - origin) * sample_rate), 0)
        last = min(round((end - origin) * sample_rate), samples.size)
        if last <= first:
            raise MediaError(path, f"{path}: segment of utterance {item.key} holds no audio samples")
        out.append(np.ascontiguousarray(samples[first:last]))
    return out


def _read_audio(path: Path, sample_rate: int) -> tuple[list[np.ndarray], float | None]:
    """Every sample of the first audio stream, resampled; and the first frame's time."""
    av = _av()
    container = _open(path)
    stream = resampler = frame = None
    chunks: list[np.ndarray] = []
    origin: float | None = None
    try:
        if not container.streams.audio:
            raise MediaError(path, f"{path} has no audio stream; drop --audio (audio=None) or give files with sound")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                if origin is None:
                    origin = float(frame.time) if frame.time is not None else 0.0
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as err:
            raise MediaError(path, f"{path}: audio cannot be decoded ({err}); is the file complete?") from None
    finally:
        # Release FFmpeg objects now, not when a traceback that holds this frame is collected: a
        # filter graph freed in a forked DataLoader worker waits forever on its parent's threads.
        container.close()
        container = stream = resampler = frame = None
    return chunks, origin


def _crop(frame: np.ndarray, region: str | None) -> np.ndarray:
    if region is None:
        return frame
    half = frame.shape[1] // 2
    return np.ascontiguousarray(frame[:, :half] if region == "left" else frame[:, half:])


class _Frame:
    """A decoded frame and its time; converted to RGB once, when first used."""

    def __init__(self, time: float, frame: Any) -> None:
        self.time, self.frame = time, frame
        self._pixels: np.ndarray | None = None

    def convert(self) -> _Frame:
        if self._pixels is None:
            self._pixels = self.frame.to_ndarray(format="rgb24")
            self.frame = None
        return self

    def pixels(self) -> np.ndarray:
        assert self._pixels is not None
        return self._pixels


def _decode_frames(path: Path, items: Sequence[MediaItem], num_frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    av = _av()
    container = _open(path)
    stream = frame = current = previous = None
    try:
        if not container.streams.video:
            raise MediaError(path, f"{path} has no video stream; drop --visual (visual=None) or give video files")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = _stream_duration(container, stream)
        spans = [_check_segment(item, path, duration) for item in items]
        # every (target time, utterance, slot), in time order; one decoding pass serves them all
        targets = sorted(
            (float(t), u, k) for u, (s, e) in enumerate(spans) for k, t in enumerate(frame_targets(s, e, num_frames))
        )
        picked: list[list[Any]] = [[None] * num_frames for _ in items]
        position = 0
        try:
            for frame in container.decode(stream):
                current = _Frame(float(frame.time) if frame.time is not None else 0.0, frame)
                # a target is served by the last frame shown at or before it (the first frame for earlier targets)
                while position < len(targets) and targets[position][0] < current.time:
                    _, u, k = targets[position]
                    picked[u][k] = (previous or current).convert()
                    position += 1
                if position >= len(targets):
                    break
                previous = current
        except av.error.FFmpegError as err:
            raise MediaError(path, f"{path}: video cannot be decoded ({err}); is the file complete?") from None
        while position < len(targets) and previous is not None:  # targets after the last frame
            _, u, k = targets[position]
            picked[u][k] = previous.convert()
            position += 1
    finally:
        container.close()  # and drop FFmpeg objects now (see _read_audio)
        container = stream = frame = current = previous = None
    if position < len(targets):
        raise MediaError(path, f"{path}: the video stream holds no decodable frames")
    out = []
    for u, item in enumerate(items):
        entries: list[_Frame] = picked[u]
        frames = np.stack([_crop(e.pixels(), item.region) for e in entries])
        out.append((frames, np.array([e.time for e in entries])))
    return out


def decode_group(
    items: Sequence[MediaItem],
    *,
    audio: bool = True,
    video: bool = True,
    num_frames: int = 8,
    sample_rate: int = SAMPLE_RATE,
) -> list[Clip]:
    """Decode the utterances of one file (all ``items`` share ``path`` and ``audio_path``).

    Args:
        items: utterances of one file, any order.
        audio: decode ``[S]`` 16 kHz mono float32 samples per utterance (from ``audio_path`` when set).
        video: sample ``num_frames`` frames per utterance at the centres of equal parts of its segment.
        num_frames: frames per utterance.
        sample_rate: audio rate in Hz.

    Returns:
        One :class:`Clip` per item, in ``items`` order.

    Raises:
        MediaError: the file is missing, corrupt, lacks the stream asked for, or a segment is empty
            or outside the media (the message names the file).
    """
    if not items:
        return []
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    paths = {(i.path, i.audio_path) for i in items}
    if len(paths) != 1:
        raise ValueError(f"decode_group takes the utterances of one file; got {sorted(map(str, paths))}")
    clips = [Clip(item) for item in items]
    first = items[0]
    if audio:
        for clip, samples in zip(
            clips, _decode_audio(first.audio_path or first.path, items, sample_rate), strict=False
        ):
            clip.audio = samples
    if video:
        for clip, (frames, times) in zip(clips, _decode_frames(first.path, items, num_frames), strict=False):
            clip.frames, clip.frame_times = frames, times
    return clips


def group_by_file(items: Sequence[MediaItem]) -> list[list[MediaItem]]:
    """Items grouped by ``(path, audio_path)``, groups in order of first appearance."""
    groups: dict[tuple[Path, Path | None], list[MediaItem]] = {}
    for item in items:
        groups.setdefault((item.path, item.audio_path), []).append(item)
    return list(groups.values())


class MediaDataset(Dataset[list[Any]]):
    """One file's utterances per item, decoded (and optionally transformed) in ``DataLoader`` workers.

    ``dataset[i]`` is a list with one entry per utterance of group ``i``: ``transform(clip)`` (the
    :class:`Clip` itself without a transform), or the :class:`MediaError` raised for the file —
    returned, not raised, so the caller applies its missing-media policy. Use it with
    ``DataLoader(dataset, batch_size=None, num_workers=n)``.

    Args:
        groups: lists of :class:`MediaItem` sharing one file (:func:`group_by_file`).
        audio, video, num_frames, sample_rate: as :func:`decode_group`.
        transform: runs on each clip in the worker (e.g. face detection and cropping).
    """

    def __init__(
        self,
        groups: Sequence[Sequence[MediaItem]],
        *,
        audio: bool = True,
        video: bool = True,
        num_frames: int = 8,
        sample_rate: int = SAMPLE_RATE,
        transform: Callable[[Clip], Any] | None = None,
    ) -> None:
        self.groups = [list(g) for g in groups]
        self.audio, self.video, self.num_frames, self.sample_rate = audio, video, num_frames, sample_rate
        self.transform = transform

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> list[Any]:
        group = self.groups[index]
        try:
            clips = decode_group(
                group, audio=self.audio, video=self.video, num_frames=self.num_frames, sample_rate=self.sample_rate
            )
        except MediaError as err:
            return [err.with_traceback(None)] * len(group)  # no frames (or FFmpeg objects) kept alive
        if self.transform is None:
            return list(clips)
        out: list[Any] = []
        for clip in clips:
            try:
                out.append(self.transform(clip))
            except MediaError as err:
                out.append(err.with_traceback(None))
        return out
