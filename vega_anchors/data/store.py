"""A data-only feature file: safetensors tensors + JSON metadata, safe to share.

Unlike the official pickles, loading one runs no code. One file holds a whole
:class:`~vega_anchors.data.FeatureSet`:

tensors (per split ``s`` in ``train``/``dev``/``test``; utterances of all dialogues concatenated)
    ``s/<modality>`` ``[N_s, D_m]`` features, ``s/speakers`` ``[N_s]`` int64 ids,
    ``s/labels`` ``[N_s]`` int64 class ids (``-1`` = unlabelled), ``s/lengths`` ``[dialogues_s]`` int64.
metadata (JSON under the ``"vega_anchors"`` header key)
    ``format``, ``format_version``, ``label_names``, ``num_speakers``, ``modality_dims``,
    ``splits`` (``{s: {"dialogue_ids": [...], "utterances": N_s}}``), ``source``, ``layout``,
    ``synthetic`` and ``extras`` (the JSON-serialisable ones, e.g. ``speaker_names``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write, read_safetensors
from .types import Dialogue, FeatureSet

logger = logging.getLogger(__name__)

__all__ = ["FORMAT", "is_feature_store", "load_features", "save_features"]

FORMAT = "vega-anchors/features"
"""The ``format`` field of a feature store's metadata."""
FORMAT_VERSION = 1
_SPLITS = ("train", "dev", "test")


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def save_features(features: FeatureSet, path: str | os.PathLike[str]) -> Path:
    """Write ``features`` to ``path`` (safetensors + JSON metadata), atomically.

    Features keep their dtype (float32/float16/bfloat16); extras that are not JSON-serialisable
    (e.g. MELD's pickled trailing field) are left out with a log message.

    Returns:
        ``Path(path)``.
    """
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    splits: dict[str, Any] = {}
    modalities = list(features.modality_dims)
    for split in _SPLITS:
        dialogues = features.splits()[split]
        ids = [d.id for d in dialogues]
        if len(set(ids)) != len(ids):
            repeated = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"{split} split repeats dialogue ids {repeated}; ids must be unique per split")
        for d in dialogues:
            if d.modality_dims != features.modality_dims:
                raise ValueError(
                    f"{split} dialogue {d.id!r} has modalities {d.modality_dims}, the set declares "
                    f"{features.modality_dims}"
                )
        for modality in modalities:
            dim = features.modality_dims[modality]
            rows = [d.features[modality].detach().cpu() for d in dialogues]
            tensors[f"{split}/{modality}"] = torch.cat(rows).contiguous() if rows else torch.zeros(0, dim)
        for name in ("speakers", "labels"):
            rows = [getattr(d, name).detach().cpu().long() for d in dialogues]
            tensors[f"{split}/{name}"] = torch.cat(rows).contiguous() if rows else torch.zeros(0, dtype=torch.long)
        tensors[f"{split}/lengths"] = torch.tensor([d.length for d in dialogues], dtype=torch.long)
        splits[split] = {"dialogue_ids": ids, "utterances": sum(d.length for d in dialogues)}
    extras = {k: v for k, v in features.extras.items() if _jsonable(v)}
    dropped = sorted(set(features.extras) - set(extras))
    if dropped:
        logger.info("not stored (not JSON-serialisable): extras %s", dropped)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "label_names": list(features.label_names),
        "num_speakers": features.num_speakers,
        "modality_dims": dict(features.modality_dims),
        "splits": splits,
        "source": features.source,
        "layout": features.layout,
        "synthetic": features.synthetic,
        "extras": extras,
    }
    header = {"vega_anchors": json.dumps(meta)}
    out = atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))
    logger.info("wrote %s to %s", ", ".join(f"{s} {len(v['dialogue_ids'])}" for s, v in splits.items()), out)
    return out


def is_feature_store(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a safetensors file (an 8-byte header length, then ``{``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1


def load_features(path: str | os.PathLike[str], *, splits: Sequence[str] = _SPLITS) -> FeatureSet:
    """Read a file written by :func:`save_features` (data only; no code runs).

    ``splits``: the splits to read (default all three). The others come back empty and their
    tensors are never read from the file (``vega-anchors tune`` reads ``("train", "dev")``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a feature store, or inconsistent contents (named).
    """
    unknown = sorted(set(splits) - set(_SPLITS))
    if unknown:
        raise ValueError(f"unknown splits {unknown}; choose from {list(_SPLITS)}")
    tensors, meta = read_safetensors(
        path, what="feature", writer="save_features", hint="For an official .pkl use load_feature_pickle.",
        keep=lambda key: key.split("/", 1)[0] in splits,
    )  # fmt: skip
    path = Path(path)
    try:
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, expected {FORMAT!r}")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(f"format_version {meta['format_version']} is newer than this library reads")
        dims = {str(k): int(v) for k, v in meta["modality_dims"].items()}
        by_split: dict[str, list[Dialogue]] = {}
        for split in _SPLITS:
            info = meta["splits"].get(split, {"dialogue_ids": []}) if split in splits else {"dialogue_ids": []}
            by_split[split] = _split_dialogues(tensors, split, list(info["dialogue_ids"]), dims, path)
        result = FeatureSet(
            train=by_split["train"],
            test=by_split["test"],
            dev=by_split["dev"],
            label_names=tuple(meta["label_names"]),
            num_speakers=int(meta["num_speakers"]),
            modality_dims=dims,
            layout=str(meta.get("layout", "store")),
            source=str(meta.get("source") or path),
            synthetic=bool(meta.get("synthetic", False)),
            extras=dict(meta.get("extras", {})),
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is a damaged vega-anchors feature file ({type(err).__name__}: {err})") from err
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    for split, dialogues in result.splits().items():
        for d in dialogues:
            labels = d.labels[d.labels >= 0]
            if labels.numel() and int(labels.max()) >= result.num_classes:
                raise ValueError(
                    f"{path}: {split} dialogue {d.id!r} has label {int(labels.max())} ≥ {result.num_classes}"
                )
            if d.speakers.numel() and (int(d.speakers.min()) < 0 or int(d.speakers.max()) >= result.num_speakers):
                raise ValueError(
                    f"{path}: {split} dialogue {d.id!r} has speaker ids outside [0, {result.num_speakers})"
                )
    logger.info("loaded %s", result.summary().splitlines()[0])
    return result


def _split_dialogues(
    tensors: dict[str, torch.Tensor], split: str, ids: list[str], dims: dict[str, int], path: Path
) -> list[Dialogue]:
    lengths = tensors.get(f"{split}/lengths", torch.zeros(0, dtype=torch.long))
    if lengths.ndim != 1 or lengths.shape[0] != len(ids):
        raise ValueError(f"{split}: {len(ids)} dialogue ids but lengths of shape {tuple(lengths.shape)}")
    total = int(lengths.sum()) if lengths.numel() else 0
    columns: dict[str, torch.Tensor] = {}
    for name in (*dims, "speakers", "labels"):
        key = f"{split}/{name}"
        if key not in tensors:
            if not ids:
                continue
            raise ValueError(f"missing tensor {key!r}")
        value = tensors[key]
        if value.shape[0] != total:
            raise ValueError(f"{key} has {value.shape[0]} rows, the {split} lengths sum to {total}")
        if name in dims and (value.ndim != 2 or value.shape[1] != dims[name]):
            raise ValueError(f"{key} has shape {tuple(value.shape)}, metadata says dim {dims[name]}")
        columns[name] = value
    if not ids:
        return []
    bounds = np.concatenate([[0], np.cumsum(lengths.numpy())]).tolist()
    return [
        Dialogue(
            id=str(dialogue_id),
            features={m: columns[m][bounds[i] : bounds[i + 1]] for m in dims},
            speakers=columns["speakers"][bounds[i] : bounds[i + 1]],
            labels=columns["labels"][bounds[i] : bounds[i + 1]],
        )
        for i, dialogue_id in enumerate(ids)
    ]
