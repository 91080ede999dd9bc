"""The visual extractor ``clip-face``: face crops → the anchors' CLIP image encoder → pooled over frames.

VEGA's anchors are CLIP image features of face photographs. Encoding each utterance's face crops
with the *same* image encoder (:class:`~vega_anchors.OpenCLIPImageEncoder`, or any
:class:`~vega_anchors.ImageEncoder`) puts the visual modality in the anchors' space, so visual
features and anchors are directly comparable (``feature_report(..., anchors=bank)`` measures it).

Per frame, a :class:`FaceDetector` finds faces; the largest one, grown by a margin, is cropped.
Frames without a face are left out of the utterance's pool; an utterance with no face in any frame
falls back to its whole frames (``no_face="frame"``) or is masked (``no_face="mask"``). The detector
is a small protocol: the default :class:`HaarFaceDetector` (OpenCV's bundled frontal-face cascade,
``pip install "vega-anchors[media]"``) can be swapped for any better detector you have.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from ..encoders.image import ImageEncoder
from .decode import Clip

logger = logging.getLogger(__name__)

__all__ = [
    "ClipFaceExtractor",
    "FaceBox",
    "FaceCrops",
    "FaceDetector",
    "HaarFaceDetector",
    "crop_face",
    "load_visual_extractor",
]

NoFace = Literal["frame", "mask"]
Pooling = Literal["mean", "mean+std"]


class FaceBox(NamedTuple):
    """A face rectangle in pixels: left ``x``, top ``y``, width ``w``, height ``h``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h


@runtime_checkable
class FaceDetector(Protocol):
    """``frame [H, W, 3] uint8 RGB -> list of FaceBox`` (any order; empty when there is no face).

    ``identity`` names the detector and its settings (part of the feature cache key).
    """

    identity: str

    def __call__(self, frame: np.ndarray) -> list[FaceBox]: ...


class HaarFaceDetector:
    """OpenCV's Haar cascade ``haarcascade_frontalface_default.xml`` (bundled with opencv-python < 5).

    Args:
        scale_factor, min_neighbors: ``cv2.CascadeClassifier.detectMultiScale`` settings.
        min_size: smallest face side as a fraction of the frame's shorter side.
        max_side: frames are downscaled so their longer side is at most this (speed); boxes are
            returned in the original frame's pixels.
    """

    def __init__(
        self, *, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: float = 0.1, max_side: int = 480
    ) -> None:
        self.scale_factor, self.min_neighbors, self.min_size, self.max_side = (
            scale_factor,
            min_neighbors,
            min_size,
            max_side,
        )
        self.identity = (
            f"haar-frontalface-default\nscale={scale_factor}\nneighbors={min_neighbors}\nmin={min_size}\nmax={max_side}"
        )
        self._cascade: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cascade": None}  # cv2 objects do not pickle; rebuilt in each worker

    def _get(self) -> Any:
        if self._cascade is None:
            try:
                import cv2
            except ImportError as err:
                raise ImportError('face detection needs OpenCV: pip install "vega-anchors[media]"') from err
            path = f"{cv2.data.haarcascades}haarcascade_frontalface_default.xml"
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                raise RuntimeError(f"OpenCV could not load {path}; install opencv-python-headless<5 (5 drops it)")
            self._cascade = cascade
        return self._cascade

    def __call__(self, frame: np.ndarray) -> list[FaceBox]:
        import cv2

        cascade = self._get()
        height, width = frame.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        side = max(int(self.min_size * min(gray.shape)), 12)
        found = cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        return [FaceBox(*(round(v / scale) for v in box)) for box in np.asarray(found).reshape(-1, 4)]


def crop_face(frame: np.ndarray, box: FaceBox, margin: float = 0.2) -> np.ndarray:
    """The square-ish region around ``box`` grown by ``margin`` × its size on each side, clipped to the frame.

    ``frame``: ``[H, W, 3]``; returns ``[h', w', 3]`` (a copy).
    """
    height, width = frame.shape[:2]
    dx, dy = round(box.w * margin), round(box.h * margin)
    left, top = max(box.x - dx, 0), max(box.y - dy, 0)
    right, bottom = min(box.x + box.w + dx, width), min(box.y + box.h + dy, height)
    return np.ascontiguousarray(frame[top:bottom, left:right])


@dataclass
class FaceCrops:
    """One utterance's images for the encoder.

    Attributes:
        images: ``[K, h, w, 3]`` uint8 crops (or whole frames when no face was found), one per used frame.
        boxes: the face box per used frame (``None`` for whole frames).
        face_found: whether any frame had a face.
    """

    images: list[np.ndarray]
    boxes: list[FaceBox | None]
    face_found: bool


class ClipFaceExtractor:
    """Face crops of each utterance's frames → image encoder → ``[D]`` (mean) or ``[2D]`` (mean+std).

    Args:
        encoder: the image encoder the anchors use (``OpenCLIPImageEncoder``, or any callable
            ``images -> [N, D]``; give ``dim=`` and ``identity=`` for one without those attributes).
        detector: a :class:`FaceDetector` (default :class:`HaarFaceDetector`).
        margin: crop margin around the face, as a fraction of its size.
        pooling: ``"mean"`` (``D`` dims) or ``"mean+std"`` (``2D``) over the utterance's frames.
        no_face: ``"frame"``: encode the whole frames when no frame has a face; ``"mask"``: mask the utterance.
        identity: cache key of the encoder (default: its model name and weights).

    Attributes:
        identity, dim, detector.
    """

    def __init__(
        self,
        encoder: ImageEncoder,
        *,
        detector: FaceDetector | None = None,
        margin: float = 0.2,
        pooling: Pooling = "mean",
        no_face: NoFace = "frame",
        dim: int | None = None,
        identity: str | None = None,
    ) -> None:
        if pooling not in ("mean", "mean+std"):
            raise ValueError(f"pooling must be 'mean' or 'mean+std', got {pooling!r}")
        if no_face not in ("frame", "mask"):
            raise ValueError(f"no_face must be 'frame' or 'mask', got {no_face!r}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.encoder = encoder
        self.detector: FaceDetector = detector if detector is not None else HaarFaceDetector()
        self.margin, self.pooling, self.no_face = margin, pooling, no_face
        base_dim = dim if dim is not None else getattr(encoder, "dim", None)
        if base_dim is None:
            raise ValueError("the encoder has no .dim; pass dim= (its feature size)")
        self.dim = int(base_dim) * (2 if pooling == "mean+std" else 1)
        if identity is None:
            name, weights = getattr(encoder, "model_name", None), getattr(encoder, "pretrained", "?")
            identity = f"{name}:{weights}" if name is not None else getattr(encoder, "identity", repr(encoder))
        self.identity = (
            f"clip-face\n{identity}\n{self.detector.identity}\nmargin={margin}\npooling={pooling}\nno_face={no_face}"
        )

    def crops(self, clip: Clip) -> FaceCrops:
        """Detect the largest face in each frame of ``clip`` and crop it (runs in decoding workers)."""
        if clip.frames is None:
            raise ValueError(f"{clip.item.describe()}: no frames were decoded; decode with video=True")
        images: list[np.ndarray] = []
        boxes: list[FaceBox | None] = []
        for frame in clip.frames:
            found = self.detector(frame)
            if found:
                box = max(found, key=lambda b: b.area)
                images.append(crop_face(frame, box, self.margin))
                boxes.append(box)
        if images:
            return FaceCrops(images, boxes, True)
        return FaceCrops([np.ascontiguousarray(f) for f in clip.frames], [None] * len(clip.frames), False)

    def encode(self, crops: Sequence[FaceCrops]) -> tuple[np.ndarray, np.ndarray]:
        """Encode the crops of ``N`` utterances in one encoder call.

        Returns:
            ``([N, dim] float32 features, [N] bool valid)``; ``valid`` is ``False`` for utterances
            without a face under ``no_face="mask"`` (their rows are zeros; the caller masks them).
        """
        valid = np.array([c.face_found or self.no_face == "frame" for c in crops], dtype=bool)
        images = [Image.fromarray(img) for c, ok in zip(crops, valid, strict=False) if ok for img in c.images]
        out = np.zeros((len(crops), self.dim), dtype=np.float32)
        if not images:
            return out, valid
        feats = self.encoder(images)
        feats = feats.detach().float().cpu() if isinstance(feats, torch.Tensor) else torch.as_tensor(feats).float()
        start = 0
        for i, (c, ok) in enumerate(zip(crops, valid, strict=False)):
            if not ok:
                continue
            rows = feats[start : start + len(c.images)]
            start += len(c.images)
            pooled = rows.mean(0)
            if self.pooling == "mean+std":
                pooled = torch.cat([pooled, rows.std(0, unbiased=False)])
            out[i] = pooled.numpy()
        return out, valid

    def __repr__(self) -> str:
        return f"ClipFaceExtractor(dim={self.dim}, pooling={self.pooling!r}, no_face={self.no_face!r})"


def load_visual_extractor(
    spec: str,
    *,
    device: str | None = None,
    batch_size: int = 64,
    pooling: Pooling = "mean",
    no_face: NoFace = "frame",
    margin: float = 0.2,
    detector: FaceDetector | None = None,
) -> ClipFaceExtractor:
    """``"clip-face:<open_clip model>[:<pretrained>]"`` → a :class:`ClipFaceExtractor` on an
    :class:`~vega_anchors.OpenCLIPImageEncoder` (e.g. ``clip-face:ViT-B-32-quickgelu:openai``, the
    paper's anchors' encoder), or ``"clip-face:local-dir:<folder>"`` / ``"clip-face:hf-hub:<repo>"`` (open_clip
    names that carry their weights). Without ``:<pretrained>`` the weights are random (tests only; logged)."""
    from ..encoders.image import OpenCLIPImageEncoder

    kind, _, rest = spec.partition(":")
    if kind != "clip-face" or not rest:
        raise ValueError(
            f"visual extractor {spec!r} not understood; use clip-face:<open_clip model>[:<pretrained>], "
            "e.g. clip-face:ViT-B-32-quickgelu:openai"
        )
    schema = rest.startswith(("local-dir:", "hf-hub:"))  # names that carry their weights (and a ':' of their own)
    model_name, _, pretrained = (rest, "", "") if schema else rest.partition(":")
    if not pretrained and not schema:
        logger.warning("clip-face:%s has no pretrained weights tag: random weights (tests only)", model_name)
    encoder = OpenCLIPImageEncoder(model_name, pretrained or None, device=device, batch_size=batch_size, progress=False)
    return ClipFaceExtractor(encoder, detector=detector, margin=margin, pooling=pooling, no_face=no_face)
