"""Shared fixtures: a tiny random-weight open_clip model (no downloads) and synthetic images."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from PIL import Image

if TYPE_CHECKING:
    from vega_anchors.encoders import OpenCLIPImageEncoder

from clip_helpers import TINY_CLIP_CONFIG, TINY_CLIP_MODEL

ImageFactory = Callable[..., Image.Image]


# ---- images --------------------------------------------------------------------------------------
def random_rgb(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A deterministic noise RGB image of ``size`` = (width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), mode="RGB")


@pytest.fixture
def make_image() -> ImageFactory:
    """``make_image(seed, size=(w, h))`` → a deterministic noise RGB ``PIL.Image``."""
    return random_rgb


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """``faces/{Angry,happiness,sad}/`` with 3, 2 (one nested) and 4 distinct PNGs plus a stray text file.

    Canonical classes: anger (3), happy (2), sad (4).
    """
    root = tmp_path / "faces"
    layout = {"Angry": 3, "happiness": 2, "sad": 4}
    seed = 0
    for folder, count in layout.items():
        (root / folder).mkdir(parents=True)
        for i in range(count):
            target = root / folder / (f"sub/img{i}.png" if folder == "happiness" and i == 1 else f"img{i}.png")
            target.parent.mkdir(exist_ok=True)
            random_rgb(seed).save(target)
            seed += 1
    (root / "sad" / "notes.txt").write_text("not an image")
    return root


# ---- open_clip -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_clip_model_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Register the tiny open_clip architecture (JSON config in a temp dir) and return its name."""
    import open_clip

    config = tmp_path_factory.mktemp("open_clip_configs") / f"{TINY_CLIP_MODEL}.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config)
    assert TINY_CLIP_MODEL in open_clip.list_models()
    return TINY_CLIP_MODEL


@pytest.fixture(scope="session")
def tiny_clip_encoder(tiny_clip_model_name: str) -> OpenCLIPImageEncoder:
    """A CPU :class:`OpenCLIPImageEncoder` over the tiny architecture with seeded random weights.

    Shared by the session: tests that change its settings must work on ``copy.copy(...)``.
    """
    from vega_anchors.encoders import OpenCLIPImageEncoder

    torch.manual_seed(0)
    return OpenCLIPImageEncoder(tiny_clip_model_name, device="cpu", batch_size=4, progress=False)
