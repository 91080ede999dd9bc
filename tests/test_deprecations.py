"""Names renamed or moved in 0.2 keep working for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch
from golden_cases import golden_config, load_case

import vega_anchors
from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig, official
from vega_anchors.heads import FastDropout, mlp
from vega_anchors.models import FUSED


def test_top_level_names_that_moved() -> None:
    with pytest.warns(DeprecationWarning, match="vega_anchors.models"):
        assert vega_anchors.FUSED is FUSED
    with pytest.warns(DeprecationWarning, match="vega_anchors.heads"):
        assert vega_anchors.mlp is mlp
    with pytest.raises(AttributeError):
        vega_anchors.not_a_name  # noqa: B018


def test_dropout_was_renamed() -> None:
    heads = importlib.import_module("vega_anchors.heads")
    with pytest.warns(DeprecationWarning, match="FastDropout"):
        assert heads.Dropout is FastDropout


@pytest.mark.parametrize("name", ["load_feature_pickle", "save_feature_pickle", "LAYOUTS", "TEXT_FIELDS"])
def test_data_names_that_moved_to_official(name: str) -> None:
    data = importlib.import_module("vega_anchors.data")
    with pytest.warns(DeprecationWarning, match=f"vega_anchors.official.{name}"):
        assert getattr(data, name) is getattr(official, name)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("vega_anchors.interop", ["from_official_state_dict", "load_official_state_dict"]),
        ("vega_anchors.data.pickles", ["load_feature_pickle", "FeatureSet"]),
    ],
)
def test_old_modules_still_import(module: str, names: list[str]) -> None:
    sys.modules.pop(module, None)
    with pytest.warns(DeprecationWarning, match="vega_anchors.official"):
        mod = importlib.import_module(module)
    assert all(hasattr(mod, n) for n in names)


def test_official_classmethods_forward_with_a_warning() -> None:
    case = load_case("iemocap_small")
    with pytest.warns(DeprecationWarning, match="official.load_anchors"):
        bank = AnchorBank.from_official(case["anchors_official_format"])
    with pytest.warns(DeprecationWarning, match="official.anchors_to_official"):
        exported = bank.to_official()
    assert exported.keys() == official.anchors_to_official(bank).keys()
    with pytest.warns(DeprecationWarning, match="official.load_model"):
        model = DualBranchVEGA.from_official(case["state_dict"], golden_config(case), bank)
    reference = official.load_model(case["state_dict"], golden_config(case), bank)
    for (k, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert not isinstance(a, torch.Tensor) or torch.equal(a, b), k
    with pytest.warns(DeprecationWarning, match="official.config_from_args"):
        assert VEGAConfig.from_official_args(n_classes=7) == official.config_from_args(n_classes=7)


def test_version_0_1_state_dicts_load() -> None:
    """A fit checkpoint from 0.1 named the anchor projectors anchor_heads.<h>.proj.* and the class
    weights class_weights; both load into the composed model."""
    case = load_case("iemocap_small")
    bank = official.load_anchors(case["anchors_official_format"])
    model = official.load_model(case["state_dict"], golden_config(case), bank)
    old = {}
    for key, value in model.state_dict().items():
        if key.startswith("anchor_align.") and ".head.proj." in key:
            head, rest = key.removeprefix("anchor_align.").split(".head.proj.")
            old[f"anchor_heads.{head}.proj.{rest}"] = value
        elif key == "cls_loss.class_weights":
            old["class_weights"] = value
        elif not key.endswith(".class_weights"):
            old[key] = value
    fresh = DualBranchVEGA(golden_config(case), official.load_anchors(case["anchors_official_format"])).double()
    fresh.load_state_dict(old)  # strict
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(fresh.state_dict()[key], value), key
