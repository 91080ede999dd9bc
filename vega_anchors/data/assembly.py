"""Tensor assembly: read dialogue tables plus per-utterance features → :class:`Dialogue` records and a
:class:`FeatureSet` (:func:`build_dialogues`, :func:`build_feature_set`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .speakers import SpeakerMap
from .tables import DialogueTable, RawDialogue
from .types import Dialogue, FeatureSet

__all__ = ["build_dialogues", "build_feature_set", "table_record"]


def table_record(table: DialogueTable) -> dict[str, Any]:
    """What reading ``table`` found, JSON-ready: ``{"source", "counts", "turn_order", "label_mapping"}``
    (stored per split in ``FeatureSet.extras["tables"]`` and printed by ``build-features``)."""
    return {
        "source": table.source,
        "counts": dict(table.counts),
        "turn_order": dict(table.turn_order),
        "label_mapping": dict(table.label_mapping),
    }


def _modality_rows(value: Any, dialogue: RawDialogue, modality: str) -> torch.Tensor:
    arr = np.asarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] != dialogue.length:
        raise ValueError(
            f"dialogue {dialogue.id!r}: {modality} features have shape {arr.shape}, expected "
            f"[T={dialogue.length}, D] (one row per utterance, in utterance order)"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def build_dialogues(
    table: DialogueTable,
    features: Mapping[str, Mapping[str, Any]],
    speakers: SpeakerMap,
) -> list[Dialogue]:
    """:class:`Dialogue` records for every dialogue of ``table``.

    Args:
        table: one split.
        features: modality name → {dialogue id → ``[T, D_m]`` array}, one row per utterance in the
            table's (sorted) utterance order. Text features come from
            :func:`~vega_anchors.data.text.embed_tables`; audio/visual ones are yours (any per-utterance
            extractor, e.g. openSMILE or a face encoder) — same ``[T, D]`` shape per dialogue.
        speakers: the :class:`SpeakerMap` fitted on the training split.

    Raises:
        ValueError: a dialogue missing from a modality, or a shape that disagrees (named).
    """
    if not features:
        raise ValueError("give at least one modality: features={'text': {dialogue id: [T, D] array}}")
    out = []
    for dialogue in table.dialogues:
        rows = {}
        for modality, per_dialogue in features.items():
            if dialogue.id not in per_dialogue:
                raise ValueError(f"{modality} features have no entry for dialogue {dialogue.id!r} of {table.source}")
            rows[modality] = _modality_rows(per_dialogue[dialogue.id], dialogue, modality)
        out.append(
            Dialogue(
                id=dialogue.id,
                features=rows,
                speakers=torch.tensor(speakers.encode(dialogue.speakers), dtype=torch.long),
                labels=torch.tensor(dialogue.labels, dtype=torch.long),
            )
        )
    return out


def build_feature_set(
    tables: Mapping[str, DialogueTable],
    features: Mapping[str, Mapping[str, Mapping[str, Any]]],
    speakers: SpeakerMap,
    *,
    source: str = "",
) -> FeatureSet:
    """A :class:`FeatureSet` from per-split tables and features.

    Args:
        tables: ``{"train": ..., "dev": ..., "test": ...}`` (``dev`` optional).
        features: modality → split → {dialogue id → ``[T, D_m]``}, e.g. ``{"text": embed_tables(...)}``.
        speakers: fitted on ``tables["train"]``.
        source: recorded as ``FeatureSet.source`` (default: the train table's path).

    The speaker map is kept in ``extras["speaker_map"]`` and the id names in ``extras["speaker_names"]``;
    the table's utterance ids (per split, per dialogue: what ``vega-anchors predict`` writes, so its
    output joins the table) are in ``extras["utterance_ids"]``; tables with list-valued speaker cells
    add their counts as ``extras["speaker_cells"]`` (per split); what reading each table found (its
    counts, turn order and raw label → class mapping: :func:`table_record`) is ``extras["tables"]``.
    """
    unknown = set(tables) - {"train", "dev", "test"}
    if unknown or "train" not in tables:
        raise ValueError(f"tables must have a 'train' split and only train/dev/test; got {sorted(tables)}")
    label_sets = {split: t.label_names for split, t in tables.items()}
    if len(set(label_sets.values())) != 1:
        raise ValueError(f"splits disagree on label names: {label_sets}")
    splits: dict[str, list[Dialogue]] = {"train": [], "dev": [], "test": []}
    for split, table in tables.items():
        per_modality = {}
        for modality, by_split in features.items():
            if split not in by_split:
                raise ValueError(f"{modality} features have no {split!r} split; found {sorted(by_split)}")
            per_modality[modality] = by_split[split]
        splits[split] = build_dialogues(table, per_modality, speakers)
    dims = splits["train"][0].modality_dims
    return FeatureSet(
        train=splits["train"],
        test=splits["test"],
        dev=splits["dev"],
        label_names=tables["train"].label_names,
        num_speakers=speakers.num_speakers,
        modality_dims=dict(dims),
        layout="table",
        source=source or tables["train"].source,
        extras={
            "speaker_names": speakers.id_names,
            "speaker_map": speakers.to_dict(),
            "utterance_ids": {split: [d.utterance_ids for d in t.dialogues] for split, t in tables.items()},
            "tables": {split: table_record(t) for split, t in tables.items()},
            **(
                {"speaker_cells": {split: dict(t.speaker_cells) for split, t in tables.items()}}
                if any(t.speaker_cells for t in tables.values())
                else {}
            ),
        },
    )
