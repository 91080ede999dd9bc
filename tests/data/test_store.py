"""The safetensors feature store and the pickle layouts: round trips, atomicity, refusals."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from vega_anchors.data import Dialogue, FeatureSet, is_feature_store, load_features, save_features
from vega_anchors.official import LAYOUTS, load_feature_pickle, save_feature_pickle


def make_set(*, dev: bool = True, modalities: dict[str, int] | None = None, labels: str = "meld") -> FeatureSet:
    from vega_anchors.labels import EMOTION_LABELS

    modalities = modalities or {"text": 5, "audio": 3, "visual": 2}
    names = EMOTION_LABELS[labels]
    gen = torch.Generator().manual_seed(1)

    def dialogue(i: int, length: int) -> Dialogue:
        labels_ = torch.randint(-1, len(names), (length,), generator=gen)
        return Dialogue(
            id=f"d{i}",
            features={m: torch.randn(length, d, generator=gen) for m, d in modalities.items()},
            speakers=torch.randint(0, 3, (length,), generator=gen),
            labels=labels_,
        )

    return FeatureSet(
        train=[dialogue(0, 4), dialogue(1, 1), dialogue(2, 7)],
        dev=[dialogue(3, 2)] if dev else [],
        test=[dialogue(4, 3), dialogue(5, 5)],
        label_names=names,
        num_speakers=3,
        modality_dims=dict(modalities),
        layout="table",
        source="unit test",
        extras={"speaker_names": ["A", "B", "other"], "not_json": object()},
    )


def assert_same_dialogues(a: list[Dialogue], b: list[Dialogue], *, labels: bool = True) -> None:
    assert [d.id for d in a] == [d.id for d in b]
    for x, y in zip(a, b, strict=True):
        assert x.modality_dims == y.modality_dims
        for m in x.features:
            torch.testing.assert_close(x.features[m], y.features[m], rtol=0, atol=0)
        assert torch.equal(x.speakers, y.speakers)
        if labels:
            assert torch.equal(x.labels, y.labels)


def test_store_round_trip(tmp_path: Path) -> None:
    original = make_set()
    path = save_features(original, tmp_path / "f.safetensors")
    assert is_feature_store(path)
    loaded = load_features(path)
    for split in ("train", "dev", "test"):
        assert_same_dialogues(original.splits()[split], loaded.splits()[split])
    assert loaded.label_names == original.label_names
    assert (loaded.num_speakers, loaded.modality_dims, loaded.layout) == (3, original.modality_dims, "table")
    assert loaded.extras == {"speaker_names": ["A", "B", "other"]}  # the non-JSON extra is left out
    assert loaded.dataset == "meld"
    assert [p.name for p in tmp_path.iterdir()] == ["f.safetensors"]  # no temporary left behind


def test_store_keeps_dtype_empty_splits_and_any_modalities(tmp_path: Path) -> None:
    original = make_set(dev=False, modalities={"text": 4, "face": 6}, labels="iemocap")
    for d in original.train + original.test:
        d.features["text"] = d.features["text"].half()
    loaded = load_features(save_features(original, tmp_path / "f.safetensors"))
    assert loaded.dev == []
    assert loaded.train[0].features["text"].dtype == torch.float16
    assert loaded.modality_dims == {"text": 4, "face": 6}
    assert_same_dialogues(original.test, loaded.test)


def test_store_is_data_only_and_checks_contents(tmp_path: Path) -> None:
    path = save_features(make_set(), tmp_path / "f.safetensors")
    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])
    meta = json.loads(header["__metadata__"]["vega_anchors"])
    assert meta["format"] == "vega-anchors/features"
    assert meta["splits"]["train"] == {"dialogue_ids": ["d0", "d1", "d2"], "utterances": 12}
    assert header["train/text"]["shape"] == [12, 5]

    meta["splits"]["train"]["dialogue_ids"] = ["d0", "d1"]  # no longer matches the lengths tensor
    header["__metadata__"]["vega_anchors"] = json.dumps(meta)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + size :])
    with pytest.raises(ValueError, match=r"damaged.safetensors: train: 2 dialogue ids but lengths of shape \(3,\)"):
        load_features(damaged)

    pickle_file = tmp_path / "x.pkl"
    pickle_file.write_bytes(b"\x80\x04K\x01.")
    assert not is_feature_store(pickle_file)
    with pytest.raises(ValueError, match="not a vega-anchors feature file"):
        load_features(pickle_file)
    with pytest.raises(FileNotFoundError):
        load_features(tmp_path / "missing.safetensors")


def test_store_refuses_out_of_range_labels(tmp_path: Path) -> None:
    features = make_set()
    features.label_names = features.label_names[:3]
    features.train[0].labels[0] = 5
    path = save_features(features, tmp_path / "f.safetensors")
    with pytest.raises(ValueError, match="train dialogue 'd0' has label 5 ≥ 3"):
        load_features(path)


def test_store_reads_only_the_splits_asked_for(tmp_path: Path) -> None:
    features = make_set()
    features.test[0].labels[0] = 99  # a broken test split: reading it fails
    path = save_features(features, tmp_path / "f.safetensors")
    with pytest.raises(ValueError, match="test dialogue"):
        load_features(path)
    part = load_features(path, splits=("train", "dev"))
    assert part.test == [] and [d.id for d in part.train] == [d.id for d in features.train]
    assert torch.equal(part.train[0].features["text"], features.train[0].features["text"])
    with pytest.raises(ValueError, match="unknown splits"):
        load_features(path, splits=("train", "validation"))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_table_features_round_trip_through_every_pickle_layout(tmp_path: Path, layout: str) -> None:
    original = make_set()
    # Pickle labels must be real classes (the layouts have no "unlabelled"); dev folds into train.
    for d in original.train + original.dev + original.test:
        d.labels = d.labels.clamp_min(0)
    path = save_feature_pickle(original, tmp_path / f"{layout}.pkl", layout=layout)
    loaded = load_feature_pickle(path, dataset="meld")
    assert loaded.layout == layout
    assert_same_dialogues(original.train + original.dev, loaded.train)
    assert_same_dialogues(original.test, loaded.test)
    # ... and on into the store and back.
    again = load_features(save_features(loaded, tmp_path / f"{layout}.safetensors"))
    assert_same_dialogues(loaded.train, again.train)
    assert again.layout == layout
