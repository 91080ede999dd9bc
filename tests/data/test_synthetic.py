"""Synthetic dialogues: shapes like the real sets, determinism, and a learnable context signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from vega_anchors.data import FeatureSet, synthetic_dialogues
from vega_anchors.labels import EMOTION_LABELS

SMALL = {"text": 24, "audio": 16, "visual": 8}


def _utterances(dialogues: list) -> int:
    return sum(d.length for d in dialogues)


def _labels(fs: FeatureSet) -> np.ndarray:
    return np.concatenate([d.labels.numpy() for d in fs.train + fs.test])


def test_iemocap_preset_shape() -> None:
    fs = synthetic_dialogues("iemocap", seed=0)
    assert fs.synthetic and fs.source == "synthetic" and fs.layout == "synthetic"
    assert (len(fs.train), len(fs.test), len(fs.dev)) == (120, 31, 0)
    assert (_utterances(fs.train), _utterances(fs.test)) == (5810, 1623)
    lengths = [d.length for d in fs.train + fs.test]
    assert min(lengths) >= 8 and max(lengths) <= 110
    assert fs.modality_dims == {"text": 1024, "audio": 1582, "visual": 342}
    assert fs.train[0].features["audio"].shape == (fs.train[0].length, 1582)
    assert fs.train[0].features["text"].dtype == torch.float32
    assert fs.num_speakers == 2 and fs.label_names == EMOTION_LABELS["iemocap"]
    speakers = torch.cat([d.speakers for d in fs.train])
    assert set(speakers.tolist()) == {0, 1}
    freq = np.bincount(_labels(fs), minlength=6) / len(_labels(fs))
    real = np.array([648, 1084, 1708, 1103, 1041, 1849]) / 7433
    assert np.all(freq > 0.03)
    assert np.abs(freq - real).max() < 0.06
    assert freq.argmax() in (2, 5)  # neutral / frustration lead, as in IEMOCAP


def test_meld_preset_shape() -> None:
    fs = synthetic_dialogues("meld", seed=0, modality_dims=SMALL)
    assert (len(fs.train), len(fs.test)) == (1153, 280)
    assert abs(_utterances(fs.train) / 1153 - 9.6) < 0.1
    lengths = [d.length for d in fs.train + fs.test]
    assert min(lengths) == 1 and max(lengths) <= 24
    assert fs.num_speakers == 9 and fs.label_names == EMOTION_LABELS["meld"]
    assert max(int(d.speakers.max()) for d in fs.train) <= 8
    freq = np.bincount(_labels(fs), minlength=7) / len(_labels(fs))
    assert freq.argmax() == 0 and 0.35 < freq[0] < 0.6  # neutral-heavy
    assert np.all(freq > 0.01)
    assert synthetic_dialogues("meld", modality_dims=SMALL, num_train=2).modality_dims == SMALL
    full = synthetic_dialogues("meld", num_train=3, num_test=1)
    assert full.modality_dims == {"text": 1024, "audio": 300, "visual": 342}


def test_deterministic_per_seed() -> None:
    a = synthetic_dialogues("iemocap", seed=3, modality_dims=SMALL, num_train=5, num_test=2)
    b = synthetic_dialogues("iemocap", seed=3, modality_dims=SMALL, num_train=5, num_test=2)
    c = synthetic_dialogues("iemocap", seed=4, modality_dims=SMALL, num_train=5, num_test=2)
    for x, y in zip(a.train + a.test, b.train + b.test, strict=True):
        assert x.id == y.id
        assert torch.equal(x.labels, y.labels) and torch.equal(x.speakers, y.speakers)
        for name in SMALL:
            assert torch.equal(x.features[name], y.features[name])
    assert not torch.equal(a.train[0].features["text"][:1], c.train[0].features["text"][:1])


def test_counts_scale_and_any_modality_names() -> None:
    fs = synthetic_dialogues("iemocap", modality_dims={"eeg": 5}, num_train=10, num_test=0)
    assert len(fs.train) == 10 and fs.test == []
    assert abs(_utterances(fs.train) - round(5810 * 10 / 120)) <= 0
    assert set(fs.train[0].features) == {"eeg"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "emorynlp"}, "unknown preset"),
        ({"modality_dims": {}}, "modality_dims"),
        ({"num_train": -1}, "num_train"),
        ({"weak_fraction": 2.0}, "weak_fraction"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthetic_dialogues(**kwargs)


def _design(dialogues: list, context: bool) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for d in dialogues:
        x = torch.cat([d.features[k] for k in sorted(d.features)], dim=1).numpy()
        if context:  # add the mean of the previous and next utterance
            prev = np.vstack([x[:1], x[:-1]])
            nxt = np.vstack([x[1:], x[-1:]])
            x = np.hstack([x, (prev + nxt) / 2])
        xs.append(x)
        ys.append(d.labels.numpy())
    return np.vstack(xs), np.concatenate(ys)


@pytest.mark.parametrize("preset", ["iemocap", "meld"])
def test_signal_is_learnable_and_context_helps(preset: str) -> None:
    sizes = {"iemocap": (40, 31), "meld": (300, 280)}[preset]
    fs = synthetic_dialogues(preset, seed=0, modality_dims=SMALL, num_train=sizes[0], num_test=sizes[1])
    scores = {}
    for context in (False, True):
        x, y = _design(fs.train, context)
        xt, yt = _design(fs.test, context)
        with threadpool_limits(1):  # BLAS threads only slow a fit this small
            clf = LogisticRegression(max_iter=200, C=0.1).fit(x, y)
        scores[context] = float((clf.predict(xt) == yt).mean())
    majority = np.bincount(yt).max() / len(yt)
    assert scores[False] > majority + 0.15
    assert scores[True] > scores[False] + 0.02


def test_zero_signal_is_not_learnable() -> None:
    fs = synthetic_dialogues("iemocap", seed=0, modality_dims=SMALL, signal=0.0, num_train=40)
    x, y = _design(fs.train, False)
    xt, yt = _design(fs.test, False)
    with threadpool_limits(1):
        acc = float((LogisticRegression(max_iter=300).fit(x, y).predict(xt) == yt).mean())
    assert acc < np.bincount(yt).max() / len(yt) + 0.05
