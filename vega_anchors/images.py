"""Images: robust decoding to upright 8-bit RGB (:func:`load_image`) and listing image files (:func:`list_images`)."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

__all__ = ["IMAGE_EXTENSIONS", "ImageLike", "decode_image_bytes", "list_images", "load_image"]

logger = logging.getLogger(__name__)

ImageLike = Union[Image.Image, str, os.PathLike]  # noqa: UP007 - runtime alias, Python 3.10 safe
"""A PIL image or a path to an image file."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
"""File suffixes treated as images (compared lower-case, so ``.JPG`` counts)."""

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, TypeError, Image.DecompressionBombError)


# ---- helpers -------------------------------------------------------------------------------------
def _describe(source: ImageLike) -> str:
    if isinstance(source, Image.Image):
        return f"<in-memory {source.mode} image {source.size[0]}x{source.size[1]}>"
    return str(source)


def _to_8bit_gray(image: Image.Image) -> Image.Image:
    """Scale a 16-bit / 32-bit integer or float single-channel image to 8-bit ``L``.

    ``I;16*`` spans 0..65535 and is scaled (not clipped) to 0..255. Mode ``I`` holds 16-bit PNGs on some
    Pillow versions, so it is scaled the same way when a value exceeds 255 and kept as-is otherwise.
    Mode ``F`` is taken as 0..1 when its maximum is <= 1, else clipped to 0..255.
    """
    array = np.asarray(image).astype(np.float64)
    if image.mode in _SIXTEEN_BIT_MODES or (image.mode == "I" and array.size and array.max() > 255):
        array = np.clip(array, 0, 65535) / 257.0
    elif image.mode == "F" and array.size and array.max() <= 1.0:
        array = array * 255.0
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparency is dropped with a plain ``convert("RGB")`` (no compositing), which is what CLIP's own
    preprocessing does (Hugging Face ``CLIPImageProcessor`` and open_clip's ``_convert_to_rgb``), so
    features match those of the reference pipeline.
    """
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        return _to_8bit_gray(image).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # avoids Pillow's palette-transparency warning
    return image.convert("RGB")


def _exif_upright(image: Image.Image, name: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception as err:  # a broken EXIF block should not reject an otherwise good image
        logger.warning("%s: ignoring unreadable EXIF orientation (%s)", name, err)
        return image


def _decode(fp: io.BytesIO | str | os.PathLike, name: str) -> Image.Image:
    try:
        with Image.open(fp) as opened:
            opened.load()  # forces a full decode: truncated files fail here, not later
            upright = _exif_upright(opened, name)
            rgb = _to_rgb(upright)
            return rgb.copy() if rgb is opened else rgb
    except _DECODE_ERRORS as err:
        raise ValueError(f"cannot decode image {name}: {type(err).__name__}: {err}") from err


# ---- public --------------------------------------------------------------------------------------
def load_image(path_or_image: ImageLike) -> Image.Image:
    """Open an image (path or PIL image) as an upright 8-bit RGB ``PIL.Image``.

    EXIF orientation is applied; grayscale, palette, CMYK, alpha and 16-bit images become 8-bit RGB
    (16-bit values are scaled to 0..255; alpha is dropped as CLIP's preprocessing does).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is corrupt, truncated or not an image (the message names the file).
    """
    if isinstance(path_or_image, Image.Image):
        name = _describe(path_or_image)
        try:
            return _to_rgb(_exif_upright(path_or_image, name))
        except _DECODE_ERRORS as err:
            raise ValueError(f"cannot convert image {name} to RGB: {type(err).__name__}: {err}") from err
    path = Path(path_or_image)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    return _decode(path, str(path))


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files (:data:`IMAGE_EXTENSIONS`) under ``folder``, recursive, sorted by relative path.

    Hidden files and everything inside hidden folders (names starting with ``.``) are skipped.
    """
    folder = Path(folder)
    found: list[Path] = []
    ignored: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            path = Path(dirpath, filename)
            if filename.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored.append(path)
            else:
                found.append(path)
    for path in ignored:
        logger.debug("ignoring non-image or hidden file %s", path)
    if ignored:
        logger.info("%s: ignored %d non-image or hidden file(s)", folder, len(ignored))
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())



def decode_image_bytes(data: bytes, name: str) -> Image.Image:
    """Decode an image file's bytes (as :func:`load_image` does); ``name`` is used in errors."""
    return _decode(io.BytesIO(data), name)
