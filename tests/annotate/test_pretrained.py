"""annotate with a run shared through the Hub's folder format (save_pretrained): the same probabilities
as the run itself, with no access to its training store."""

from __future__ import annotations

import numpy as np

from vega_anchors.annotate import EmotionPipeline
from vega_anchors.hub import PretrainedRun
from vega_anchors.runs import load_run


def test_a_shared_run_annotates_as_the_run_does(setup, tmp_path) -> None:
    folder = tmp_path / "shared"
    PretrainedRun(load_run(setup.run)).save_pretrained(folder, repo_id="me/tiny-annotate")
    assert (folder / "feature_recipe.json").is_file() and not list(folder.rglob("*.pt"))
    shared = EmotionPipeline.from_pretrained(folder, cache_dir=tmp_path / "cache")(setup.video, setup.srt)
    original = EmotionPipeline.from_run(setup.run, cache_dir=tmp_path / "cache")(setup.video, setup.srt)
    assert np.array_equal(shared.probabilities, original.probabilities)  # bit-identical
    assert shared.emotions == original.emotions
    assert "--model me/tiny-annotate" in (folder / "README.md").read_text()
