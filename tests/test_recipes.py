"""The default recipe for user features: any class count, any modalities; recipe files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vega_anchors import VEGAConfig
from vega_anchors.errors import ConfigError
from vega_anchors.official import config_from_args
from vega_anchors.recipes import (
    DEFAULT_TRAIN,
    PRESETS,
    default_model_config,
    default_train_config,
    preset_model_config,
    preset_train_config,
    read_recipe,
)
from vega_anchors.training import TrainConfig


@pytest.mark.parametrize("classes", [2, 5, 8])
def test_class_count_and_modalities_follow_the_features(classes: int) -> None:
    names = [f"c{i}" for i in range(classes)]
    config = default_model_config({"text": 1536, "audio": 88}, names, num_speakers=4)
    assert config.num_classes == classes and config.modalities == {"text": 1536, "audio": 88}
    assert (config.hidden_dim, config.input_norm, config.class_weights) == (256, "standardize", None)
    assert (config.feature_mask_prob, config.classifier.layers, config.classifier.dropout) == (0.3, 1, 0.0)
    assert not config.losses.anchor and not config.losses.anchor_kl
    anchored = default_model_config({"text": 16}, names, num_speakers=1, anchor_dim=16, hidden_dim=32)
    assert anchored.losses.anchor and anchored.anchor_dim == 16 and anchored.hidden_dim == 32


def test_class_mismatch_names_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        default_model_config({"text": 8}, ["a", "b", "c", "d", "e", "f"], num_speakers=2, num_classes=7)
    assert "num_classes=7 disagrees with the 6 classes" in str(info.value)
    assert "leave out num_classes" in str(info.value) and "--config" in info.value.for_cli()
    with pytest.raises(ConfigError, match="class_weights has 7 entries"):
        default_model_config({"text": 8}, list("abcdef"), num_speakers=2, class_weights=[1.0] * 7)
    with pytest.raises(ConfigError, match="at least 2"):
        default_model_config({"text": 8}, ["only"], num_speakers=2)


def test_train_defaults_and_recipe_files(tmp_path: Path) -> None:
    config = default_train_config(epochs=3)  # a budget in epochs replaces the recipe's step budget
    assert (config.epochs, config.max_steps) == (3, None) and config.ema_decay == DEFAULT_TRAIN["ema_decay"] == 0.99
    assert (config.lr, config.batch_size, config.patience, config.patience_steps) == (3e-4, 16, None, 750)
    default = default_train_config()
    assert (default.max_steps, default.min_steps, default.scheduler, default.warmup_fraction) == (
        3000,
        1000,
        "cosine",
        0.05,
    )
    assert default_train_config(epochs=3, max_steps=50).max_steps == 50  # both given: the steps bound the budget
    (tmp_path / "r.json").write_text(json.dumps({"model": {"hidden_dim": 256}, "train": {"epochs": 40, "seed": 3}}))
    assert read_recipe(tmp_path / "r.json") == ({"hidden_dim": 256}, {"epochs": 40})
    (tmp_path / "bad.json").write_text(json.dumps({"epochs": 3}))
    with pytest.raises(ConfigError, match="no 'model' or 'train' section"):
        read_recipe(tmp_path / "bad.json")


def test_one_preset_registry() -> None:
    assert set(PRESETS) == {"iemocap", "meld", "own-data"}
    assert VEGAConfig.meld() == preset_model_config("meld") and VEGAConfig.iemocap() == preset_model_config("iemocap")
    assert (VEGAConfig.meld().num_classes, VEGAConfig.meld().num_speakers) == (7, 9)
    assert preset_train_config("meld") == preset_train_config("iemocap") == TrainConfig()  # the official recipe
    assert preset_train_config("own-data") == default_train_config()
    assert preset_train_config("own-data").max_steps == DEFAULT_TRAIN["max_steps"] == 3000
    assert preset_train_config("own-data", epochs=5).max_steps is None
    with pytest.raises(ConfigError, match="unknown preset 'sst'"):
        preset_train_config("sst")
    with pytest.raises(ValueError, match="lr is a training setting"):
        config_from_args(lr=1e-3)
