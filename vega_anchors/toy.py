"""Tiny, clearly synthetic assets for demos, tests and benchmarks: no downloads, no real data.

* :func:`register_tiny_clip` registers a small open_clip architecture (random weights only).
* :func:`write_synthetic_faces` writes generated images, one folder per class, whose colours and
  shapes depend on the class, so that anchors built from them differ by class.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

TINY_CLIP_MODEL = "vega-tiny-clip"
TINY_CLIP_CONFIG: dict[str, object] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 1, "layers": 1},
}


def register_tiny_clip(name: str = TINY_CLIP_MODEL, config: dict[str, object] | None = None) -> str:
    """Register a tiny open_clip architecture under ``name`` (idempotent) and return the name.

    Use it with ``OpenCLIPImageEncoder(name, pretrained=None)``: random weights, for demos and tests.
    """
    import open_clip

    if name in open_clip.list_models():
        return name
    folder = Path(tempfile.mkdtemp(prefix="vega_open_clip_"))
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config or TINY_CLIP_CONFIG))
    open_clip.add_model_config(path)
    return name


def write_synthetic_faces(
    root: str | os.PathLike[str],
    classes: Sequence[str],
    per_class: int = 8,
    *,
    size: int = 64,
    seed: int = 0,
    fmt: str = "png",
) -> Path:
    """Write ``per_class`` generated images per class under ``root/<class>/`` and return ``root``.

    Each class gets its own base colour and blob position plus per-image noise: synthetic
    stand-ins for facial exemplars, never real faces.
    """
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.uniform(40, 215, size=3)
        cy, cx = rng.uniform(0.25, 0.75, size=2)
        for i in range(per_class):
            blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (0.02 + 0.01 * c)))[..., None]
            img = base * (0.6 + 0.4 * blob) + rng.normal(0, 12, size=(size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="RGB").save(folder / f"{name}_{i:03d}.{fmt}")
    return root


__all__ = ["TINY_CLIP_CONFIG", "TINY_CLIP_MODEL", "register_tiny_clip", "write_synthetic_faces"]
