"""Utterance text → ``[T, D]`` features with a sentence encoder, cached on disk.

Any sentence-transformers model or Hugging Face encoder works, given by hub name or local
directory (the optional extra ``pip install "vega-anchors[text]"``; imported only when an encoder
is built). Offline, point at a local copy: ``load_text_encoder("/models/all-MiniLM-L6-v2")``.

Embeddings are cached per (model, texts): a second call with the same texts reads
``cache_dir/<model>-<hash>.npy`` instead of running the encoder. Cache files are written
atomically and read with ``allow_pickle=False``.

.. note::
    Sentence embeddings are often unit-norm (all-MiniLM-L6-v2: 384-d, per-dim RMS ≈ 0.05), ~40×
    smaller than the position and speaker embeddings :class:`~vega_anchors.DualBranchVEGA` adds
    to them. Train with ``VEGAConfig(input_norm="standardize")``; ``vega-anchors inspect-features``
    warns about such scales.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from .._hf import check_hidden_layers
from .._io import atomic_write
from .tables import DialogueTable, RawDialogue

logger = logging.getLogger(__name__)

__all__ = [
    "CONTEXT_JOIN",
    "HFTextEncoder",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "context_inputs",
    "embed_tables",
    "embed_texts",
    "encoder_info",
    "load_text_encoder",
]

CONTEXT_JOIN = " | "
"""Joins the context turns of :func:`context_inputs` (and, for encoders without pair input, the target
and its context)."""

_INSTALL_HINT = 'pip install "vega-anchors[text]"  (sentence-transformers)'


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that embeds a batch of strings.

    ``identity`` names the model and its settings for the cache key (change it when outputs change);
    ``encode(texts) -> [N, D]`` float array.
    """

    identity: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _encode_with_context(encoder: TextEncoder, texts: Sequence[str], contexts: Sequence[str]) -> np.ndarray:
    """Encoders with ``encode_pairs`` (:class:`HFTextEncoder`) get (target, context) pairs; any other
    encoder gets one string, ``target | context``."""
    pairs = getattr(encoder, "encode_pairs", None)
    if pairs is not None:
        return np.asarray(pairs(texts, contexts), dtype=np.float32)
    joined = [f"{t}{CONTEXT_JOIN}{c}" if c else t for t, c in zip(texts, contexts, strict=True)]
    return np.asarray(encoder.encode(joined), dtype=np.float32)


def _local_identity(path: Path) -> str:
    """A local model's identity: its resolved path plus the names, sizes and mtimes of its files."""
    parts = [str(path.resolve())]
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        stat = p.stat()
        parts.append(f"{p.relative_to(path) if path.is_dir() else p.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


class SentenceTransformerEncoder:
    """A ``sentence_transformers.SentenceTransformer`` (hub name or local directory).

    Args:
        name_or_path: e.g. ``"sentence-transformers/all-MiniLM-L6-v2"`` or a local directory.
        device: ``"cpu"``, ``"cuda"``...; default: the library's choice.
        normalize: L2-normalise the outputs (besides any normalisation the model itself applies).
        **kwargs: passed to ``SentenceTransformer`` (e.g. ``revision=``, ``local_files_only=True``).
    """

    def __init__(
        self, name_or_path: str | os.PathLike[str], *, device: str | None = None, normalize: bool = False, **kwargs: Any
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(f"SentenceTransformerEncoder needs sentence-transformers: {_INSTALL_HINT}") from err
        self.name = str(name_or_path)
        self.normalize = normalize
        self.model = SentenceTransformer(self.name, device=device, **kwargs)
        local = Path(self.name)
        base = _local_identity(local) if local.exists() else f"{self.name}@{kwargs.get('revision', 'default')}"
        self.identity = f"sentence-transformers\n{base}\nnormalize={normalize}"

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ValueError(f"{self.name} does not report its embedding dimension")
        return int(dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, D]`` float32 embeddings of ``texts``."""
        out = self.model.encode(
            list(texts),
            batch_size=max(len(texts), 1),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
        )
        return np.asarray(out, dtype=np.float32)


class HFTextEncoder:
    """A plain Hugging Face ``transformers`` encoder with mean (or CLS) pooling.

    Args:
        name_or_path: hub name or local directory with the model and tokenizer files (a
            sentence-transformers directory works too: its transformer is loaded, its pooling redone).
        pooling: ``"mean"`` over real tokens (the sentence-transformers default) or ``"cls"``.
        max_length: tokens kept per utterance.
        normalize: L2-normalise each pooled layer.
        device: torch device (default ``"cpu"``; ``None``: CUDA when available, else CPU).
        layers: which hidden states to pool, concatenated in this order (``-1`` = last layer, ``0`` =
            the embeddings); output dim = ``hidden_size × len(layers)``. A sentence model's last layer
            is tuned for similarity; earlier layers keep more of what a classifier needs (measured on
            MELD text: a logistic regression on all-MiniLM-L6-v2's last four layers, 0.601 weighted
            F1, vs 0.561 on its sentence embedding — docs/own_data.md).
        context_max_length: tokens kept per (utterance, context) pair in :meth:`encode_pairs`; the
            context is truncated first, dropping its oldest turns.
    """

    def __init__(
        self,
        name_or_path: str | os.PathLike[str],
        *,
        pooling: Literal["mean", "cls"] = "mean",
        max_length: int = 128,
        normalize: bool = False,
        device: str | None = "cpu",
        layers: Sequence[int] = (-1,),
        context_max_length: int = 256,
        **kwargs: Any,
    ) -> None:
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as err:
            raise ImportError(f"HFTextEncoder needs transformers: {_INSTALL_HINT}") from err
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.name = str(name_or_path)
        self.pooling, self.max_length, self.normalize = pooling, max_length, normalize
        self.context_max_length = context_max_length
        if device is None:  # like sentence-transformers: the GPU when there is one
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(self.name, **kwargs)
        self.model = AutoModel.from_pretrained(self.name, **kwargs).to(self.device).eval()
        depth = int(self.model.config.num_hidden_layers)  # hidden states: embeddings + one per layer
        self.layers = check_hidden_layers(self.name, depth, layers)
        local = Path(self.name)
        base = _local_identity(local) if local.exists() else f"{self.name}@{kwargs.get('revision', 'default')}"
        self.identity = f"transformers\n{base}\npooling={pooling}\nmax_length={max_length}\nnormalize={normalize}"
        if self.layers != (-1,):  # keeps the cache keys of last-layer encoders unchanged
            self.identity += f"\nlayers={','.join(map(str, self.layers))}"

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size) * len(self.layers)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, D]`` float32 pooled embeddings of ``texts``."""
        import torch

        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            states = self.model(**batch, output_hidden_states=True).hidden_states  # depth + 1 × [N, L, D]
        return self._pool(states, batch["attention_mask"])  # [N, D × len(layers)]

    def _pool(self, states: Sequence[Any], mask: Any) -> np.ndarray:
        """Pool each chosen hidden layer ``[N, L, D]`` over the tokens where ``mask [N, L]`` is 1 (or
        take ``[CLS]``), normalise if asked, and concatenate: ``[N, D × len(layers)]`` float32."""
        import torch

        weights = mask.unsqueeze(-1)
        parts = []
        for index in self.layers:
            hidden = states[index]
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                w = weights.to(hidden.dtype)
                pooled = (hidden * w).sum(1) / w.sum(1).clamp_min(1.0)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            parts.append(pooled)
        return torch.cat(parts, dim=-1).float().cpu().numpy()

    def encode_pairs(self, texts: Sequence[str], contexts: Sequence[str]) -> np.ndarray:
        """``[N, D]`` embeddings of ``texts``, each read together with its context.

        Each pair is one input, ``[CLS] target [SEP] context [SEP]``: every token attends to the
        context, but only ``[CLS] target [SEP]`` is pooled (mean pooling; ``"cls"`` pooling takes
        ``[CLS]``), so the row still describes the target utterance.
        """
        import torch

        batch = self.tokenizer(
            list(texts),
            list(contexts),
            padding=True,
            truncation="longest_first",
            max_length=self.context_max_length,
            return_tensors="pt",
        )
        target = torch.zeros_like(batch["attention_mask"])
        for i in range(len(texts)):
            ids = batch.sequence_ids(i)
            last = max(j for j, s in enumerate(ids) if s == 0)  # the target's tokens, its [CLS] and first [SEP]
            target[i, : min(last + 2, len(ids))] = 1
        batch = batch.to(self.device)
        with torch.inference_mode():
            states = self.model(**batch, output_hidden_states=True).hidden_states
        return self._pool(states, target.to(self.device))


def load_text_encoder(
    name_or_path: str | os.PathLike[str],
    *,
    backend: Literal["auto", "sentence-transformers", "transformers"] = "auto",
    **kwargs: Any,
) -> SentenceTransformerEncoder | HFTextEncoder:
    """Build a text encoder. ``backend="auto"`` uses sentence-transformers when it is installed
    (any model it can load; plain HF models get mean pooling), else ``transformers`` with mean pooling;
    asking for ``layers=`` or ``pooling=`` (options only :class:`HFTextEncoder` has) picks ``transformers``.
    Keyword arguments go to the encoder class."""
    if backend == "auto" and ("layers" in kwargs or "pooling" in kwargs):
        backend = "transformers"
    if backend == "auto":
        try:
            import sentence_transformers  # noqa: F401
        except ImportError:
            backend = "transformers"
        else:
            backend = "sentence-transformers"
    if backend == "sentence-transformers":
        return SentenceTransformerEncoder(name_or_path, **kwargs)
    if backend == "transformers":
        return HFTextEncoder(name_or_path, **kwargs)
    raise ValueError(f"backend must be 'auto', 'sentence-transformers' or 'transformers', got {backend!r}")


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


def _encode_unique(
    unique: Sequence[str], encoder: TextEncoder, *, pairs: bool, batch_size: int, progress: bool, desc: str
) -> np.ndarray | None:
    """``[len(unique), D]`` embeddings of the distinct keys, batched by length (``None`` when there are none);
    with ``pairs`` each key is ``text\\x00context``."""
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))  # similar lengths share a batch
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    iterator: Any = chunks
    if progress and chunks:
        from tqdm.auto import tqdm

        iterator = tqdm(chunks, desc=desc, unit="batch")
    table: np.ndarray | None = None
    for chunk in iterator:
        if not pairs:
            out = np.asarray(encoder.encode([unique[i] for i in chunk]), dtype=np.float32)
        else:
            split = [unique[i].split("\x00", 1) for i in chunk]
            out = _encode_with_context(encoder, [a for a, _ in split], [b for _, b in split])
        if out.ndim != 2 or out.shape[0] != len(chunk):
            raise ValueError(f"encoder returned shape {out.shape} for {len(chunk)} texts; expected [N, D]")
        if table is None:
            table = np.zeros((len(unique), out.shape[1]), dtype=np.float32)
        table[chunk] = out
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
) -> np.ndarray:
    """Embed ``texts`` → ``[N, D]`` float32, in order, duplicates encoded once.

    Args:
        texts: the strings.
        encoder: a :class:`TextEncoder` (e.g. from :func:`load_text_encoder`).
        batch_size: strings per ``encoder.encode`` call (strings are batched by length, which
            pads less; the result keeps the input order).
        cache_dir: when given, the result is read from / written to
            ``cache_dir/<model>-<sha256(model identity, texts[, contexts])[:20]>.npy`` (atomic write).
        progress: a tqdm bar over batches.
        desc: the bar's label.
        contexts: one context string per text (from :func:`context_inputs`), or None. Encoders with
            ``encode_pairs`` (:class:`HFTextEncoder`) read each pair as one input and pool the
            target's tokens; others embed ``text | context``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    texts = [str(t) for t in texts]
    contexts = _clean_contexts(texts, contexts)
    keys = texts if contexts is None else [f"{t}\x00{c}" for t, c in zip(texts, contexts, strict=True)]
    cache_file = _cache_path(encoder, keys, contexts, cache_dir) if cache_dir is not None else None
    if cache_file is not None and (cached := _read_cache(cache_file, len(texts))) is not None:
        return cached
    unique = list(dict.fromkeys(keys))
    table = _encode_unique(
        unique, encoder, pairs=contexts is not None, batch_size=batch_size, progress=progress, desc=desc
    )
    if table is None:
        return np.zeros((0, 0), dtype=np.float32)
    position = {text: i for i, text in enumerate(unique)}
    result = table[[position[k] for k in keys]]
    if cache_file is not None:
        _write_cache(cache_file, result)
    return result


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


def encoder_info(encoder: TextEncoder, *, context: int = 0) -> dict[str, Any]:
    """The identity of a text encoder, as recorded in feature stores (``extras["encoder"]``) and
    anchor banks: ``name`` (hub name or path), ``identity`` (SHA-256 of the encoder's settings and,
    for a local model, its files' names/sizes/mtimes; 16 hex digits), ``backend``, ``layers``,
    ``dim`` and ``context`` (preceding turns; 0 for banks). Two encoders embed alike when their
    ``identity`` values match."""
    backend = (
        "transformers"
        if isinstance(encoder, HFTextEncoder)
        else ("sentence-transformers" if isinstance(encoder, SentenceTransformerEncoder) else type(encoder).__name__)
    )
    dim = getattr(encoder, "dim", None)
    return {
        "name": getattr(encoder, "name", None),
        "identity": hashlib.sha256(encoder.identity.encode("utf-8")).hexdigest()[:16],
        "backend": backend,
        "layers": list(getattr(encoder, "layers", ())) or None,
        "dim": int(dim) if dim is not None else None,
        "context": int(context),
    }


def embed_tables(
    tables: Mapping[str, DialogueTable] | DialogueTable,
    encoder: TextEncoder,
    *,
    batch_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    context: int = 0,
) -> Any:
    """Embed every utterance of one table, or of each split of ``{"train": table, ...}``.

    ``context=K`` encodes each utterance with its K preceding turns and the speaker names
    (:func:`context_inputs`); the cache key covers them.

    Returns {dialogue id → ``[T, D]`` float32} for one table, or ``{split: {dialogue id → [T, D]}}``
    for a mapping — the ``features`` argument of :func:`~vega_anchors.data.tables.build_feature_set`.
    """
    if isinstance(tables, DialogueTable):
        return _embed_table(tables, encoder, batch_size, cache_dir, progress, "embedding", context)
    return {
        split: _embed_table(table, encoder, batch_size, cache_dir, progress, f"embedding {split}", context)
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
) -> dict[str, np.ndarray]:
    if context:
        pairs = [context_inputs(d, context) for d in table.dialogues]
        texts = [t for targets, _ in pairs for t in targets]
        contexts: list[str] | None = [c for _, cs in pairs for c in cs]
    else:
        texts, contexts = table.texts(), None
    rows = embed_texts(
        texts, encoder, batch_size=batch_size, cache_dir=cache_dir, progress=progress, desc=desc, contexts=contexts
    )
    out: dict[str, np.ndarray] = {}
    start = 0
    for dialogue in table.dialogues:
        out[dialogue.id] = rows[start : start + dialogue.length]
        start += dialogue.length
    return out
