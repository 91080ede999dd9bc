"""A GENERATED conversation video and its transcript, for tests, the benchmark and the docs' screenshot.

Two "speakers" take turns: espeak-ng speech (a formant synthesiser; a tone when espeak-ng is absent)
over scikit-image's astronaut photograph (a real face, cropped to her head and shoulders; mirrored for
the second speaker) on a grey
background, written with PyAV (H.264 + AAC). Never a stand-in for real data.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .transcripts import Cue

__all__ = [
    "CONVERSATION",
    "GeneratedConversation",
    "save_random_clip",
    "write_conversation",
    "write_srt",
    "write_training_tables",
]

CONVERSATION: tuple[tuple[str, str], ...] = (
    ("Ann", "Oh my God, I can't believe you did that!"),
    ("Ben", "Okay, fine, we'll go on Tuesday."),
    ("Ann", "Could you please pass me the salt?"),
    ("Ben", "No way. That is absolutely not what happened."),
    ("Ann", "I am so happy for you, really."),
    ("Ben", "Why would you say something like that?"),
    ("Ann", "Let's just stay home tonight."),
    ("Ben", "I missed you so much."),
    ("Ann", "This is the worst day of my life."),
    ("Ben", "Wait, what are you doing here?"),
    ("Ann", "Fine. Whatever you want."),
    ("Ben", "We did it! We actually did it!"),
)
"""12 turns ``(speaker, text)`` of the generated conversation."""


@dataclass
class GeneratedConversation:
    """A written clip: ``video``, its ``cues`` (speech spans) and the clip's ``duration`` in seconds."""

    video: Path
    cues: list[Cue]
    duration: float


def _frame(width: int, height: int, mirrored: bool) -> np.ndarray:
    import cv2

    from ..media import synth

    side = min(height, width) * 3 // 4 // 2 * 2
    portrait = synth.face_image(512)[15:245, 110:340]  # the astronaut's head and shoulders (her face at 176, 65)
    face = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
    face = np.ascontiguousarray(face[:, ::-1]) if mirrored else face
    frame = np.full((height, width, 3), 90, np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    frame[top : top + side, left : left + side] = face
    return frame


def write_conversation(
    path: str | os.PathLike[str],
    *,
    turns: Sequence[tuple[str, str]] = CONVERSATION,
    slot: float = 5.0,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    audio: bool = True,
) -> GeneratedConversation:
    """Write a conversation of ``len(turns)`` turns, one every ``slot`` seconds (default 12 × 5 s = 60 s).

    Each turn's speech starts 0.2 s into its slot; its cue spans the speech (cut at the slot's end).
    ``audio=False`` writes a video without an audio stream.
    """
    from ..media import synth
    from ..media.decode import SAMPLE_RATE

    duration = slot * len(turns)
    samples = np.zeros(round(duration * SAMPLE_RATE), np.float32)
    cues = []
    speakers = list(dict.fromkeys(s for s, _ in turns))
    for i, (speaker, text) in enumerate(turns):
        voice = synth.speech(text, pitch=40 + 25 * speakers.index(speaker)) if synth.espeak_available() else None
        voice = voice if voice is not None else synth.tone(180 + 40 * speakers.index(speaker), slot * 0.6)
        start = i * slot + 0.2
        length = min(voice.size, round((slot - 0.4) * SAMPLE_RATE))
        first = round(start * SAMPLE_RATE)
        samples[first : first + length] = voice[:length]
        cues.append(Cue(round(start, 3), round(start + length / SAMPLE_RATE, 3), speaker, text))
    frames = []
    per_slot = round(slot * fps)
    for speaker, _ in turns:
        frames.append(synth.still_frames(_frame(width, height, speakers.index(speaker) % 2 == 1), per_slot))
    video = synth.write_clip(path, frames=np.concatenate(frames), fps=fps, audio=samples if audio else None)
    return GeneratedConversation(video, cues, duration)


def _stamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d},{millis % 1000:03d}"


def write_srt(path: str | os.PathLike[str], cues: Sequence[Cue], *, speakers: bool = True) -> Path:
    """Write ``cues`` as SubRip; with ``speakers`` each text gets a ``NAME:`` prefix."""
    blocks = []
    for i, cue in enumerate(cues, start=1):
        text = f"{cue.speaker}: {cue.text}" if speakers and cue.speaker else cue.text
        blocks.append(f"{i}\n{_stamp(cue.start)} --> {_stamp(cue.end)}\n{text}\n")
    Path(path).write_text("\n".join(blocks), encoding="utf-8")
    return Path(path)


def write_training_tables(
    root: str | os.PathLike[str], video: str | os.PathLike[str], cues: Sequence[Cue], *,
    emotions: Sequence[str] = ("neutral", "happy", "sad"),
) -> tuple[dict[str, Path], Path]:
    """MELD-layout tables cutting ``video`` by ``cues`` (train ``t0``/``t1``: the first three cues and the
    rest; dev ``d0``: the first two; test ``video``: all of them, as annotate sees the video) with
    made-up labels cycling through ``emotions``, and the media manifest of every row (for
    ``build-features --media-layout manifest``). Returns ``({split: table}, manifest)``."""
    root = Path(root)
    splits = {
        "train": {"t0": list(range(0, 3)), "t1": list(range(3, len(cues)))},
        "dev": {"d0": [0, 1]},
        "test": {"video": list(range(len(cues)))},
    }
    tables: dict[str, Path] = {}
    manifest: list[dict[str, object]] = []
    for split, dialogues in splits.items():
        rows: list[dict[str, object]] = []
        for dialogue, indices in dialogues.items():
            for u, i in enumerate(indices):
                cue = cues[i]
                rows.append({"Dialogue_ID": dialogue, "Utterance_ID": u, "Speaker": cue.speaker,
                             "Utterance": cue.text, "Emotion": emotions[(i + u) % len(emotions)]})  # fmt: skip
                manifest.append({"dialogue": dialogue, "utterance": u, "path": str(video), "start": cue.start,
                                 "end": cue.end, "split": split})  # fmt: skip
        tables[split] = _write_rows(root / f"{split}.csv", rows)
    return tables, _write_rows(root / "manifest.csv", manifest)


def _write_rows(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def save_random_clip(folder: str | os.PathLike[str], model: str | Mapping[str, object], *, seed: int = 0) -> str:
    """Seeded RANDOM weights of an open_clip architecture (a name such as ``"ViT-B-32"``, or a config dict)
    saved as an open_clip ``local-dir:`` folder; returns ``"local-dir:<folder>"`` (the same cost as
    trained weights; no download)."""
    import open_clip
    import torch

    config = dict(open_clip.get_model_config(model) or {}) if isinstance(model, str) else dict(model)
    if not config:
        raise ValueError(f"unknown open_clip architecture {model!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config}), encoding="utf-8")
    torch.manual_seed(seed)
    net = open_clip.create_model(f"local-dir:{folder}", pretrained=None, require_pretrained=False)
    torch.save(net.state_dict(), folder / "open_clip_pytorch_model.bin")
    return f"local-dir:{folder.resolve()}"
