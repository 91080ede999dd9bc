"""EmotionPipeline: the same probabilities as ``predict`` on a store built the usual way; the cache; errors."""

from __future__ import annotations

import numpy as np
import pytest

import vega_anchors.media.decode as decode_module
from vega_anchors.annotate import EmotionPipeline
from vega_anchors.annotate._demo import write_conversation, write_srt
from vega_anchors.errors import ConfigError
from vega_anchors.runs import predict_run


def test_probabilities_equal_predict_on_a_built_store(setup, tmp_path) -> None:
    pipe = EmotionPipeline.from_run(setup.run, cache_dir=tmp_path / "cache")
    result = pipe(setup.video, setup.srt)
    expected = predict_run(setup.run, setup.store, split="test")
    want = np.array([[row[f"prob_{c}"] for c in pipe.class_names] for row in expected])
    assert result.probabilities.shape == (len(setup.cues), 3)
    assert np.abs(result.probabilities - want).max() <= 1e-6
    assert result.emotions == [row["predicted"] for row in expected]
    assert [c.speaker for c in result.transcript.cues] == [c.speaker for c in setup.cues]
    assert all(t is not None and t.startswith("data:image/jpeg;base64,") for t in result.thumbnails)
    assert {"load", "transcript", "text", "media", "predict", "thumbnails"} <= set(result.timings)
    assert result.manifest[2]["start"] == pytest.approx(setup.cues[2].start)


def test_second_call_reuses_the_cache(setup, tmp_path, monkeypatch) -> None:
    pipe = EmotionPipeline.from_run(setup.run, cache_dir=tmp_path / "cache")
    first = pipe(setup.video, setup.srt)
    calls: list[int] = []
    original = decode_module.decode_group
    monkeypatch.setattr(decode_module, "decode_group", lambda items, **kw: calls.append(1) or original(items, **kw))
    again = pipe(setup.video, setup.srt)
    assert calls == []  # media features and thumbnails come from the cache
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
    assert first.thumbnails == again.thumbnails


def test_video_without_audio_is_refused(setup, tmp_path) -> None:
    silent = write_conversation(tmp_path / "mute.mp4", turns=[("Ann", "x")] * 2, slot=2.0, width=64, height=48,
                                audio=False)  # fmt: skip
    srt = write_srt(tmp_path / "mute.srt", silent.cues)
    pipe = EmotionPipeline.from_run(setup.run)
    with pytest.raises(ConfigError, match=r"needs audio features, and .*mute.mp4 has no audio stream") as err:
        pipe(silent.video, srt)
    assert "give a VIDEO with an audio stream" in err.value.for_cli()


def test_cues_outside_the_video_are_refused(setup, tmp_path) -> None:
    srt = tmp_path / "late.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:05:00,000 --> 00:05:02,000\nlate\n")
    pipe = EmotionPipeline.from_run(setup.run)
    with pytest.raises(ConfigError, match=r"\[300.000, 302.000\] s .* is outside the video"):
        pipe(setup.video, srt)


def test_an_encoder_that_is_not_installed_is_named(setup, tmp_path) -> None:
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(setup.run, run)
    config = json.loads((run / "config.json").read_text())
    config["encoder"]["name"] = str(tmp_path / "no-such-model")
    (run / "config.json").write_text(json.dumps(config))
    recipe = json.loads((run / "feature_recipe.json").read_text())  # what train records
    recipe["text_encoder"]["name"] = str(tmp_path / "no-such-model")
    (run / "feature_recipe.json").write_text(json.dumps(recipe))
    with pytest.raises(ConfigError, match=r"needs the text encoder .*no-such-model.*cannot be loaded") as err:
        EmotionPipeline.from_run(run)
    assert "install that encoder" in err.value.for_cli()


def test_the_recipe_comes_from_feature_recipe_json_or_the_store(setup, tmp_path) -> None:
    import json
    import shutil

    from vega_anchors.annotate._recipe import _run_feature_recipe

    run = tmp_path / "run"
    shutil.copytree(setup.run, run)
    recorded_by_train = json.loads((run / "feature_recipe.json").read_text())
    (run / "feature_recipe.json").unlink()
    from_store = _run_feature_recipe(run)  # older runs: config.json + the store's extras
    assert from_store.source == str(setup.store) and from_store.num_frames == 2
    (run / "feature_recipe.json").write_text(json.dumps(recorded_by_train))
    config = json.loads((run / "config.json").read_text())
    config["features"] = str(tmp_path / "moved-away.safetensors")
    (run / "config.json").write_text(json.dumps(config))
    recorded = _run_feature_recipe(run)  # the recorded recipe: the store is not needed
    assert recorded.source.endswith("feature_recipe.json")
    for field in ("class_names", "modalities", "text", "speaker_map", "num_frames"):
        assert getattr(recorded, field) == getattr(from_store, field), field
    assert {m: [x for x in lines if not x.startswith("sample_rate=")] for m, lines in recorded.media.items()} == {
        m: [x for x in lines if not x.startswith("sample_rate=")] for m, lines in from_store.media.items()
    }
    result = EmotionPipeline.from_run(run)(setup.video, setup.srt)
    want = predict_run(setup.run, setup.store, split="test")
    expected = np.array([[r[f"prob_{c}"] for c in result.class_names] for r in want])
    assert np.abs(result.probabilities - expected).max() <= 1e-6
    (run / "feature_recipe.json").unlink()
    with pytest.raises(ConfigError, match=r"no feature_recipe.json, and the feature store .* is gone") as err:
        _run_feature_recipe(run)
    assert "put the --features store of train back" in err.value.for_cli()
