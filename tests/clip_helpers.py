"""The tiny random-weight open_clip architecture of the tests (a module, not conftest: several test folders
have a conftest.py, so ``from conftest import`` would find whichever was imported first)."""

from __future__ import annotations

TINY_CLIP_MODEL = "vega-test-tiny-clip"
"""open_clip model name of the tiny test architecture registered by ``tiny_clip_model_name``."""

TINY_CLIP_CONFIG: dict[str, object] = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 1, "layers": 1},
}
