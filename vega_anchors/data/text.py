"""Utterance text → ``[T, D]`` features with a sentence encoder, cached on disk.

The encoders (any :class:`~vega_anchors.encoders.TextEncoder`, e.g. from
:func:`~vega_anchors.encoders.load_text_encoder`) live in :mod:`vega_anchors.encoders`.
Embeddings are cached on disk by :func:`~vega_anchors.encoders.embed_texts`.

.. note::
    Sentence embeddings are often unit-norm (all-MiniLM-L6-v2: 384-d, per-dim RMS ≈ 0.05), ~40×
    smaller than the position and speaker embeddings :class:`~vega_anchors.DualBranchVEGA` adds
    to them. Train with ``VEGAConfig(input_norm="standardize")``; ``vega-anchors inspect-features``
    warns about such scales.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..encoders.embed import CONTEXT_JOIN, embed_texts
from ..encoders.text import TextEncoder
from .tables import DialogueTable, RawDialogue

logger = logging.getLogger(__name__)

__all__ = ["context_inputs", "embed_tables"]

def context_inputs(dialogue: RawDialogue, context: int) -> tuple[list[str], list[str]]:
    """The (target, context) strings of every utterance of ``dialogue``, for ``context`` preceding turns.

    With ``context=0`` the targets are the bare utterances and the contexts are empty (the features
    of a context-free build, unchanged). With ``context=K > 0`` each target is ``"Speaker: text"``
    and its context is the K preceding turns, **most recent first**, each ``"Speaker: text"``,
    joined by :data:`CONTEXT_JOIN` (``" | "``); the first utterance has an empty context. The
    most-recent-first order lets truncation drop the oldest turns. A table without speakers gives
    bare texts.

    Returns:
        ``(targets, contexts)``, ``T`` strings each.
    """
    if context < 0:
        raise ValueError(f"context must be >= 0 preceding turns, got {context}")
    if context == 0:
        return list(dialogue.texts), [""] * dialogue.length
    lines = [f"{s}: {t}" if s else t for s, t in zip(dialogue.speakers, dialogue.texts, strict=True)]
    contexts = [CONTEXT_JOIN.join(reversed(lines[max(0, i - context) : i])) for i in range(dialogue.length)]
    return lines, contexts


def embed_tables(
    tables: Mapping[str, DialogueTable] | DialogueTable,
    encoder: TextEncoder,
    *,
    batch_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    context: int = 0,
    shard: tuple[int, int] | None = None,
) -> Any:
    """Embed every utterance of one table, or of each split of ``{"train": table, ...}``.

    ``context=K`` encodes each utterance with its K preceding turns and the speaker names
    (:func:`context_inputs`); the cache key covers them. ``shard=(rank, world)``: this process only
    encodes its share of the batches into ``cache_dir`` and returns empty dicts
    (:func:`~vega_anchors.encoders.embed_texts`); a call without ``shard`` then assembles the result.

    Returns {dialogue id → ``[T, D]`` float32} for one table, or ``{split: {dialogue id → [T, D]}}``
    for a mapping — the ``features`` argument of :func:`~vega_anchors.data.tables.build_feature_set`.
    """
    if isinstance(tables, DialogueTable):
        return _embed_table(tables, encoder, batch_size, cache_dir, progress, "embedding", context, shard)
    return {
        split: _embed_table(table, encoder, batch_size, cache_dir, progress, f"embedding {split}", context, shard)
        for split, table in tables.items()
    }


def _embed_table(
    table: DialogueTable,
    encoder: TextEncoder,
    batch_size: int,
    cache_dir: str | os.PathLike[str] | None,
    progress: bool,
    desc: str,
    context: int = 0,
    shard: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    if context:
        pairs = [context_inputs(d, context) for d in table.dialogues]
        texts = [t for targets, _ in pairs for t in targets]
        contexts: list[str] | None = [c for _, cs in pairs for c in cs]
    else:
        texts, contexts = table.texts(), None
    rows = embed_texts(
        texts, encoder, batch_size=batch_size, cache_dir=cache_dir, progress=progress, desc=desc, contexts=contexts,
        shard=shard,
    )  # fmt: skip
    if shard is not None:
        return {}
    out: dict[str, np.ndarray] = {}
    start = 0
    for dialogue in table.dialogues:
        out[dialogue.id] = rows[start : start + dialogue.length]
        start += dialogue.length
    return out
