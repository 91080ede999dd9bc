"""Feature-pickle layouts: detection, loading, the SDT text choice, saving and round trips."""

from __future__ import annotations

import logging
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from vega_anchors.data import FeatureSet, synthetic_dialogues
from vega_anchors.labels import EMOTION_LABELS
from vega_anchors.official import load_feature_pickle, save_feature_pickle

DIMS = {"text": 6, "audio": 5, "visual": 4}


def _iemocap_fields(rng: np.random.Generator, text_singleton: bool) -> dict[str, Any]:
    """Official-style IEMOCAP fields: dicts keyed by dialogue id, 'M'/'F' speakers."""
    lengths = {"Ses01F_impro01": 4, "Ses01M_script02": 3, "Ses05F_impro03": 5}
    fields: dict[str, Any] = {k: {} for k in ("ids", "speakers", "labels", "text", "audio", "visual", "sent")}
    for vid, n in lengths.items():
        fields["ids"][vid] = [f"{vid}_{i:03d}" for i in range(n)]
        fields["speakers"][vid] = ["M", "F", "F", "M", "F"][:n]
        fields["labels"][vid] = [int(x) for x in rng.integers(0, 6, size=n)]
        text = rng.standard_normal((n, DIMS["text"]))
        fields["text"][vid] = text[None] if text_singleton else text
        fields["audio"][vid] = rng.standard_normal((n, DIMS["audio"])).astype(np.float32)
        fields["visual"][vid] = [list(row) for row in rng.standard_normal((n, DIMS["visual"]))]
        fields["sent"][vid] = ["hello there"] * n
    fields["train"] = ["Ses01F_impro01", "Ses01M_script02"]
    fields["test"] = ["Ses05F_impro03"]
    return fields


def _meld_fields(rng: np.random.Generator) -> dict[str, Any]:
    """Official-style MELD fields: integer dialogue ids, 9-dim one-hot speakers, 7 classes."""
    lengths = {0: 3, 1: 1, 2: 2, 1039: 4}
    fields: dict[str, Any] = {k: {} for k in ("ids", "speakers", "labels", "text", "audio", "visual", "sent")}
    for vid, n in lengths.items():
        fields["ids"][vid] = list(range(n))
        ids = rng.integers(0, 9, size=n)
        fields["speakers"][vid] = [list(np.eye(9, dtype=int)[s]) for s in ids]
        fields["labels"][vid] = [6, 0, 2, 1][:n]
        fields["text"][vid] = rng.standard_normal((n, DIMS["text"]))
        fields["audio"][vid] = rng.standard_normal((n, DIMS["audio"]))
        fields["visual"][vid] = rng.standard_normal((n, DIMS["visual"]))
        fields["sent"][vid] = ["Oh my God!"] * n
    fields["train"] = [0, 1, 2]
    fields["test"] = [1039]
    fields["trailing"] = {vid: [0] * n for vid, n in lengths.items()}  # e.g. sentiment labels
    return fields


def _write(path: Path, obj: Any) -> Path:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)
    return path


def _check_loaded(fs: FeatureSet, fields: dict[str, Any], *, squeeze: bool = False) -> None:
    assert [d.id for d in fs.train] == [str(v) for v in fields["train"]]
    assert [d.id for d in fs.test] == [str(v) for v in fields["test"]]
    assert fs.dev == []
    assert fs.modality_dims == DIMS
    for d in fs.train + fs.test:
        vid = next(v for v in fields["labels"] if str(v) == d.id)
        assert d.labels.tolist() == fields["labels"][vid]
        text = np.asarray(fields["text"][vid], dtype=np.float32)
        text = text[0] if squeeze else text
        np.testing.assert_allclose(d.features["text"].numpy(), text, rtol=1e-6)
        np.testing.assert_allclose(d.features["audio"].numpy(), np.asarray(fields["audio"][vid]), rtol=1e-6)
        np.testing.assert_allclose(d.features["visual"].numpy(), np.asarray(fields["visual"][vid]), rtol=1e-6)
        assert d.features["text"].dtype == torch.float32


def test_vega_layout_iemocap_squeezes_text_axis(tmp_path: Path) -> None:
    f = _iemocap_fields(np.random.default_rng(0), text_singleton=True)
    path = _write(
        tmp_path / "iemocap_vega.pkl",
        (f["speakers"], f["labels"], f["text"], f["audio"], f["visual"], f["train"], f["test"]),
    )
    fs = load_feature_pickle(path)
    assert fs.layout == "vega"
    assert fs.label_names == EMOTION_LABELS["iemocap"]
    assert fs.num_speakers == 2
    assert fs.source == str(path) and fs.synthetic is False
    _check_loaded(fs, f, squeeze=True)
    # official mapping: 'M' → 0, anything else → 1
    assert fs.train[0].speakers.tolist() == [0, 1, 1, 0]


def _dialoguernn_fields(f: dict) -> tuple:
    """The DialogueRNN/MMGCN 9-tuple (MELD appends one more field)."""
    return tuple(f[k] for k in ("ids", "speakers", "labels", "text", "audio", "visual", "sent", "train", "test"))


def test_dialoguernn_layout_python2_pickle_with_latin1_strings(tmp_path: Path) -> None:
    f = _iemocap_fields(np.random.default_rng(1), text_singleton=False)
    f["sent"]["Ses01F_impro01"][0] = "PLACEHOLDERX"
    data = pickle.dumps(
        _dialoguernn_fields(f),
        protocol=2,
    )
    # Turn the placeholder into a Python-2 byte string (SHORT_BINSTRING) with a non-ASCII byte, as
    # the DialogueRNN files hold: default unpickling (ASCII) fails, encoding="latin1" succeeds.
    unicode_op = b"X" + struct.pack("<I", 12) + b"PLACEHOLDERX"
    assert data.count(unicode_op) == 1
    data = data.replace(unicode_op, b"U" + bytes([4]) + b"caf\xe9")
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)
    path = tmp_path / "IEMOCAP_features.pkl"
    path.write_bytes(data)
    fs = load_feature_pickle(path)
    assert fs.layout == "dialoguernn"
    assert fs.label_names == EMOTION_LABELS["iemocap"]
    _check_loaded(fs, f)


def test_dialoguernn_layout_meld_ten_fields(tmp_path: Path) -> None:
    f = _meld_fields(np.random.default_rng(2))
    path = _write(
        tmp_path / "MELD_features.pkl",
        (*_dialoguernn_fields(f), f["trailing"]),
    )
    fs = load_feature_pickle(path)
    assert fs.layout == "dialoguernn"
    assert fs.label_names == EMOTION_LABELS["meld"]
    assert fs.num_speakers == 9
    _check_loaded(fs, f)
    for d in fs.train + fs.test:
        expected = np.argmax(np.asarray(f["speakers"][int(d.id)]), axis=1)
        assert d.speakers.tolist() == expected.tolist()
    assert fs.extras["trailing_field"] == f["trailing"]


def _sdt_record(f: dict[str, Any], rob: list[dict[str, Any]], meld: bool) -> tuple[Any, ...]:
    record = (
        f["ids"],
        f["speakers"],
        f["labels"],
        rob[0],
        rob[1],
        rob[2],
        rob[3],
        f["audio"],
        f["visual"],
        f["sent"],
        f["train"],
        f["test"],
    )
    return (*record, f["trailing"]) if meld else record


@pytest.mark.parametrize("meld", [False, True])
def test_sdt_layout_and_text_field_choice(tmp_path: Path, meld: bool) -> None:
    rng = np.random.default_rng(3)
    f = _meld_fields(rng) if meld else _iemocap_fields(rng, text_singleton=False)
    rob = [f["text"]] + [{vid: rng.standard_normal(np.shape(v)) for vid, v in f["text"].items()} for _ in range(3)]
    path = _write(tmp_path / "sdt.pkl", _sdt_record(f, rob, meld))
    fs = load_feature_pickle(path)
    assert fs.layout == "sdt"
    assert fs.label_names == EMOTION_LABELS["meld" if meld else "iemocap"]
    _check_loaded(fs, f)  # default: videoText (roberta1), as SDT itself uses

    vid = f["train"][0]
    stack = np.stack([np.asarray(r[vid], dtype=np.float32) for r in rob])
    fs3 = load_feature_pickle(path, text_field="roberta3")
    np.testing.assert_allclose(fs3.train[0].features["text"].numpy(), stack[2], rtol=1e-6)
    mean = load_feature_pickle(path, text_field="mean")
    np.testing.assert_allclose(mean.train[0].features["text"].numpy(), stack.mean(0), rtol=1e-5)
    concat = load_feature_pickle(path, text_field="concat")
    assert concat.modality_dims["text"] == 4 * DIMS["text"]
    np.testing.assert_allclose(concat.train[0].features["text"].numpy(), np.concatenate(list(stack), axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="text_field"):
        load_feature_pickle(path, text_field="roberta5")


def test_dataset_inference_from_audio_dim_and_explicit_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vids = ["a", "b"]
    speakers = {v: [[1, 0], [0, 1]] for v in vids}  # 2-dim one-hot: no hint by itself
    labels = {v: [0, 1] for v in vids}
    text = {v: rng.standard_normal((2, 3)) for v in vids}
    visual = {v: rng.standard_normal((2, 3)) for v in vids}
    audio = {v: rng.standard_normal((2, 1582)) for v in vids}
    path = _write(tmp_path / "x.pkl", (speakers, labels, text, audio, visual, ["a"], ["b"]))
    assert load_feature_pickle(path).label_names == EMOTION_LABELS["iemocap"]

    audio = {v: rng.standard_normal((2, 7)) for v in vids}
    path = _write(tmp_path / "y.pkl", (speakers, labels, text, audio, visual, ["a"], ["b"]))
    with pytest.raises(ValueError, match="pass dataset="):
        load_feature_pickle(path)
    assert load_feature_pickle(path, dataset="meld").label_names == EMOTION_LABELS["meld"]
    custom = load_feature_pickle(path, label_names=["calm", "upset"])
    assert custom.label_names == ("calm", "upset")
    assert custom.dataset is None
    with pytest.raises(ValueError, match="unknown dataset"):
        load_feature_pickle(path, dataset="emorynlp")


def test_label_out_of_range_for_dataset(tmp_path: Path) -> None:
    f = _iemocap_fields(np.random.default_rng(5), text_singleton=False)
    f["labels"]["Ses01F_impro01"][0] = 6
    path = _write(
        tmp_path / "bad.pkl",
        (f["speakers"], f["labels"], f["text"], f["audio"], f["visual"], f["train"], f["test"]),
    )
    with pytest.raises(ValueError, match="label id 6"):
        load_feature_pickle(path, dataset="iemocap")


def test_unknown_layout_error_says_what_was_found(tmp_path: Path) -> None:
    path = _write(tmp_path / "odd.pkl", ({"a": np.zeros((2, 3))}, [1, 2], "x"))
    with pytest.raises(ValueError) as info:
        load_feature_pickle(path)
    message = str(info.value)
    assert "matches no known feature layout" in message
    assert "tuple of 3 fields" in message
    assert "field 0: dict of 1" in message and "ndarray shape (2, 3)" in message
    assert "field 2: str" in message
    assert "7 fields → vega" in message

    path = _write(tmp_path / "dict.pkl", {"train": 1})
    with pytest.raises(ValueError, match="a dict with keys"):
        load_feature_pickle(path)
    # right length, but a test id missing from the dicts
    f = _iemocap_fields(np.random.default_rng(6), text_singleton=False)
    path = _write(
        tmp_path / "missing.pkl",
        (f["speakers"], f["labels"], f["text"], f["audio"], f["visual"], f["train"], ["nope"]),
    )
    with pytest.raises(ValueError, match="no known feature layout"):
        load_feature_pickle(path)
    with pytest.raises(FileNotFoundError):
        load_feature_pickle(tmp_path / "absent.pkl")


def test_inconsistent_dialogue_is_named(tmp_path: Path) -> None:
    f = _iemocap_fields(np.random.default_rng(7), text_singleton=False)
    f["audio"]["Ses01M_script02"] = np.zeros((2, DIMS["audio"]))  # 2 rows for 3 utterances
    path = _write(
        tmp_path / "bad.pkl",
        (f["speakers"], f["labels"], f["text"], f["audio"], f["visual"], f["train"], f["test"]),
    )
    with pytest.raises(ValueError, match="'Ses01M_script02': audio features have 2 rows"):
        load_feature_pickle(path)


def test_trust_warning_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = _iemocap_fields(np.random.default_rng(8), text_singleton=False)
    path = _write(
        tmp_path / "w.pkl",
        (f["speakers"], f["labels"], f["text"], f["audio"], f["visual"], f["train"], f["test"]),
    )
    with caplog.at_level(logging.WARNING, logger="vega_anchors.official.pickles"):
        load_feature_pickle(path)
    assert any("only trusted files" in r.getMessage() for r in caplog.records)


def _assert_same(a: FeatureSet, b: FeatureSet) -> None:
    assert [d.id for d in a.train] == [d.id for d in b.train]
    assert [d.id for d in a.test] == [d.id for d in b.test]
    assert a.label_names == b.label_names
    assert a.num_speakers == b.num_speakers
    assert a.modality_dims == b.modality_dims
    for x, y in zip(a.train + a.test, b.train + b.test, strict=True):
        assert x.speakers.tolist() == y.speakers.tolist()
        assert x.labels.tolist() == y.labels.tolist()
        for name in x.features:
            torch.testing.assert_close(x.features[name], y.features[name])


@pytest.mark.parametrize("layout", ["vega", "dialoguernn", "sdt"])
@pytest.mark.parametrize("preset", ["iemocap", "meld"])
def test_save_load_round_trip(tmp_path: Path, layout: str, preset: str) -> None:
    original = synthetic_dialogues(preset, seed=1, modality_dims=DIMS, num_train=6, num_test=3)
    path = save_feature_pickle(original, tmp_path / f"{preset}_{layout}.pkl", layout=layout)
    loaded = load_feature_pickle(path)  # dataset inferred from the written file
    assert loaded.layout == layout
    _assert_same(original, loaded)

    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    expected_len = {"vega": 7, "dialoguernn": 9, "sdt": 12}[layout] + (preset == "meld" and layout != "vega")
    assert len(raw) == expected_len
    speakers = raw[0 if layout == "vega" else 1]
    first = next(iter(speakers.values()))
    if preset == "iemocap":
        assert set(first) <= {"M", "F"}
        text = raw[2 if layout == "vega" else 3]
        assert next(iter(text.values())).ndim == (3 if layout == "vega" else 2)
    else:
        assert len(first[0]) == 9 and sum(first[0]) == 1
    again = save_feature_pickle(loaded, tmp_path / "again.pkl", layout=layout)
    _assert_same(original, load_feature_pickle(again))


def test_save_folds_dev_into_train_and_rejects_bad_sets(tmp_path: Path) -> None:
    fs = synthetic_dialogues("iemocap", modality_dims=DIMS, num_train=4, num_test=2)
    fs.dev = fs.train[:1]
    fs.train = fs.train[1:]
    loaded = load_feature_pickle(save_feature_pickle(fs, tmp_path / "f.pkl"))
    assert [d.id for d in loaded.train] == [d.id for d in fs.train + fs.dev]

    odd = synthetic_dialogues("iemocap", modality_dims={"text": 3, "audio": 2}, num_train=2, num_test=1)
    with pytest.raises(ValueError, match="exactly the modalities"):
        save_feature_pickle(odd, tmp_path / "g.pkl")
    with pytest.raises(ValueError, match="layout must be one of"):
        save_feature_pickle(fs, tmp_path / "g.pkl", layout="hdf5")
    meld = synthetic_dialogues("meld", modality_dims=DIMS, num_train=3, num_test=1)
    with pytest.raises(ValueError, match="holds 2 speakers"):
        save_feature_pickle(meld, tmp_path / "g.pkl", speaker_format="letters")
    assert not (tmp_path / "g.pkl").exists()


def test_summary_mentions_splits_and_classes(tmp_path: Path) -> None:
    fs = synthetic_dialogues("iemocap", modality_dims=DIMS, num_train=4, num_test=2)
    text = fs.summary()
    assert "train: 4 dialogues" in text and "test: 2 dialogues" in text and "dev: empty" in text
    assert "happy" in text and "text 6" in text
