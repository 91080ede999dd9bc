"""Helpers shared by the encoders (text and audio): hidden-layer checks and model identities."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def check_hidden_layers(name: str, depth: int, layers: Sequence[int]) -> tuple[int, ...]:
    """``layers`` as a tuple of ints, checked to index the ``depth + 1`` hidden states of model ``name``."""
    picked = tuple(int(i) for i in layers)
    bad = [i for i in picked if not -(depth + 1) <= i <= depth]
    if not picked or bad:
        raise ValueError(
            f"layers must pick hidden states of {name} ({depth} layers: indices {-(depth + 1)}..{depth}); "
            f"got {list(layers)}"
        )
    return picked


def local_identity(path: Path) -> str:
    """A local model's identity: its resolved path plus the names, sizes and mtimes of its files."""
    parts = [str(path.resolve())]
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        stat = p.stat()
        parts.append(f"{p.relative_to(path) if path.is_dir() else p.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def model_identity(name_or_path: str | os.PathLike[str], revision: str | None) -> str:
    """A model's identity line(s): :func:`local_identity` for a local path, else ``name@revision``."""
    local = Path(name_or_path)
    return local_identity(local) if local.exists() else f"{name_or_path}@{revision or 'default'}"
