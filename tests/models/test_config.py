"""VEGAConfig: presets, official argument names, JSON round trip, validation."""

from __future__ import annotations

import pytest
from golden_cases import load_case
from pydantic import ValidationError

from vega_anchors import CLASS_WEIGHTS, VEGAConfig
from vega_anchors.official import config_from_args
from vega_anchors.recipes import preset_train_config


def test_iemocap_preset_carries_official_hyperparameters() -> None:
    cfg = VEGAConfig.iemocap()
    assert cfg.modalities == {"text": 1024, "audio": 1582, "visual": 342}
    assert (cfg.hidden_dim, cfg.num_heads, cfg.dropout, cfg.num_classes, cfg.num_speakers) == (
        768,
        4,
        0.53,
        6,
        2,
    )
    assert (cfg.anchor_dim, cfg.sampler.p, cfg.logit_scale) == (512, 0.4, 100.0)
    train = preset_train_config("iemocap")  # the official training recipe lives in the preset registry
    assert (train.lr, train.weight_decay, train.batch_size, train.epochs, train.patience) == (
        9.839e-5,
        0.00997,
        9,
        400,
        30,
    )
    assert "optim" not in cfg.model_dump() and VEGAConfig(**{**cfg.model_dump(), "optim": {"lr": 1.0}}) == cfg
    assert cfg.class_weights == list(CLASS_WEIGHTS["iemocap"])
    meta = load_case("iemocap_small")["meta"]
    lam = meta["loss_lambdas"]
    assert cfg.loss_weights.family == {
        "cls": lam["cls_lambda"],
        "cls_kl": lam["cls_all_cls_kl_lambda"],
        "anchor": lam["clip_lambda"],
        "anchor_kl": lam["clip_all_clip_kl_lambda"],
    }
    assert cfg.loss_weights.term("anchor", "fused") == lam["all_clip_lambda"]
    assert cfg.loss_weights.term("cls_kl", "audio") == lam["a_cls_all_cls_kl_lambda"]
    head = meta["head_config"]
    assert (cfg.classifier.layers, cfg.classifier.activation, cfg.classifier.dropout) == (
        head["outlayer_num"],
        head["outlayer_activation_fn"],
        head["outlayer_drop"],
    )
    assert (cfg.projector.layers, cfg.projector.activation, cfg.projector.dropout) == (
        head["clip_proj_layer_num"],
        head["clip_proj_activation_fn"],
        head["clip_proj_drop"],
    )


def test_meld_preset() -> None:
    cfg = VEGAConfig.meld()
    assert cfg.modalities["audio"] == 300 and cfg.num_classes == 7 and cfg.num_speakers == 9
    assert cfg.class_weights == list(CLASS_WEIGHTS["meld"])


def test_from_official_args_maps_every_name() -> None:
    meta = load_case("meld_small")["meta"]
    cfg = config_from_args(
        **meta["loss_lambdas"], **meta["dims"], **meta["head_config"], n_classes=7, clip_loss=False
    )
    assert cfg.modalities == {"text": 20, "audio": 12, "visual": 8}
    assert (cfg.hidden_dim, cfg.anchor_dim, cfg.num_speakers, cfg.num_classes) == (16, 8, 9, 7)
    assert cfg.class_weights == list(CLASS_WEIGHTS["meld"])  # follows n_classes
    assert cfg.losses.anchor is False and cfg.losses.anchor_kl is True
    assert config_from_args() == VEGAConfig.iemocap()
    with pytest.raises(ValueError, match="unknown official arguments"):
        config_from_args(not_an_arg=1)


def test_json_round_trip(tmp_path) -> None:
    cfg = VEGAConfig.meld(hidden_dim=64, modalities={"text": 384})
    assert VEGAConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "cfg.json"
    cfg.to_json(path)
    assert VEGAConfig.from_json(path) == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hidden_dim": 10, "num_heads": 4}, "divisible"),
        ({"class_weights": [1.0, 2.0]}, "class_weights"),
        ({"modalities": {}}, "at least one modality"),
        ({"modalities": {"fused": 3}}, "reserved"),
        ({"loss_weights": {"terms": {"cls": {"video": 1.0}}}}, "unknown heads"),
        ({"dropout": 1.0}, "dropout"),
        ({"typo_field": 1}, "typo_field"),
    ],
)
def test_invalid_configs_are_rejected(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VEGAConfig(**overrides)
