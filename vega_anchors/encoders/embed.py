"""Strings → ``[N, D]`` embeddings with any :class:`~vega_anchors.encoders.TextEncoder`, batched by
length, duplicates encoded once, cached on disk.

Embeddings are cached per (model, texts): a second call with the same texts reads
``cache_dir/<model>-<hash>.npy`` instead of running the encoder. Cache files are written
atomically and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write
from .text import TextEncoder

logger = logging.getLogger(__name__)

__all__ = ["CONTEXT_JOIN", "cache_key", "embed_texts"]

CONTEXT_JOIN = " | "
"""Joins the context turns of :func:`context_inputs` (and, for encoders without pair input, the target
and its context)."""

def _encode_with_context(encoder: TextEncoder, texts: Sequence[str], contexts: Sequence[str]) -> np.ndarray:
    """Encoders with ``encode_pairs`` (:class:`HFTextEncoder`) get (target, context) pairs; any other
    encoder gets one string, ``target | context``."""
    pairs = getattr(encoder, "encode_pairs", None)
    if pairs is not None:
        return np.asarray(pairs(texts, contexts), dtype=np.float32)
    joined = [f"{t}{CONTEXT_JOIN}{c}" if c else t for t, c in zip(texts, contexts, strict=True)]
    return np.asarray(encoder.encode(joined), dtype=np.float32)


# ---------------------------------------------------------------------------------------------- embedding


def _slug(identity: str) -> str:
    """A readable file-name prefix: the model's last two path components (``org_model``)."""
    first = identity.splitlines()[1] if "\n" in identity else identity
    name = "_".join(Path(first).parts[-2:]) or first
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[-48:] or "encoder"


def cache_key(identity: str, texts: Sequence[str]) -> str:
    """SHA-256 over the encoder identity and the texts (length-prefixed, so no two lists collide)."""
    digest = hashlib.sha256()
    digest.update(identity.encode("utf-8"))
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _clean_contexts(texts: Sequence[str], contexts: Sequence[str] | None) -> list[str] | None:
    """``contexts`` as strings, checked to be one per text; ``None`` when there are none or all are empty."""
    if contexts is None:
        return None
    contexts = [str(c) for c in contexts]
    if len(contexts) != len(texts):
        raise ValueError(f"{len(contexts)} contexts for {len(texts)} texts; give one context per text")
    return contexts if any(contexts) else None


def _cache_path(
    encoder: TextEncoder, keys: Sequence[str], contexts: Sequence[str] | None, cache_dir: str | os.PathLike[str]
) -> Path:
    """``cache_dir/<model>-<sha256(identity, keys)[:20]>.npy``; with contexts, how pairs are read is in the key."""
    identity = encoder.identity
    if contexts is not None:  # how pairs are read is part of the key
        pairs = "pairs" if hasattr(encoder, "encode_pairs") else "joined"
        identity += f"\ncontext={pairs}:{getattr(encoder, 'context_max_length', '')}"
    key = cache_key(identity, keys)
    return Path(cache_dir) / f"{_slug(encoder.identity)}-{key[:20]}.npy"


def _read_cache(cache_file: Path, count: int) -> np.ndarray | None:
    """The cached ``[count, D]`` embeddings in ``cache_file``, or ``None`` (absent, unreadable or mis-shaped)."""
    if not cache_file.is_file():
        return None
    try:
        cached = np.load(cache_file, allow_pickle=False)
    except (OSError, ValueError) as err:
        logger.warning("ignoring unreadable embedding cache %s (%s)", cache_file, err)
        return None
    if cached.ndim == 2 and cached.shape[0] == count:
        logger.info("embedding cache hit: %s (%d texts)", cache_file, count)
        return cached.astype(np.float32, copy=False)
    logger.warning("ignoring embedding cache %s: shape %s for %d texts", cache_file, cached.shape, count)
    return None


def _read_partial(partial: Path | None, count: int) -> tuple[np.ndarray | None, np.ndarray]:
    """``(rows, done)`` of an interrupted run's partial cache: ``[count, D]`` rows and the ``[count]`` bool
    mask of those encoded; ``(None, all False)`` when absent or unusable."""
    done = np.zeros(count, dtype=bool)
    if partial is None or not partial.is_file():
        return None, done
    try:
        with np.load(partial, allow_pickle=False) as data:
            rows, mask = data["rows"].astype(np.float32), data["done"].astype(bool)
    except (OSError, ValueError, KeyError) as err:
        logger.warning("ignoring unreadable partial embedding cache %s (%s)", partial, err)
        return None, done
    if rows.ndim != 2 or rows.shape[0] != count or mask.shape != (count,):
        return None, done
    logger.info("continuing from %s: %d of %d texts already encoded", partial, int(mask.sum()), count)
    return rows, mask


def _write_partial(partial: Path, table: np.ndarray, done: np.ndarray) -> None:
    """Keep the batches encoded so far (atomically), for a re-run to continue from."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, rows=table, done=done)

    atomic_write(partial, write)
    logger.warning("interrupted: kept %d of %d encoded texts in %s", int(done.sum()), len(done), partial)


def _encode_chunk(unique: Sequence[str], chunk: Sequence[int], encoder: TextEncoder, pairs: bool) -> np.ndarray:
    """``[len(chunk), D]``: one encoder batch of the keys ``unique[chunk]`` (``text\\x00context`` with ``pairs``)."""
    if not pairs:
        out = np.asarray(encoder.encode([unique[i] for i in chunk]), dtype=np.float32)
    else:
        split = [unique[i].split("\x00", 1) for i in chunk]
        out = _encode_with_context(encoder, [a for a, _ in split], [b for _, b in split])
    if out.ndim != 2 or out.shape[0] != len(chunk):
        raise ValueError(f"encoder returned shape {out.shape} for {len(chunk)} texts; expected [N, D]")
    return out


def _batches(unique: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices of ``unique`` in encoder batches: sorted by length (similar lengths share a batch), cut every
    ``batch_size``. The same list on every rank, so a shared build encodes the batches one process would."""
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _encode_batches(
    unique: Sequence[str],
    encoder: TextEncoder,
    *,
    pairs: bool,
    batch_size: int,
    progress: bool,
    desc: str,
    parts: Path,
    shard: tuple[int, int] | None,
) -> np.ndarray | None:
    """The batches of a build shared by processes, one entry per batch in ``parts``
    (``<sha256(identity, batch)[:20]>.npy``, atomic). ``shard=(rank, world)``: encode (or find) only batches
    ``rank, rank + world, ...`` and return ``None``; ``shard=None``: every batch, read from ``parts`` where
    there (encoded where a process stopped before writing it), as ``[len(unique), D]``."""
    chunks = _batches(unique, batch_size)
    mine = range(len(chunks)) if shard is None else range(shard[0], len(chunks), shard[1])
    iterator: Any = mine
    if progress and chunks:
        from tqdm.auto import tqdm

        iterator = tqdm(mine, desc=desc, unit="batch")
    table: np.ndarray | None = None
    for index in iterator:
        chunk = chunks[index]
        part = parts / f"{cache_key(encoder.identity, [unique[i] for i in chunk])[:20]}.npy"
        out = _read_cache(part, len(chunk))
        if out is None:
            out = _encode_chunk(unique, chunk, encoder, pairs)
            _write_cache(part, out)
        if shard is None:
            if table is None:
                table = np.zeros((len(unique), out.shape[1]), dtype=np.float32)
            table[chunk] = out
    return table


def _encode_unique(
    unique: Sequence[str],
    encoder: TextEncoder,
    *,
    pairs: bool,
    batch_size: int,
    progress: bool,
    desc: str,
    partial: Path | None = None,
) -> np.ndarray | None:
    """``[len(unique), D]`` embeddings of the distinct keys, batched by length (``None`` when there are none);
    with ``pairs`` each key is ``text\\x00context``. With ``partial``, batches encoded by an interrupted
    call are read from it and, when this call is interrupted (or fails), those encoded so far are saved there."""
    table, done = _read_partial(partial, len(unique))
    todo = [i for i in range(len(unique)) if not done[i]]
    order = sorted(todo, key=lambda i: len(unique[i]))  # similar lengths share a batch
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    iterator: Any = chunks
    if progress and chunks:
        from tqdm.auto import tqdm

        iterator = tqdm(chunks, desc=desc, unit="batch")
    try:
        for chunk in iterator:
            out = _encode_chunk(unique, chunk, encoder, pairs)
            if table is None:
                table = np.zeros((len(unique), out.shape[1]), dtype=np.float32)
            table[chunk] = out
            done[chunk] = True
    except BaseException:  # Ctrl-C included: keep what was encoded
        if partial is not None and table is not None and done.any():
            _write_partial(partial, table, done)
        raise
    return table


def _write_cache(cache_file: Path, result: np.ndarray) -> None:
    """Save ``result`` to ``cache_file`` atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, result, allow_pickle=False)

    atomic_write(cache_file, write)
    logger.info("cached %d embeddings in %s", len(result), cache_file)


def embed_texts(
    texts: Sequence[str],
    encoder: TextEncoder,
    *,
    batch_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    desc: str = "embedding",
    contexts: Sequence[str] | None = None,
    shard: tuple[int, int] | None = None,
) -> np.ndarray:
    """Embed ``texts`` → ``[N, D]`` float32, in order, duplicates encoded once.

    Args:
        texts: the strings.
        encoder: a :class:`TextEncoder` (e.g. from :func:`load_text_encoder`).
        batch_size: strings per ``encoder.encode`` call (strings are batched by length, which
            pads less; the result keeps the input order).
        cache_dir: when given, the result is read from / written to
            ``cache_dir/<model>-<sha256(model identity, texts[, contexts])[:20]>.npy`` (atomic write).
            An interrupted call (Ctrl-C, an error) keeps the batches it encoded beside it
            (``….partial.npz``); the next call with the same texts continues from them.
        progress: a tqdm bar over batches.
        desc: the bar's label.
        contexts: one context string per text (from :func:`context_inputs`), or None. Encoders with
            ``encode_pairs`` (:class:`HFTextEncoder`) read each pair as one input and pool the
            target's tokens; others embed ``text | context``.
        shard: ``(rank, world)`` of a build shared by several processes (``cache_dir`` required): this
            process encodes only the length-sorted batches ``rank, rank + world, ...``, writes each to
            ``cache_dir/<model>-<key>.parts/`` at once (atomic), and returns an empty ``[0, 0]`` array. A
            later call without ``shard`` reads those batches instead of encoding them; a batch whose
            entry is missing (a process stopped) is encoded then.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    texts = [str(t) for t in texts]
    contexts = _clean_contexts(texts, contexts)
    keys = texts if contexts is None else [f"{t}\x00{c}" for t, c in zip(texts, contexts, strict=True)]
    if shard is not None and cache_dir is None:
        raise ValueError("embed_texts(shard=...) needs cache_dir: the processes exchange batches through it")
    cache_file = _cache_path(encoder, keys, contexts, cache_dir) if cache_dir is not None else None
    if cache_file is not None and (cached := _read_cache(cache_file, len(texts))) is not None:
        return np.zeros((0, 0), dtype=np.float32) if shard is not None else cached
    unique = list(dict.fromkeys(keys))
    parts = cache_file.with_suffix(".parts") if cache_file is not None else None
    partial = cache_file.with_name(cache_file.stem + ".partial.npz") if cache_file is not None else None
    if parts is not None and (shard is not None or parts.is_dir()):  # a build shared by processes
        table = _encode_batches(unique, encoder, pairs=contexts is not None, batch_size=batch_size,
                                progress=progress, desc=desc, parts=parts, shard=shard)  # fmt: skip
        if shard is not None:
            return np.zeros((0, 0), dtype=np.float32)
    else:
        table = _encode_unique(
            unique, encoder, pairs=contexts is not None, batch_size=batch_size, progress=progress, desc=desc,
            partial=partial,
        )  # fmt: skip
    if table is None:
        return np.zeros((0, 0), dtype=np.float32)
    position = {text: i for i, text in enumerate(unique)}
    result = table[[position[k] for k in keys]]
    if cache_file is not None:
        _write_cache(cache_file, result)
        if partial is not None:
            partial.unlink(missing_ok=True)
    return result
