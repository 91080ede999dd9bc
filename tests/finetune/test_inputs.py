"""Context assembly: speaker-tagged neighbours, nearest first; truncation cuts context, never the utterance."""

from __future__ import annotations

from pathlib import Path

from finetune_helpers import dialogue

from vega_anchors.finetune import collate, dialogue_inputs, length_batches, load_tokenizer


def _decode(tok, ids):
    return tok.convert_ids_to_tokens(ids)


def test_no_context_is_the_bare_utterance(tiny_bert: Path) -> None:
    tok = load_tokenizer(tiny_bert)
    items = dialogue_inputs(dialogue(["good yes.", "bad no."]), tok)
    assert _decode(tok, items[1].input_ids) == ["[CLS]", "bad", "no", ".", "[SEP]"]
    assert items[1].target_length == 5 and items[1].token_type_ids == [0] * 5
    assert (items[1].past_turns, items[1].future_turns) == (0, 0)


def test_past_turns_are_tagged_and_most_recent_first(tiny_bert: Path) -> None:
    tok = load_tokenizer(tiny_bert)
    items = dialogue_inputs(dialogue(["good.", "bad.", "wow."]), tok, context=2)
    assert _decode(tok, items[2].input_ids) == [
        "[CLS]", "ann", ":", "wow", ".", "[SEP]", "bob", ":", "bad", ".", "|", "ann", ":", "good", ".", "[SEP]",
    ]  # fmt: skip
    assert items[2].target_length == 6 and items[2].past_turns == 2
    assert items[2].token_type_ids == [0] * 6 + [1] * 10
    assert _decode(tok, items[0].input_ids) == ["[CLS]", "ann", ":", "good", ".", "[SEP]"]  # no context: no pair


def test_future_turns_follow_a_separator(tiny_bert: Path) -> None:
    tok = load_tokenizer(tiny_bert)
    items = dialogue_inputs(dialogue(["good.", "bad.", "wow.", "no."]), tok, context=1, future_context=2)
    assert _decode(tok, items[1].input_ids) == [
        "[CLS]", "bob", ":", "bad", ".", "[SEP]", "ann", ":", "good", ".",
        "[SEP]", "ann", ":", "wow", ".", "|", "bob", ":", "no", ".", "[SEP]",
    ]  # fmt: skip
    assert (items[1].past_turns, items[1].future_turns) == (1, 2)


def test_truncation_cuts_context_never_the_utterance(tiny_bert: Path) -> None:
    tok = load_tokenizer(tiny_bert)
    long = "good " * 10 + "."
    items = dialogue_inputs(dialogue([long, "yes no.", long]), tok, context=2, future_context=2, max_length=20)
    target = items[1]
    tokens = _decode(tok, target.input_ids)
    assert len(tokens) == 20 and tokens[:6] == ["[CLS]", "bob", ":", "yes", "no", "."]
    assert tokens[6] == "[SEP]" and target.target_length == 7 and not target.target_cut
    # the nearest turn (past 1) fills the budget and is cut on its far side: its end is kept
    assert tokens[7:] == [":"] + ["good"] * 10 + [".", "[SEP]"]  # "ann : good x10 ." lost "ann"
    assert target.past_turns == 1 and target.future_turns == 0
    first = items[0]  # a 13-token utterance is kept whole, the context gets what is left
    assert _decode(tok, first.input_ids)[: first.target_length][-3:] == ["good", ".", "[SEP]"]
    assert first.target_length == 2 + 13 and not first.target_cut


def test_an_utterance_longer_than_max_length_is_cut_and_flagged(tiny_bert: Path) -> None:
    tok = load_tokenizer(tiny_bert)
    items = dialogue_inputs(dialogue(["good " * 30]), tok, context=2, max_length=12)
    assert items[0].target_cut and len(items[0].input_ids) == 12 and items[0].target_length == 12


def test_length_batches_group_similar_lengths_and_cover_every_index() -> None:
    lengths = [5, 50, 6, 49, 7, 48, 8, 47]
    batches = length_batches(lengths, 2, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(abs(lengths[b[0]] - lengths[b[-1]]) <= 2 for b in batches)
    assert length_batches(lengths, 3, shuffle=False) == [[1, 3, 5], [7, 6, 4], [2, 0]]


def test_collate_pads_to_the_longest_or_a_fixed_length(tiny_bert: Path) -> None:
    tok = load_tokenizer(tiny_bert)
    items = dialogue_inputs(dialogue(["good.", "bad no yes."]), tok, context=1)
    batch = collate(items, 0)
    assert batch["input_ids"].shape == (2, len(items[1].input_ids))
    assert batch["attention_mask"].sum(1).tolist() == [len(u.input_ids) for u in items]
    assert batch["target_mask"].sum(1).tolist() == [u.target_length for u in items]
    assert collate(items, 0, pad_to=32)["input_ids"].shape == (2, 32)
