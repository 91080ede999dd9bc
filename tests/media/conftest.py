"""Real media made offline: espeak-ng speech or PyAV tones, the astronaut photograph, a no-face gradient.

``meld_media_dir`` is a MELD.Raw-style folder (MELD's split folder names and file names) with the
matching MELD-layout CSV tables: train dialogue 0 (2 utterances, face + speech/tone), train
dialogue 1 (1 utterance, the no-face gradient), dev dialogue 0 and test dialogue 0 (face).
Clips are 1 s, 160×160 at 10 fps.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from vega_anchors.media import synth

SIZE = 160
FPS = 10


def face_clip(path: Path, audio: np.ndarray | None = None, seconds: float = 1.0) -> Path:
    frames = synth.still_frames(synth.face_image(SIZE), int(seconds * FPS))
    return synth.write_clip(path, frames=frames, fps=FPS, audio=audio if audio is not None else synth.tone(220, 1.0))


def gradient_clip(path: Path, audio: np.ndarray | None = None, seconds: float = 1.0) -> Path:
    frames = synth.still_frames(synth.gradient_image(SIZE), int(seconds * FPS))
    return synth.write_clip(path, frames=frames, fps=FPS, audio=audio if audio is not None else synth.tone(330, 1.0))


def write_table(path: Path, rows: list[tuple[int, int, str, str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"])
        for i, (dialogue, utterance, speaker, text, emotion) in enumerate(rows):
            writer.writerow([i + 1, text, speaker, emotion, "neutral", dialogue, utterance])
    return path


TABLE_ROWS = {
    "train": [(0, 0, "Joey", "Hi there.", "joy"), (0, 1, "Ross", "Hello.", "neutral"), (1, 0, "Joey", "Ok.", "anger")],
    "dev": [(0, 0, "Rachel", "What?", "surprise")],
    "test": [(0, 0, "Monica", "No.", "sadness")],
}


@pytest.fixture(scope="session")
def meld_media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``MELD.Raw``-style clips plus ``{train,dev,test}_sent_emo.csv`` in one folder."""
    root = tmp_path_factory.mktemp("meld")
    folders = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
    for split, folder in folders.items():
        (root / folder).mkdir()
        write_table(root / f"{split}_sent_emo.csv", TABLE_ROWS[split])
        for dialogue, utterance, *_ in TABLE_ROWS[split]:
            target = root / folder / f"dia{dialogue}_utt{utterance}.mp4"
            if (split, dialogue) == ("train", 1):
                gradient_clip(target)
            else:
                face_clip(target, synth.tone(200 + 100 * utterance, 1.0))
    (root / "output_repeated_splits_test" / "final_videos_testdia0_utt0.mp4").write_bytes(b"ignored")
    return root


@pytest.fixture
def meld_tables(meld_media_dir: Path):
    from vega_anchors.data import load_dialogue_table

    return {s: load_dialogue_table(meld_media_dir / f"{s}_sent_emo.csv") for s in ("train", "dev", "test")}
