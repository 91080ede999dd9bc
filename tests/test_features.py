"""build_features: the library function behind `vega-anchors build-features`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from vega_anchors.data import TableColumns, load_features
from vega_anchors.errors import ConfigError
from vega_anchors.features import MediaOptions, build_features


class LengthEncoder:
    identity = "lengths"
    name = "lengths"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([[len(t), t.count(" ")] for t in texts], dtype=np.float32)


def test_tables_to_a_written_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vega_anchors.encoders.text as text_module

    asked: list[dict[str, object]] = []
    monkeypatch.setattr(text_module, "load_text_encoder", lambda name, **k: asked.append(k) or LengthEncoder())
    (tmp_path / "train.csv").write_text("d,u,s,t,e\n1,0,A,hi there,calm\n1,1,B,bye,angry\n2,0,A,ok,calm\n")
    (tmp_path / "test.csv").write_text("d,u,s,t,e\n3,0,C,so so so,calm\n")
    columns = TableColumns(dialogue="d", utterance="u", speaker="s", text="t", label="e")
    features = build_features(
        {"train": tmp_path / "train.csv", "dev": None, "test": tmp_path / "test.csv"},
        encoder="lengths", columns=columns, labels="auto", label_map={"angry": "anger"}, layers=[-1], context=0,
        progress=False,
        out=tmp_path / "f.safetensors",
    )  # fmt: skip
    assert asked == [{"device": None, "layers": [-1]}]
    assert list(features.label_names) == ["anger", "calm"] and features.modality_dims == {"text": 2}  # label_map
    assert features.extras["tables"]["train"]["label_mapping"] == {"angry": "anger", "calm": "calm"}
    assert features.train[0].features["text"].tolist() == [[8.0, 1.0], [3.0, 0.0]]
    assert features.test[0].features["text"].tolist() == [[8.0, 2.0]]
    assert features.extras["encoder"]["name"] == "lengths" and features.extras["encoder"]["dim"] is None
    stored = load_features(tmp_path / "f.safetensors")
    assert stored.train[1].features["text"].tolist() == [[2.0, 0.0]]


def test_nothing_to_build_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("Dialogue_ID,Utterance_ID,Speaker,Utterance,Emotion\n1,0,A,hi,neutral\n")
    with pytest.raises(ConfigError, match="no modality to build"):
        build_features({"train": tmp_path / "t.csv"}, encoder=None)
    with pytest.raises(ConfigError, match="nothing to extract"):
        MediaOptions(layout="meld", directory=tmp_path)
