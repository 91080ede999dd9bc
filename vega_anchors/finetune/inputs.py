"""Fine-tuning inputs: each utterance with its speaker-tagged neighbouring turns, as token ids.

One input per utterance::

    [CLS] target [SEP] past_1 | past_2 | ... [SEP] future_1 | future_2 ... [SEP]

(the tokenizer's own pair format: ``<s> A </s></s> B </s>`` for RoBERTa). ``target`` is
``"Speaker: text"`` (the bare text when there is no context at all, as ``build-features --context 0``
reads it); past turns come most recent first, then, after a ``[SEP]``, the future turns nearest first.
The target is tokenized first and is never cut (unless it alone exceeds ``max_length``, which is
logged); the remaining budget is filled with the nearest turns, alternating past and future by
distance, and the first turn that does not fit whole is cut on its far side. Only the target's span
(``[CLS] target [SEP]``, the first ``target_length`` tokens) is pooled, so a row describes its utterance.

Batches are length-bucketed (:func:`length_batches`) and padded to their longest input
(:func:`collate`); ``pad_to`` pads to a fixed length instead (the slower baseline of the benchmark).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from ..data.tables import RawDialogue

logger = logging.getLogger(__name__)

__all__ = ["CONTEXT_JOIN", "UtteranceInput", "collate", "dialogue_inputs", "length_batches", "turn_lines"]

CONTEXT_JOIN = " | "
"""Joins neighbouring turns inside the context (as ``build-features --context K`` does)."""


class UtteranceInput(NamedTuple):
    """One utterance, ready for the encoder.

    Attributes:
        input_ids: ``[L]`` token ids, special tokens included (``L <= max_length``).
        token_type_ids: ``[L]`` segment ids, or ``None`` when the tokenizer has none (RoBERTa).
        target_length: the first ``target_length`` tokens are ``[CLS] target [SEP]``, the pooled span.
        label: class id (``-1``: unlabelled).
        past_turns: preceding turns that made it in (whole or cut).
        future_turns: following turns that made it in.
        target_cut: the utterance alone exceeded ``max_length`` and was cut.
    """

    input_ids: list[int]
    token_type_ids: list[int] | None
    target_length: int
    label: int
    past_turns: int
    future_turns: int
    target_cut: bool


def turn_lines(dialogue: RawDialogue, *, tagged: bool = True) -> list[str]:
    """``"Speaker: text"`` for each turn (the bare text when ``tagged`` is false or there is no speaker)."""
    if not tagged:
        return list(dialogue.texts)
    return [f"{s}: {t}" if s else t for s, t in zip(dialogue.speakers, dialogue.texts, strict=True)]


def _neighbours(i: int, length: int, past: int, future: int) -> list[tuple[str, int]]:
    """``("past"|"future", turn index)`` nearest first, past before future at equal distance."""
    out = []
    for d in range(1, max(past, future) + 1):
        if d <= past and i - d >= 0:
            out.append(("past", i - d))
        if d <= future and i + d < length:
            out.append(("future", i + d))
    return out


def _fill_context(
    ids: Sequence[list[int]], i: int, past: int, future: int, budget: int, join: list[int], marker: list[int]
) -> tuple[list[int], int, int]:
    """The context token ids around turn ``i`` within ``budget`` tokens: ``(ids, past kept, future kept)``."""
    sides: dict[str, list[list[int]]] = {"past": [], "future": []}
    used = 0
    for side, j in _neighbours(i, len(ids), past, future):
        overhead = len(join) if sides[side] else (len(marker) if side == "future" else 0)
        room = budget - used - overhead
        if room <= 0:
            break
        turn = ids[j]
        if len(turn) > room:  # cut the far side: the past turn's start, the future turn's end
            sides[side].append(turn[len(turn) - room :] if side == "past" else turn[:room])
            break
        sides[side].append(list(turn))
        used += overhead + len(turn)
    context: list[int] = []
    for n, turn in enumerate(sides["past"]):
        context += (join if n else []) + turn
    for n, turn in enumerate(sides["future"]):
        context += (join if n else marker) + turn
    return context, len(sides["past"]), len(sides["future"])


class _Template(NamedTuple):
    """Where a tokenizer puts its special tokens: ``prefix A mid B suffix`` (pair) or ``single[0] A single[1]``,
    and the segment ids of the two parts (``None``: the tokenizer has none)."""

    single: tuple[list[int], list[int]]
    pair: tuple[list[int], list[int], list[int]]
    types: tuple[int, int] | None

    def build(self, target: list[int], context: list[int]) -> tuple[list[int], list[int] | None]:
        if not context:
            ids = self.single[0] + target + self.single[1]
            return ids, ([self.types[0]] * len(ids) if self.types else None)
        prefix, mid, suffix = self.pair
        first = len(prefix) + len(target) + len(mid)
        ids = prefix + target + mid + context + suffix
        return ids, ([self.types[0]] * first + [self.types[1]] * (len(ids) - first) if self.types else None)


def _find(ids: list[int], part: list[int], start: int = 0) -> int:
    for i in range(start, len(ids) - len(part) + 1):
        if ids[i : i + len(part)] == part:
            return i
    raise ValueError("cannot locate the special-token layout of this tokenizer")


def _template(tokenizer: Any) -> _Template:
    """Read the tokenizer's special-token layout off two probe strings (works for every backend)."""
    a = tokenizer("a", add_special_tokens=False)["input_ids"]
    b = tokenizer("b", add_special_tokens=False)["input_ids"]
    single = tokenizer("a")["input_ids"]
    i = _find(single, a)
    pair = tokenizer("a", "b")
    ids = pair["input_ids"]
    ia = _find(ids, a)
    ib = _find(ids, b, ia + len(a))
    types = pair.get("token_type_ids") if "token_type_ids" in getattr(tokenizer, "model_input_names", ()) else None
    return _Template(
        (single[:i], single[i + len(a) :]),
        (ids[:ia], ids[ia + len(a) : ib], ids[ib + len(b) :]),
        (int(types[0]), int(types[ib])) if types else None,
    )


def _marker(tokenizer: Any) -> list[int]:
    """Token ids that separate past from future turns: the tokenizer's separator."""
    sep = getattr(tokenizer, "sep_token_id", None)
    return [int(sep)] if sep is not None else tokenizer(CONTEXT_JOIN, add_special_tokens=False)["input_ids"]


def dialogue_inputs(
    dialogue: RawDialogue, tokenizer: Any, *, context: int = 0, future_context: int = 0, max_length: int = 128
) -> list[UtteranceInput]:
    """One :class:`UtteranceInput` per utterance of ``dialogue`` (layout in the module docstring).

    Args:
        dialogue: the conversation.
        tokenizer: a Hugging Face tokenizer.
        context: preceding turns ``K`` read with each utterance.
        future_context: following turns read with each utterance.
        max_length: tokens per input, special tokens included.
    """
    if context < 0 or future_context < 0:
        raise ValueError(f"context and future_context must be >= 0, got {context} and {future_context}")
    with_context = context > 0 or future_context > 0
    ids = [tokenizer(line, add_special_tokens=False)["input_ids"] for line in turn_lines(dialogue, tagged=with_context)]
    template = _template(tokenizer)
    single = len(template.single[0]) + len(template.single[1])
    pair = sum(len(part) for part in template.pair)
    join = tokenizer(CONTEXT_JOIN, add_special_tokens=False)["input_ids"]
    marker = _marker(tokenizer)
    out = []
    for i, target in enumerate(ids):
        cut = len(target) > max_length - single
        target = target[: max_length - single]
        ctx, kept_past, kept_future = [], 0, 0
        if with_context:
            budget = max_length - pair - len(target)
            ctx, kept_past, kept_future = _fill_context(ids, i, context, future_context, budget, join, marker)
        input_ids, types = template.build(target, ctx)
        label = dialogue.labels[i] if i < len(dialogue.labels) else -1
        out.append(UtteranceInput(input_ids, types, single + len(target), int(label), kept_past, kept_future, cut))
    if any(u.target_cut for u in out):
        logger.warning("dialogue %s: %d utterance(s) longer than max_length=%d were cut", dialogue.id,
                       sum(u.target_cut for u in out), max_length)  # fmt: skip
    return out


def length_batches(
    lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, seed: int = 0, pool: int = 50
) -> list[list[int]]:
    """Index batches of similar lengths.

    Shuffled (training): indices are shuffled, cut into pools of ``batch_size × pool``, each pool is
    sorted by length and cut into batches, and the batch order is shuffled. Not shuffled
    (evaluation): all indices sorted by length, longest first.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    lengths = np.asarray(lengths)
    if not shuffle:
        order = np.argsort(-lengths, kind="stable")
        return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = order[start : start + batch_size * pool]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(
    items: Sequence[UtteranceInput], pad_id: int, *, pad_to: int | None = None, device: Any = "cpu"
) -> dict[str, torch.Tensor]:
    """Pad ``items`` to their longest input (or to ``pad_to``).

    Returns:
        ``input_ids``, ``attention_mask``, ``target_mask`` (1 on the pooled span), ``token_type_ids``
        (when the items have them): ``[B, L]`` long; ``labels``: ``[B]``.
    """
    width = pad_to if pad_to is not None else max(len(u.input_ids) for u in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    target = torch.zeros((len(items), width), dtype=torch.long)
    types = torch.zeros((len(items), width), dtype=torch.long) if items[0].token_type_ids is not None else None
    for row, u in enumerate(items):
        n = len(u.input_ids)
        ids[row, :n] = torch.tensor(u.input_ids)
        attention[row, :n] = 1
        target[row, : u.target_length] = 1
        if types is not None and u.token_type_ids is not None:
            types[row, :n] = torch.tensor(u.token_type_ids)
    batch = {"input_ids": ids, "attention_mask": attention, "target_mask": target}
    if types is not None:
        batch["token_type_ids"] = types
    batch["labels"] = torch.tensor([u.label for u in items], dtype=torch.long)
    return {k: v.to(device) for k, v in batch.items()}
