"""clip-face: the astronaut's face is found and cropped, the gradient has none, crops reach the encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vega_anchors.media import (
    ClipFaceExtractor,
    FaceBox,
    HaarFaceDetector,
    MediaItem,
    crop_face,
    decode_group,
    load_visual_extractor,
    synth,
)

from .conftest import SIZE, face_clip, gradient_clip


class RecordingEncoder:
    """An ImageEncoder that records what it is given and returns each image's mean RGB (3-d)."""

    dim = 3
    identity = "recording"

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []

    def __call__(self, images) -> torch.Tensor:
        arrays = [np.asarray(im) for im in images]
        self.images.extend(arrays)
        return torch.tensor(np.stack([a.reshape(-1, 3).mean(0) for a in arrays]), dtype=torch.float32)


def test_haar_finds_the_astronaut_and_not_the_gradient() -> None:
    detector = HaarFaceDetector()
    faces = detector(synth.face_image(SIZE))
    assert len(faces) == 1
    x, y, w, h = faces[0]
    # the astronaut's face sits in the upper middle of the photograph
    assert 0.25 < (x + w / 2) / SIZE < 0.65 and 0.1 < (y + h / 2) / SIZE < 0.4 and 0.12 < w / SIZE < 0.35
    assert detector(synth.gradient_image(SIZE)) == []


def test_crop_face_grows_by_margin_and_clips() -> None:
    frame = np.arange(100 * 80 * 3, dtype=np.uint8).reshape(100, 80, 3)
    assert crop_face(frame, FaceBox(20, 30, 20, 20), 0.5).shape == (40, 40, 3)
    assert crop_face(frame, FaceBox(0, 0, 20, 20), 0.5).shape == (30, 30, 3)  # clipped at the corner


def test_the_crop_fed_to_the_encoder_is_the_face_region(tmp_path: Path) -> None:
    path = face_clip(tmp_path / "face.mp4")
    (clip,) = decode_group([MediaItem("0", "0", path)], num_frames=3)
    encoder = RecordingEncoder()
    extractor = ClipFaceExtractor(encoder, margin=0.0)
    crops = extractor.crops(clip)
    assert crops.face_found and len(crops.images) == 3
    feats, valid = extractor.encode([crops])
    box = crops.boxes[0]
    expected = clip.frames[0][box.y : box.y + box.h, box.x : box.x + box.w]
    assert encoder.images[0].shape == expected.shape and np.array_equal(encoder.images[0], expected)
    assert encoder.images[0].shape[0] < SIZE / 2  # a face, not the frame
    np.testing.assert_allclose(
        feats[0], np.stack([im.reshape(-1, 3).mean(0) for im in encoder.images]).mean(0), rtol=1e-5
    )
    assert valid.tolist() == [True]


def test_no_face_falls_back_to_frames_or_masks(tmp_path: Path) -> None:
    face, plain = face_clip(tmp_path / "f.mp4"), gradient_clip(tmp_path / "g.mp4")
    clips = decode_group([MediaItem("0", "0", face)], num_frames=2) + decode_group(
        [MediaItem("0", "1", plain)], num_frames=2
    )
    frame_mode = ClipFaceExtractor(RecordingEncoder(), no_face="frame")
    crops = [frame_mode.crops(c) for c in clips]
    assert [c.face_found for c in crops] == [True, False]
    assert crops[1].images[0].shape == (SIZE, SIZE, 3)  # the whole frame
    feats, valid = frame_mode.encode(crops)
    assert valid.tolist() == [True, True] and np.abs(feats[1]).sum() > 0
    masked = ClipFaceExtractor(RecordingEncoder(), no_face="mask", pooling="mean+std")
    feats, valid = masked.encode([masked.crops(c) for c in clips])
    assert masked.dim == 6 and feats.shape == (2, 6) and valid.tolist() == [True, False]
    assert np.all(feats[1] == 0) and np.allclose(feats[0, 3:], 0, atol=1.0)  # still frames: small std


def test_clip_face_spec_uses_the_anchor_encoder(tiny_clip_model_name: str) -> None:
    extractor = load_visual_extractor(f"clip-face:{tiny_clip_model_name}", device="cpu")
    assert extractor.dim == 16 and tiny_clip_model_name in extractor.identity
    feats, valid = extractor.encode([extractor.crops(c) for c in _clips_of(synth.face_image(SIZE))])
    assert feats.shape == (1, 16) and valid.all()
    with pytest.raises(ValueError, match="clip-face:<open_clip model>"):
        load_visual_extractor("faces:ViT-B-32")


def _clips_of(image: np.ndarray):
    from vega_anchors.media import Clip

    return [Clip(MediaItem("0", "0", Path("x.mp4")), frames=synth.still_frames(image, 2), frame_times=np.zeros(2))]
