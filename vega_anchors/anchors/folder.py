"""Exemplar image folders: the ``root/<class>/**/*.jpg`` layout."""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..images import IMAGE_EXTENSIONS, decode_image_bytes, list_images
from ..labels import canonical_label

__all__ = ["find_class_images"]

logger = logging.getLogger(__name__)


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
                decode_image_bytes(data, str(path))
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
    groups = {name: list_images(folders[name]) for name in wanted}
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
