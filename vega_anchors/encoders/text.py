"""Text encoders: a string → one ``[D]`` vector (sentence-transformers or a plain ``transformers`` model).

Any sentence-transformers model or Hugging Face encoder works, given by hub name or local
directory (the optional extra ``pip install "vega-anchors[text]"``; imported only when an encoder
is built). Offline, point at a local copy: ``load_text_encoder("/models/all-MiniLM-L6-v2")``.
:func:`encoder_info` is the identity record feature stores and anchor banks keep;
:func:`text_encoder_from_record` rebuilds the encoder it names.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ._common import check_hidden_layers, model_identity

__all__ = [
    "HFTextEncoder",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "encoder_info",
    "load_text_encoder",
    "text_encoder_from_record",
]

_INSTALL_HINT = 'pip install "vega-anchors[text]"  (sentence-transformers)'


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that embeds a batch of strings.

    ``identity`` names the model and its settings for the cache key (change it when outputs change);
    ``encode(texts) -> [N, D]`` float array.
    """

    identity: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


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
        base = model_identity(self.name, kwargs.get("revision"))
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
        base = model_identity(self.name, kwargs.get("revision"))
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
            # the target's tokens, its [CLS] and first [SEP] (only those two when the target tokenizes to nothing)
            last = max((j for j, s in enumerate(ids) if s == 0), default=0)
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


def encoder_info(encoder: TextEncoder, *, context: int = 0) -> dict[str, Any]:
    """The identity of a text encoder, as recorded in feature stores (``extras["encoder"]``) and
    anchor banks: ``name`` (hub name or path), ``identity`` (SHA-256 of the encoder's settings and,
    for a local model, its files' names/sizes/mtimes; 16 hex digits), ``backend``, ``layers``,
    ``dim`` and ``context`` (preceding turns; 0 for banks), and ``finetune`` (the provenance summary of a
    ``finetune-text`` directory) when there is one. Two encoders embed alike when their ``identity``
    values match."""
    backend = (
        "transformers"
        if isinstance(encoder, HFTextEncoder)
        else ("sentence-transformers" if isinstance(encoder, SentenceTransformerEncoder) else type(encoder).__name__)
    )
    dim = getattr(encoder, "dim", None)
    info = {
        "name": getattr(encoder, "name", None),
        "identity": hashlib.sha256(encoder.identity.encode("utf-8")).hexdigest()[:16],
        "backend": backend,
        "layers": list(getattr(encoder, "layers", ())) or None,
        "dim": int(dim) if dim is not None else None,
        "context": int(context),
    }
    from .provenance import provenance_summary, read_provenance  # a finetune-text directory says where it came from

    provenance = read_provenance(info["name"]) if info["name"] and os.path.isdir(info["name"]) else None
    if provenance is not None:
        info["finetune"] = provenance_summary(provenance)
    return info




_BACKENDS = {"transformers": "HFTextEncoder", "sentence-transformers": "SentenceTransformerEncoder"}


def text_encoder_from_record(
    record: Mapping[str, Any], *, device: str | None = None, strict: bool = True
) -> HFTextEncoder | SentenceTransformerEncoder:
    """Rebuild the text encoder an identity record names (:func:`encoder_info`'s dict, as a feature
    store keeps it in ``extras["encoder"]``): same model, backend and layers.

    With ``strict`` the rebuilt encoder's ``identity`` must equal the record's (a local model's files
    are part of it: a copy elsewhere, or non-default pooling / ``max_length`` / ``normalize``, differ);
    pass ``strict=False`` to accept such an encoder.

    Raises:
        ValueError: the record names no model or an unknown backend, the model cannot be loaded here,
            or (``strict``) the encoder built differs from the record.
        ImportError: the backend's package is not installed.
    """
    name, backend = record.get("name"), record.get("backend")
    if not name or backend not in _BACKENDS:
        raise ValueError(
            f"the encoder record {dict(record)} names no rebuildable text encoder (needs 'name' and a 'backend' "
            f"in {sorted(_BACKENDS)}); build the encoder yourself with load_text_encoder(name_or_path, ...)"
        )
    options: dict[str, Any] = {"device": device}
    if backend == "transformers" and record.get("layers"):
        options["layers"] = tuple(record["layers"])
    try:
        encoder = load_text_encoder(name, backend=backend, **options)
    except OSError as err:
        raise ValueError(
            f"the text encoder {name!r} ({backend}) named by the record is not available here ({err}); "
            "install or copy the model and rebuild it with load_text_encoder(<its local path>, ...)"
        ) from err
    if strict and record.get("identity") and encoder_info(encoder)["identity"] != record["identity"]:
        raise ValueError(
            f"the text encoder rebuilt from {name!r} differs from the record (identity "
            f"{encoder_info(encoder)['identity']} != {record['identity']}: other model files, or non-default "
            "pooling/max_length/normalize); pass strict=False to use it anyway"
        )
    return encoder
