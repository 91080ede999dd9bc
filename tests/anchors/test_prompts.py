"""Text anchors for any label set: default sentences, templates, prompts files, encoder identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vega_anchors import AnchorBank
from vega_anchors.anchors.prompts import DEFAULT_TEMPLATES, EMOTION_PROMPTS, default_prompts, read_prompts
from vega_anchors.errors import ConfigError


class HashEncoder:
    """A deterministic stand-in text encoder: 6-d vectors from character counts."""

    identity = "hash-encoder-v1"
    name = "hash"
    dim = 6

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += list(texts)
        return np.array([[len(t), t.count("e"), t.count("a"), t.count(" "), 1.0, t.count("!")] for t in texts],
                        dtype=np.float32)  # fmt: skip


def test_default_prompts_known_names_and_templates() -> None:
    prompts = default_prompts(["Joy", "Mad", "peaceful_mood"])
    assert prompts["Joy"] == EMOTION_PROMPTS["happy"]  # joy → happy: the built-in sentences
    assert prompts["Mad"] == [t.format(label="mad") for t in DEFAULT_TEMPLATES]
    assert prompts["peaceful_mood"][0] == "The emotion here is peaceful mood."
    assert default_prompts(["anger"], templates="I am {label}.") == {"anger": ["I am anger."]}


def test_read_prompts_json_and_tab_lines(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps({"calm": ["All good."], "Mad": "Stop it!"}))
    assert read_prompts(tmp_path / "p.json", ["mad", "calm"]) == {"mad": ["Stop it!"], "calm": ["All good."]}
    (tmp_path / "p.tsv").write_text("# prompts\ncalm\tAll good.\ncalm\tFine.\n\nmad\tStop it!\n")
    assert read_prompts(tmp_path / "p.tsv") == {"calm": ["All good.", "Fine."], "mad": ["Stop it!"]}
    with pytest.raises(ConfigError) as info:
        read_prompts(tmp_path / "p.tsv", ["calm", "mad", "sad"])
    assert "no sentences for ['sad']" in str(info.value) and "--prompts" in info.value.for_cli()
    (tmp_path / "bad.txt").write_text("calm All good.\n")
    with pytest.raises(ValueError, match="line 1"):
        read_prompts(tmp_path / "bad.txt")


def test_from_texts_embeds_with_the_encoder_and_records_it(tmp_path: Path) -> None:
    encoder = HashEncoder()
    bank = AnchorBank.from_texts(None, encoder, class_names=["calm", "anger", "joyful"])
    assert bank.class_names == ["calm", "anger", "joyful"] and bank.dim == 6
    assert bank.counts.tolist() == [len(DEFAULT_TEMPLATES), len(EMOTION_PROMPTS["anger"]), len(DEFAULT_TEMPLATES)]
    assert "The emotion here is calm." in encoder.seen
    assert bank.encoder_identity is not None and bank.encoder_identity["name"] == "hash"
    assert bank.encoder_identity["dim"] == 6 and len(bank.encoder_identity["identity"]) == 16
    bank.save(tmp_path / "b.safetensors")
    loaded = AnchorBank.load(tmp_path / "b.safetensors")
    assert loaded.encoder_identity == bank.encoder_identity
    torch.testing.assert_close(loaded.centers, bank.centers)
    custom = AnchorBank.from_texts({"x": ["a!"], "y": ["eee", "e e"]}, encoder)
    assert custom.class_names == ["x", "y"] and custom.counts.tolist() == [1, 2]
    with pytest.raises(ValueError, match="no prompt sentences"):
        AnchorBank.from_texts({"x": ["a"]}, encoder, class_names=["x", "y"])
