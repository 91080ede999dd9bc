"""Exemplar image folders: robust image decoding and the ``root/<class>/**/*.jpg`` layout."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

from ..labels import canonical_label

__all__ = ["IMAGE_EXTENSIONS", "ImageLike", "find_class_images", "load_image"]

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


def _list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden entries skipped), sorted by relative path."""
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


def _class_folders(root: Path) -> dict[str, Path]:
    """``{canonical class name: folder}`` for the visible sub-folders of ``root``."""
    folders: dict[str, Path] = {}
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        key = canonical_label(child.name)
        if key in folders:
            raise ValueError(
                f"folders {folders[key].name!r} and {child.name!r} under {root} both name class {key!r}; "
                "merge or rename one of them"
            )
        folders[key] = child
    return folders


def _verify(
    groups: dict[str, list[Path]], *, skip_unreadable: bool
) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Decode every image once; drop (or fail on) unreadable ones; group identical files by hash."""
    by_hash: dict[str, list[Path]] = {}
    unreadable: list[tuple[Path, str]] = []
    kept: dict[str, list[Path]] = {}
    for name, paths in groups.items():
        kept[name] = []
        for path in paths:
            try:
                data = path.read_bytes()
                _decode(io.BytesIO(data), str(path))
            except (OSError, ValueError) as err:
                unreadable.append((path, str(err)))
                continue
            by_hash.setdefault(hashlib.sha256(data).hexdigest(), []).append(path)
            kept[name].append(path)
    if unreadable:
        listing = "\n  ".join(f"{p}: {why}" for p, why in unreadable)
        if not skip_unreadable:
            raise ValueError(
                f"{len(unreadable)} unreadable image(s):\n  {listing}\n"
                "Fix or remove them, or pass skip_unreadable=True to skip them."
            )
        for path, why in unreadable:
            warnings.warn(f"skipping unreadable image {path}: {why}", UserWarning, stacklevel=3)
    duplicates = {digest: paths for digest, paths in by_hash.items() if len(paths) > 1}
    return kept, duplicates


def find_class_images(
    root: str | os.PathLike[str],
    classes: Sequence[str] | None = None,
    *,
    skip_unreadable: bool = False,
) -> dict[str, list[Path]]:
    """Find the exemplar images of each class: one sub-folder per class under ``root``.

    Folder names are matched to ``classes`` through :func:`~vega_anchors.labels.canonical_label`
    (``Angry/`` → ``anger``, ``happiness/`` → ``happy``). Images (:data:`IMAGE_EXTENSIONS`) are found
    recursively, hidden files and folders are skipped, and each class's list is sorted by relative path.
    Every image is decoded once here, so encoding never stops half-way on a bad file; files with identical
    bytes are reported with a warning.

    Args:
        root: folder holding one sub-folder per class.
        classes: class names in the order wanted (e.g. ``EMOTION_LABELS["iemocap"]``); ``None`` takes
            every sub-folder, sorted by canonical name.
        skip_unreadable: skip (with a warning each) images that cannot be decoded instead of raising.

    Returns:
        ``{canonical class name: [image paths]}`` in the order of ``classes``.

    Raises:
        FileNotFoundError: ``root`` or some class folders are missing (every missing class is listed).
        ValueError: a class has no images, or an image is unreadable and ``skip_unreadable`` is False.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"image folder root not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"image folder root is not a directory: {root}")
    folders = _class_folders(root)
    if classes is None:
        wanted = sorted(folders)
        if not wanted:
            raise FileNotFoundError(f"no class sub-folders under {root}; expected e.g. {root / 'anger'}/")
    else:
        wanted = [canonical_label(c) for c in classes]
        repeated = sorted({c for c in wanted if wanted.count(c) > 1})
        if repeated:
            raise ValueError(f"classes {list(classes)} name {repeated} more than once (after alias matching)")
        missing = [c for c, w in zip(classes, wanted, strict=True) if w not in folders]
        if missing:
            raise FileNotFoundError(
                f"no folder under {root} for class(es) {missing}; folders found: "
                f"{sorted(f.name for f in folders.values())}. Create one sub-folder per class (aliases "
                "such as angry→anger are accepted) or pass classes= matching the folders."
            )
    groups = {name: _list_images(folders[name]) for name in wanted}
    _raise_if_empty(groups, folders, "no images")
    groups, duplicates = _verify(groups, skip_unreadable=skip_unreadable)
    _raise_if_empty(groups, folders, "no readable images")
    for paths in duplicates.values():
        warnings.warn(
            f"identical image files (same bytes) will be encoded more than once: {[str(p) for p in paths]}",
            UserWarning,
            stacklevel=2,
        )
    logger.info(
        "found %d images in %d classes under %s: %s",
        sum(len(p) for p in groups.values()),
        len(groups),
        root,
        {name: len(paths) for name, paths in groups.items()},
    )
    return groups


def _raise_if_empty(groups: dict[str, list[Path]], folders: dict[str, Path], what: str) -> None:
    empty = [name for name, paths in groups.items() if not paths]
    if empty:
        raise ValueError(
            f"class(es) {empty} have {what} (folders: {[str(folders[n]) for n in empty]}); every class needs "
            f"at least one image with a suffix in {sorted(IMAGE_EXTENSIONS)}"
        )
