"""FeatureRecipe: one record of how a store was built, compared field by field."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vega_anchors.data import FeatureRecipe, check_feature_recipe, synthetic_dialogues
from vega_anchors.errors import ConfigError

ENCODER = {"name": "/models/minilm", "identity": "a" * 16, "backend": "transformers", "layers": [-4, -3, -2, -1],
           "dim": 1536, "context": 0}  # fmt: skip


def _store(context: int = 0, speakers: list[str] | None = None, frames: int = 8):
    fs = synthetic_dialogues("meld", seed=0, num_train=2, num_test=2, modality_dims={"text": 4})
    fs.extras["encoder"] = {**ENCODER, "context": context}
    fs.extras["speaker_names"] = speakers or [f"s{i}" for i in range(fs.num_speakers)]
    fs.extras["speaker_map"] = {"names": fs.extras["speaker_names"][:-1], "mode": "global", "top_n": 8}
    fs.extras["media"] = {"extractors": {"audio": ["opensmile:eGeMAPSv02", "sample_rate=16000"],
                                         "visual": ["clip:ViT-B-32", "pooling=mean", f"frames={frames}"]}}  # fmt: skip
    return fs


def test_from_features_reads_every_field(tmp_path: Path) -> None:
    fs = _store()
    recipe = FeatureRecipe.from_features(fs)
    assert recipe.text_encoder == ENCODER and recipe.text_layers == [-4, -3, -2, -1] and recipe.text_context == 0
    assert recipe.audio_extractor == ["opensmile:eGeMAPSv02"]
    assert recipe.visual_extractor == ["clip:ViT-B-32", "pooling=mean"] and recipe.num_frames == 8
    assert recipe.speakers == fs.extras["speaker_names"] and recipe.speaker_mode == "global"
    assert recipe.class_names == list(fs.label_names) and recipe.modalities == dict(fs.modality_dims)
    assert FeatureRecipe.load(recipe.save(tmp_path / "r.json")) == recipe
    with pytest.raises(ValueError):  # frozen
        recipe.text_context = 2  # type: ignore[misc]


def test_differences_name_the_field_and_both_values() -> None:
    run, store = FeatureRecipe.from_features(_store()), FeatureRecipe.from_features(_store(context=2, frames=4))
    assert run.differences(store) == ["text_context: 0 vs 2", "num_frames: 8 vs 4"]
    assert run.differences(FeatureRecipe.from_features(_store())) == []


def test_check_refuses_a_mismatch_unless_allowed(caplog: pytest.LogCaptureFixture) -> None:
    run = FeatureRecipe.from_features(_store())
    other = FeatureRecipe.from_features(_store(speakers=["x", "y", "z", "other"]))
    with pytest.raises(ConfigError) as info:
        check_feature_recipe(run, other, store="f.safetensors")
    assert "f.safetensors was built differently" in str(info.value) and "speakers: [" in str(info.value)
    assert "--allow-feature-mismatch" in info.value.for_cli()
    with caplog.at_level(logging.WARNING):
        assert check_feature_recipe(run, other, allow_mismatch=True)[0].startswith("speakers: ")
        assert check_feature_recipe(None, other) == []
    assert "records no feature_recipe.json" in caplog.text
