"""Generated media for tests, the benchmark and the example (never a stand-in for real data).

Speech comes from the ``espeak-ng`` program (a formant synthesiser: real phonemes, robotic voice),
tones are sine waves, the face is scikit-image's ``astronaut()`` (a public-domain NASA photograph
shipped in scikit-image's wheel) and the no-face control is a plain colour gradient. Clips are written
with PyAV (H.264 + AAC in ``.mp4`` by default).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .decode import SAMPLE_RATE

__all__ = [
    "espeak_available",
    "face_image",
    "gradient_image",
    "speech",
    "still_frames",
    "tone",
    "write_clip",
    "write_wav",
]


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on ``PATH``."""
    return shutil.which("espeak-ng") is not None


def speech(
    text: str, *, sample_rate: int = SAMPLE_RATE, voice: str = "en", speed: int = 175, pitch: int = 50
) -> np.ndarray:
    """``[S]`` float32 mono speech of ``text`` synthesised by ``espeak-ng`` at ``sample_rate``
    (``speed`` in words per minute, ``pitch`` 0–99)."""
    import soundfile

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    command = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    wav = subprocess.run(command, check=True, capture_output=True)
    samples, rate = soundfile.read(io.BytesIO(wav.stdout), dtype="float32")
    samples = samples.mean(axis=1) if samples.ndim == 2 else samples
    if rate != sample_rate:
        length = round(samples.size * sample_rate / rate)
        samples = np.interp(np.arange(length) * rate / sample_rate, np.arange(samples.size), samples)
    return samples.astype(np.float32)


def tone(frequency: float, seconds: float, *, sample_rate: int = SAMPLE_RATE, amplitude: float = 0.3) -> np.ndarray:
    """``[seconds × sample_rate]`` float32 sine wave."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def face_image(size: int = 128) -> np.ndarray:
    """``[size, size, 3]`` uint8: scikit-image's astronaut photograph (one frontal face), resized."""
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def gradient_image(size: int = 128) -> np.ndarray:
    """``[size, size, 3]`` uint8 smooth colour gradient (no face)."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    image = np.stack([ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1), np.full((size, size), 96.0)], -1)
    return image.astype(np.uint8)


def still_frames(image: np.ndarray, count: int) -> np.ndarray:
    """``[count, H, W, 3]``: ``image`` repeated."""
    return np.repeat(image[None], count, axis=0)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono float samples as 16-bit PCM WAV."""
    import soundfile

    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), sample_rate, subtype="PCM_16")
    return Path(path)


def write_clip(
    path: str | os.PathLike[str],
    *,
    frames: np.ndarray | None = None,
    fps: int = 10,
    frame_times: Sequence[float] | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
) -> Path:
    """Write a clip with PyAV.

    Args:
        path: output file; the container follows the extension (``.mp4``, ``.mkv``, ``.avi``...).
        frames: ``[N, H, W, 3]`` uint8 RGB (H, W even), or ``None`` for an audio-only file.
        fps: nominal frame rate.
        frame_times: ``N`` presentation times in seconds (variable frame rate); default ``i / fps``.
        audio: ``[S]`` float mono samples, or ``None`` for a video-only file.
        sample_rate: of ``audio``.
        video_codec, audio_codec: FFmpeg encoder names.
    """
    from fractions import Fraction

    import av

    container: Any = av.open(str(path), "w")
    try:
        video = None
        if frames is not None:
            video = container.add_stream(video_codec, rate=fps)
            video.width, video.height = int(frames.shape[2]), int(frames.shape[1])
            video.pix_fmt = "yuv420p"
            if video_codec == "libx264":
                video.options = {"preset": "ultrafast"}
            if frame_times is not None:
                video.codec_context.time_base = Fraction(1, 1000)
        sound = None
        if audio is not None:
            sound = container.add_stream(audio_codec, rate=sample_rate)
            sound.layout = "mono"
        if video is not None and frames is not None:
            for i, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                if frame_times is not None:
                    frame.pts = round(frame_times[i] * 1000)
                    frame.time_base = Fraction(1, 1000)
                for packet in video.encode(frame):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
        if sound is not None and audio is not None:
            samples = np.asarray(audio, dtype=np.float32)
            fmt = "s16" if audio_codec.startswith("pcm_s16") else "fltp"
            step = 1024
            for i in range(0, samples.size, step):
                chunk = samples[i : i + step]
                data = (np.clip(chunk, -1, 1) * 32767).astype(np.int16) if fmt == "s16" else chunk
                frame = av.AudioFrame.from_ndarray(data[None], format=fmt, layout="mono")
                frame.sample_rate, frame.pts = sample_rate, i
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    finally:
        container.close()
    return Path(path)
