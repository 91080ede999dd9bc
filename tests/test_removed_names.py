"""The 0.1 aliases are gone (0.1.0 was never released): the official formats live in vega_anchors.official."""

from __future__ import annotations

from pathlib import Path

import pytest

import vega_anchors
from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig, data, heads, models
from vega_anchors.training import TrainConfig


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (AnchorBank, "from_official"),
        (AnchorBank, "to_official"),
        (VEGAConfig, "from_official_args"),
        (DualBranchVEGA, "from_official"),
        (vega_anchors, "FUSED"),
        (vega_anchors, "mlp"),
        (heads, "Dropout"),
        (data, "load_feature_pickle"),
        (data, "save_feature_pickle"),
        (data, "LAYOUTS"),
        (data, "TEXT_FIELDS"),
        (models, "OptimConfig"),  # training settings live in TrainConfig and recipes.PRESETS
        (TrainConfig, "from_vega_config"),
    ],
)
def test_alias_is_gone(owner: object, name: str) -> None:
    assert not hasattr(owner, name)


@pytest.mark.parametrize("module", ["interop.py", "data/pickles.py"])
def test_shim_module_is_gone(module: str) -> None:
    assert not (Path(vega_anchors.__file__).parent / module).exists()
