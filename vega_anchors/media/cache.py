"""The per-utterance feature cache: one small ``.npz`` per utterance per extractor configuration.

Layout: ``cache_dir/<extractor>-<sha256(identity)[:16]>/<k[:2]>/<k>.npz`` with ``k`` a hash of the
utterance's media (resolved path, size, modification time, segment, frame region). The extractor's
folder holds ``identity.txt`` (what made the entries). Entries are written atomically, one at a time,
as soon as they are computed: an interrupted run keeps every finished utterance, and the next run
decodes only the rest. A changed file (size or mtime) or extractor setting misses the cache.
Entries are read with ``allow_pickle=False``; an unreadable one is recomputed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_write, atomic_write_text
from .sources import MediaItem

logger = logging.getLogger(__name__)

__all__ = ["CacheEntry", "FeatureCache", "media_fingerprint"]


def media_fingerprint(item: MediaItem) -> str:
    """A hex digest of what determines an utterance's media: files (resolved path, size, mtime), segment, region."""
    digest = hashlib.sha256()
    for path in (item.path, item.audio_path):
        if path is None:
            digest.update(b"-\n")
            continue
        try:
            stat = Path(path).stat()
            digest.update(f"{Path(path).resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\nmissing\n".encode())
    digest.update(f"{item.start}\n{item.end}\n{item.region}\n".encode())
    return digest.hexdigest()


@dataclass
class CacheEntry:
    """One cached utterance: ``features [D]`` float32, ``valid`` (``False``: masked, e.g. no face under
    ``no_face="mask"``), ``flag`` (``True``: silent audio, or no face found)."""

    features: np.ndarray
    valid: bool
    flag: bool


class FeatureCache:
    """Per-utterance entries of one extractor configuration under ``root``.

    Args:
        root: the cache folder (created on first write).
        identity: the extractor's identity plus decoding settings (e.g. frames per utterance).
        dim: the feature size; entries of another size are treated as misses.
    """

    def __init__(self, root: str | os.PathLike[str], identity: str, dim: int) -> None:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", identity.splitlines()[0])[:32] or "extractor"
        self.identity, self.dim = identity, dim
        self.dir = Path(root) / f"{slug}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"

    def path(self, item: MediaItem) -> Path:
        """The entry file of ``item``."""
        key = media_fingerprint(item)[:32]
        return self.dir / key[:2] / f"{key}.npz"

    def get(self, item: MediaItem) -> CacheEntry | None:
        """The cached entry, or ``None`` (absent or unreadable)."""
        path = self.path(item)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                features = np.asarray(data["features"], dtype=np.float32)
                entry = CacheEntry(features, bool(data["valid"]), bool(data["flag"]))
        except (OSError, ValueError, KeyError) as err:
            logger.warning("ignoring unreadable media cache entry %s (%s)", path, err)
            return None
        if entry.features.shape != (self.dim,):
            logger.warning(
                "ignoring media cache entry %s: shape %s, expected (%d,)", path, entry.features.shape, self.dim
            )
            return None
        return entry

    def put(self, item: MediaItem, entry: CacheEntry) -> Path:
        """Write ``entry`` for ``item`` atomically."""
        path = self.path(item)
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.dir / "identity.txt", self.identity + "\n")
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, features=entry.features.astype(np.float32), valid=entry.valid, flag=entry.flag)

        return atomic_write(path, write)
