"""``python -m vega_anchors.bench media``: utterances/s per stage and end to end, on generated clips.

Stages, each timed alone over the same clips: ``decode`` (PyAV: audio to 16 kHz + ``num_frames``
frames), ``audio`` (the audio extractor on the decoded waveforms), ``face`` (Haar detection and
cropping on the decoded frames) and ``clip`` (the CLIP image encoder on the crops). ``end_to_end``
runs :func:`~vega_anchors.media.extract_media_features` without a cache for each ``num_workers``;
``slowest_stage_ratio`` is the slowest stage's throughput over the end-to-end throughput (1.0 = the
stages overlap perfectly). CLIP runs with random weights (the same cost as trained ones; no download).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bench_media", "write_meld_folder"]

_PHRASES = (
    "Oh my God, I can't believe you did that!",
    "Okay, fine, we'll go on Tuesday.",
    "Could you please pass me the salt?",
    "No way. That is absolutely not what happened.",
)


def _make_clips(folder: Path, count: int, seconds: float, width: int, height: int, fps: int) -> list[Path]:
    import cv2

    from . import synth

    side = min(height, width) // 2 * 2
    face = cv2.resize(synth.face_image(512), (side, side))
    frame = np.full((height, width, 3), 90, np.uint8)
    left = (width - side) // 2
    frame[(height - side) // 2 : (height - side) // 2 + side, left : left + side] = face
    frames = synth.still_frames(frame, int(seconds * fps))
    paths = []
    for i in range(count):
        if synth.espeak_available():
            speech = synth.speech(_PHRASES[i % len(_PHRASES)])
            audio = np.zeros(int(seconds * 16000), np.float32)
            audio[: min(speech.size, audio.size)] = speech[: audio.size]
        else:
            audio = synth.tone(150 + 20 * i, seconds)
        paths.append(synth.write_clip(folder / f"dia{i}_utt0.mp4", frames=frames, fps=fps, audio=audio))
    return paths


def write_meld_folder(
    root: str | Path, *, dialogues: int = 4, utterances: int = 3, seconds: float = 1.0, width: int = 320,
    height: int = 240, fps: int = 10,
) -> dict[str, Path]:
    """A generated MELD.Raw-style folder under ``root``: ``dialogues`` dialogues of ``utterances`` clips
    per split (espeak-ng speech or tones over the astronaut's face; MELD's folder and file names) and
    ``{train,dev,test}_sent_emo.csv`` tables with MELD's columns. Returns ``{split: table path}``."""
    import csv

    from .sources import MELD_SPLIT_FOLDERS

    root = Path(root)
    emotions = ("neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust")
    tables: dict[str, Path] = {}
    for split, folder in MELD_SPLIT_FOLDERS.items():
        clips = root / folder
        clips.mkdir(parents=True, exist_ok=True)
        made = _make_clips(clips, dialogues * utterances, seconds, width, height, fps)
        tables[split] = root / f"{split}_sent_emo.csv"
        with open(tables[split], "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"])
            for i, path in enumerate(made):
                dialogue, utterance = divmod(i, utterances)
                path.rename(clips / f"dia{dialogue}_utt{utterance}.mp4")
                writer.writerow([i + 1, f"{_PHRASES[i % len(_PHRASES)]} ({split} {i})", ("Ann", "Bob")[utterance % 2],
                                 emotions[i % len(emotions)], "neutral", dialogue, utterance])  # fmt: skip
    return tables


def bench_media(
    *,
    num_clips: int = 16,
    seconds: float = 3.6,
    width: int = 1280,
    height: int = 720,
    fps: int = 24,
    num_frames: int = 8,
    audio: str = "opensmile:IS10",
    model_name: str = "ViT-B-32-quickgelu",
    device: str | None = None,
    num_workers: Sequence[int] = (0, 1),
    batch_utterances: int = 8,
) -> list[dict[str, Any]]:
    """Time the media pipeline on ``num_clips`` generated MELD-like clips (``width``×``height`` H.264 at
    ``fps``, ``seconds`` long, espeak-ng speech or tones, the astronaut's face).

    Returns one record per stage (``stage``, ``seconds``, ``utterances_per_s``) and one per
    ``num_workers`` end to end (plus ``slowest_stage_ratio``).
    """
    import torch
    from PIL import Image

    from ..data.tables import DialogueTable, RawDialogue
    from ..encoders.audio import load_audio_extractor
    from ..encoders.image import OpenCLIPImageEncoder
    from .decode import decode_group
    from .extract import extract_media_features
    from .sources import MediaItem
    from .visual import ClipFaceExtractor

    records: list[dict[str, Any]] = []
    common = {"workload": "media", "clips": num_clips, "seconds_per_clip": seconds, "frame_size": f"{width}x{height}",
              "fps": fps, "num_frames": num_frames, "audio": audio, "model_name": model_name}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        paths = _make_clips(Path(tmp), num_clips, seconds, width, height, fps)
        items = [MediaItem(str(i), "0", p) for i, p in enumerate(paths)]
        extractor = load_audio_extractor(audio, device=device)
        encoder = OpenCLIPImageEncoder(model_name, None, device=device, batch_size=64, progress=False)
        visual = ClipFaceExtractor(encoder, identity=f"{model_name}:random")

        def stage(name: str, seconds_taken: float, **extra: Any) -> None:
            records.append({**common, "stage": name, "seconds": round(seconds_taken, 3),
                            "utterances_per_s": round(num_clips / seconds_taken, 2), **extra})  # fmt: skip

        start = time.perf_counter()
        clips = [decode_group([item], num_frames=num_frames)[0] for item in items]
        stage("decode", time.perf_counter() - start)
        start = time.perf_counter()
        extractor([c.audio for c in clips])
        stage("audio", time.perf_counter() - start)
        start = time.perf_counter()
        crops = [visual.crops(c) for c in clips]
        stage("face", time.perf_counter() - start, face_found=sum(c.face_found for c in crops))
        images = [Image.fromarray(img) for c in crops for img in c.images]
        encoder(images[:8])  # warm-up
        start = time.perf_counter()
        visual.encode(crops)
        stage("clip", time.perf_counter() - start, images=len(images), device=str(encoder.device))
        slowest = min(r["utterances_per_s"] for r in records)

        table = DialogueTable(
            [RawDialogue(str(i), ["0"], ["A"], ["x"], [0]) for i in range(num_clips)], ("neutral",), "bench"
        )
        for workers in num_workers:
            start = time.perf_counter()
            out = extract_media_features(
                {"train": table}, items, audio=extractor, visual=visual, num_frames=num_frames,
                num_workers=workers, batch_utterances=batch_utterances, progress=False,
            )  # fmt: skip
            taken = time.perf_counter() - start
            masked = sum(len(v) for per_split in out.masked.values() for v in per_split.values())
            if masked:
                raise RuntimeError(f"benchmark extraction masked {masked} utterances: {out.masked}")
            rate = num_clips / taken
            records.append({**common, "stage": "end_to_end", "num_workers": workers, "seconds": round(taken, 3),
                            "utterances_per_s": round(rate, 2), "slowest_stage_ratio": round(slowest / rate, 2),
                            "torch_threads": torch.get_num_threads()})  # fmt: skip
    return records
