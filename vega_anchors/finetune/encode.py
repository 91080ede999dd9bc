"""Features from a fine-tuned encoder directory (what ``build-features --encoder DIR`` runs for one).

Each utterance is read exactly as it was during fine-tuning (:func:`~vega_anchors.finetune.dialogue_inputs`
with the recorded context), and the target's tokens are mean-pooled over the chosen hidden layers
(like :class:`~vega_anchors.encoders.HFTextEncoder` with ``layers``). With cross-fitting folds, each
training dialogue is encoded by the fold encoder that never saw it; every other split (and held-out
training dialogues) by the full encoder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.tables import DialogueTable, RawDialogue
from ..errors import ConfigError
from ._files import provenance_summary, read_provenance
from .inputs import collate, dialogue_inputs, length_batches

logger = logging.getLogger(__name__)

__all__ = ["embed_finetuned", "is_finetuned"]


def is_finetuned(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an encoder directory written by :func:`~vega_anchors.finetune.finetune_text`."""
    return read_provenance(path) is not None


def _check_layers(path: Path, depth: int, layers: Sequence[int]) -> tuple[int, ...]:
    """``layers`` checked to index the ``depth + 1`` hidden states of the encoder at ``path``."""
    picked = tuple(int(i) for i in layers)
    if not picked or any(not -(depth + 1) <= i <= depth for i in picked):
        raise ValueError(f"layers must pick hidden states of {path} ({depth} layers: indices {-(depth + 1)}..{depth}); "
                         f"got {list(layers)}")  # fmt: skip
    return picked


class _Encoder:
    """One encoder directory, loaded for feature extraction."""

    def __init__(self, path: Path, layers: Sequence[int], device: torch.device) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).to(device).eval()
        self.layers = _check_layers(path, int(self.model.config.num_hidden_layers), layers)
        self.dim = int(self.model.config.hidden_size) * len(self.layers)
        self.device = device

    @torch.inference_mode()
    def encode(
        self, dialogues: Sequence[RawDialogue], *, context: int, future: int, max_length: int, batch_size: int,
        progress: bool, desc: str,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """{dialogue id → ``[T, D × len(layers)]`` float32}."""
        items = [
            u for d in dialogues
            for u in dialogue_inputs(d, self.tokenizer, context=context, future_context=future, max_length=max_length)
        ]  # fmt: skip
        rows = np.zeros((len(items), self.dim), dtype=np.float32)
        batches: Any = length_batches([len(u.input_ids) for u in items], batch_size, shuffle=False)
        if progress and batches:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=desc, unit="batch")
        for index in batches:
            batch = collate([items[i] for i in index], int(self.tokenizer.pad_token_id or 0), device=self.device)
            inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
            states = self.model(**inputs, output_hidden_states=True).hidden_states
            weights = batch["target_mask"].unsqueeze(-1).float()  # [B, L, 1]
            pooled = [(states[i].float() * weights).sum(1) / weights.sum(1).clamp_min(1.0) for i in self.layers]
            rows[index] = torch.cat(pooled, dim=-1).cpu().numpy()
        out, start = {}, 0
        for d in dialogues:
            out[d.id] = rows[start : start + d.length]
            start += d.length
        return out


def _fold_groups(train: DialogueTable, folds: Mapping[str, Any], path: Path) -> dict[int, list[RawDialogue]]:
    """Training dialogues grouped by the fold encoder that never saw them (``-1``: the full encoder)."""
    assignment, holdout = folds["assignment"], set(folds.get("holdout", []))
    unknown = [d.id for d in train.dialogues if d.id not in assignment and d.id not in holdout]
    if unknown:
        raise ConfigError(
            f"{len(unknown)} training dialogue(s) (e.g. {unknown[:3]}) are not in the folds of {path}, "
            "which was fine-tuned on another training table",
            python_fix="embed the training table the encoder was fine-tuned on (its vega_finetune.json names it)",
            cli_fix="give build-features the --train table given to finetune-text (vega_finetune.json names it)",
        )
    groups: dict[int, list[RawDialogue]] = {}
    for d in train.dialogues:
        groups.setdefault(int(assignment.get(d.id, -1)), []).append(d)
    return groups


def _identity(provenance: Mapping[str, Any], path: Path, layers: Sequence[int], context: int) -> str:
    """16 hex digits over the provenance, the weight files' sizes/mtimes, the layers and the context."""
    digest = hashlib.sha256(json.dumps(provenance, sort_keys=True).encode())
    for file in sorted(path.rglob("*.safetensors")):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(f"layers={list(layers)} context={context}".encode())
    return digest.hexdigest()[:16]


def embed_finetuned(
    tables: Mapping[str, DialogueTable],
    path: str | os.PathLike[str],
    *,
    layers: Sequence[int] = (-1,),
    context: int | None = None,
    batch_size: int = 64,
    device: str | None = None,
    progress: bool = True,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Embed ``{split: table}`` with the fine-tuned encoder directory ``path``.

    Args:
        tables: the splits; ``"train"`` gets the fold encoders when ``path`` has folds.
        layers: hidden states to mean-pool over the target's tokens, concatenated (``-1``: the layer
            the classification head read).
        context: preceding turns; ``None``: the fine-tuning's (recommended; another value is logged).
        batch_size, device, progress: as :func:`~vega_anchors.data.embed_tables`.

    Returns:
        ``({split: {dialogue id: [T, D]}}, encoder info)``; the info is
        :func:`~vega_anchors.encoders.encoder_info`'s layout plus ``future_context``, ``cross_fitted``
        and ``finetune`` (the provenance summary).
    """
    root = Path(path)
    provenance = read_provenance(root)
    if provenance is None:
        raise ValueError(f"{root} is not a fine-tuned encoder directory (no vega_finetune.json)")
    recorded = int(provenance["context"])
    if context is not None and context != recorded:
        logger.warning("%s was fine-tuned with context %d; encoding with context %d", root, recorded, context)
    k = recorded if context is None else int(context)
    options = {"context": k, "future": int(provenance.get("future_context", 0)),
               "max_length": int(provenance["max_length"]), "batch_size": batch_size, "progress": progress}  # fmt: skip
    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    full = _Encoder(root, layers, torch_device)
    folds = provenance.get("folds")
    out: dict[str, dict[str, np.ndarray]] = {}
    for split, table in tables.items():
        if split == "train" and folds:
            parts: dict[str, np.ndarray] = {}
            for fold, dialogues in sorted(_fold_groups(table, folds, root).items()):
                encoder = full if fold < 0 else _Encoder(root / folds["dirs"][fold], layers, torch_device)
                parts.update(encoder.encode(dialogues, desc=f"embedding train (fold {fold})", **options))
            out[split] = {d.id: parts[d.id] for d in table.dialogues}
        else:
            out[split] = full.encode(table.dialogues, desc=f"embedding {split}", **options)
    info = {
        "name": str(root), "identity": _identity(provenance, root, full.layers, k), "backend": "vega-finetune",
        "layers": list(full.layers), "dim": full.dim, "context": k, "future_context": options["future"],
        "cross_fitted": bool(folds), "finetune": provenance_summary(provenance),
    }  # fmt: skip
    return out, info
