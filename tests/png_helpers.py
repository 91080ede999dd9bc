"""Checks for the PNG pictures the library writes: valid, the expected size, not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, size: tuple[int, int] | None = None, *, min_colors: int = 8) -> np.ndarray:
    """``path`` is a PNG file of ``size`` (width, height) whose pixels are not (nearly) one colour."""
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        if size is not None:
            assert image.size == size, f"{path.name}: size {image.size}, expected {size}"
        pixels = np.asarray(image.convert("RGB"))
    colors = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colors) >= min_colors, f"{path.name} looks blank ({len(colors)} colours)"
    assert pixels.std() > 5, f"{path.name} looks blank (pixel std {pixels.std():.2f})"
    # something is drawn away from the border: the inner region is not a single colour
    h, w = pixels.shape[:2]
    inner = pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    assert inner.std() > 2, f"{path.name}: the middle of the picture is empty"
    return pixels
