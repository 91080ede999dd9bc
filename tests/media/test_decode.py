"""PyAV decoding: segment cutting, frame sampling by timestamp, bad input named, workers agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader

from vega_anchors.media import (
    SAMPLE_RATE,
    MediaDataset,
    MediaError,
    MediaItem,
    decode_group,
    frame_targets,
    group_by_file,
    synth,
)

from .conftest import face_clip


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory) -> Path:
    """3 s: silence, a 1 kHz tone from 1.0 s to 2.0 s, silence."""
    silence = np.zeros(SAMPLE_RATE, np.float32)
    path = tmp_path_factory.mktemp("wav") / "tone.wav"
    return synth.write_wav(path, np.concatenate([silence, synth.tone(1000, 1.0), silence]))


def test_a_tone_at_a_known_time_lands_in_its_utterance(tone_wav: Path) -> None:
    items = [
        MediaItem("d", str(i), tone_wav, start=s, end=e) for i, (s, e) in enumerate([(0, 0.9), (1.1, 1.9), (2.1, 3)])
    ]
    clips = decode_group(items, video=False)
    assert [c.item.utterance for c in clips] == ["0", "1", "2"]
    assert [c.audio.shape[0] for c in clips] == [14400, 12800, 14400]  # exact sample counts at 16 kHz
    levels = [rms(c.audio) for c in clips]
    assert levels[0] < 1e-3 and levels[2] < 1e-3 and abs(levels[1] - 0.3 / np.sqrt(2)) < 0.01
    # and the boundaries are sharp: a segment straddling the onset holds half tone, half silence
    (half,) = decode_group([MediaItem("d", "x", tone_wav, start=0.5, end=1.5)], video=False)
    assert rms(half.audio[:7900]) < 1e-3 and rms(half.audio[8100:]) > 0.2


def test_mp4_audio_is_16k_mono_float32_and_frames_uniform(tmp_path: Path) -> None:
    stereo_rate = 44100
    path = synth.write_clip(
        tmp_path / "c.mp4",
        frames=np.stack([np.full((32, 32, 3), 20 * i, np.uint8) for i in range(10)]),
        fps=5,
        audio=synth.tone(440, 2.0, sample_rate=stereo_rate),
        sample_rate=stereo_rate,
    )
    (clip,) = decode_group([MediaItem("d", "u", path)], num_frames=4)
    assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1
    assert abs(clip.audio.shape[0] / SAMPLE_RATE - 2.0) < 0.1
    assert clip.frames.shape == (4, 32, 32, 3) and clip.frames.dtype == np.uint8
    np.testing.assert_allclose(frame_targets(0, 2, 4), [0.25, 0.75, 1.25, 1.75])
    np.testing.assert_allclose(clip.frame_times, [0.2, 0.6, 1.2, 1.6])  # the frame on screen at each target
    assert [round(v / 20) for v in clip.frames[:, 0, 0, 0]] == [1, 3, 6, 8]


def test_variable_frame_rate_uses_timestamps(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.15, 0.2, 0.6, 0.7, 1.3, 1.4, 1.45, 1.9]
    frames = np.stack([np.full((32, 32, 3), 20 * i, np.uint8) for i in range(10)])
    path = synth.write_clip(tmp_path / "vfr.mp4", frames=frames, frame_times=times)
    (clip,) = decode_group([MediaItem("d", "u", path, start=0.0, end=2.0)], audio=False, num_frames=8)
    # targets 0.125, 0.375, ... 1.875 → the last frame shown at or before each (not every k-th frame)
    np.testing.assert_allclose(clip.frame_times, [0.1, 0.2, 0.6, 0.7, 0.7, 1.3, 1.45, 1.45])
    assert [round(v / 20) for v in clip.frames[:, 0, 0, 0]] == [1, 3, 4, 5, 5, 6, 8, 8]


def test_one_file_many_segments_and_regions(tmp_path: Path) -> None:
    left_right = np.zeros((10, 32, 64, 3), np.uint8)
    left_right[:, :, 32:] = 200
    path = synth.write_clip(tmp_path / "two.mp4", frames=left_right, fps=10, audio=synth.tone(300, 1.0))
    items = [
        MediaItem("d", "0", path, start=0.0, end=0.5, region="left"),
        MediaItem("d", "1", path, start=0.5, end=1.0, region="right"),
    ]
    assert len(group_by_file(items)) == 1
    a, b = decode_group(items, num_frames=2)
    assert a.frames.shape == (2, 32, 32, 3) and a.frames.mean() < 20 and b.frames.mean() > 180
    assert a.frame_times.max() < 0.5 <= b.frame_times.min()


def test_non_ascii_paths_decode(tmp_path: Path) -> None:
    folder = tmp_path / "Émotions_日本語"
    folder.mkdir()
    path = face_clip(folder / "dia0_utt0 ñ.mp4")
    (clip,) = decode_group([MediaItem("0", "0", path)], num_frames=2)
    assert clip.frames.shape[0] == 2 and clip.audio.size > 0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "media file not found"),
        ("corrupt", "cannot be"),
        ("truncated", "cannot be"),
        ("no_audio", "has no audio stream"),
        ("no_video", "has no video stream"),
        ("zero_length", "is empty or reversed"),
        ("out_of_range", "is outside the media"),
    ],
)
def test_bad_input_is_a_clear_error_naming_the_file(tmp_path: Path, case: str, message: str) -> None:
    good = face_clip(tmp_path / "good.mp4")
    path, start, end, kwargs = tmp_path / f"{case}.mp4", None, None, {}
    if case == "corrupt":
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    elif case == "truncated":
        path.write_bytes(good.read_bytes()[:600])
    elif case == "no_audio":
        synth.write_clip(path, frames=synth.still_frames(synth.gradient_image(32), 5))
        kwargs = {"video": False}
    elif case == "no_video":
        synth.write_clip(path, audio=synth.tone(200, 0.5))
        kwargs = {"audio": False}
    elif case == "zero_length":
        path, start, end = good, 0.5, 0.5
    elif case == "out_of_range":
        path, start, end = good, 3.0, 4.0
    with pytest.raises(MediaError, match=message) as err:
        decode_group([MediaItem("0", "0", path, start=start, end=end)], **kwargs)
    assert str(path) in str(err.value) and err.value.path == path


def test_dataset_returns_errors_and_workers_agree(tmp_path: Path) -> None:
    paths = [face_clip(tmp_path / f"{i}.mp4", synth.tone(200 + 50 * i, 1.0)) for i in range(3)]
    items = [MediaItem("0", str(i), p) for i, p in enumerate(paths)] + [MediaItem("0", "9", tmp_path / "gone.mp4")]
    dataset = MediaDataset(group_by_file(items), num_frames=2)
    serial = [x for group in DataLoader(dataset, batch_size=None, collate_fn=lambda b: b) for x in group]
    parallel = [
        x for group in DataLoader(dataset, batch_size=None, num_workers=2, collate_fn=lambda b: b) for x in group
    ]
    assert isinstance(serial[3], MediaError) and isinstance(parallel[3], MediaError)
    assert parallel[3].path == tmp_path / "gone.mp4" and "gone.mp4" in str(parallel[3])
    for a, b in zip(serial[:3], parallel[:3], strict=True):
        assert np.array_equal(a.audio, b.audio) and np.array_equal(a.frames, b.frames)
