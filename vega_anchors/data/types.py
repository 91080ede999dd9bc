"""The data types every part of the library shares: one dialogue, a padded batch, a split dataset.

A :class:`Dialogue` holds one conversation (``T`` utterances, any set of named modalities); a
:class:`DialogueBatch` is ``B`` of them zero-padded to the longest, with an explicit mask
(``True`` = real utterance); a :class:`FeatureSet` is a dataset's dialogues by split, with what is
needed to build a model for it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..labels import EMOTION_LABELS

__all__ = ["Dialogue", "DialogueBatch", "FeatureSet"]


def _as_long(value: Tensor, what: str) -> Tensor:
    if not isinstance(value, Tensor):
        value = torch.as_tensor(np.asarray(value))
    if value.is_floating_point() or value.is_complex():
        raise TypeError(f"{what} must hold integers, got dtype {value.dtype}")
    return value.to(torch.long)


@dataclass
class Dialogue:
    """One conversation.

    Attributes:
        id: dialogue identifier (the key in the feature file).
        features: modality name → ``[T, D_m]`` float features (e.g. ``"text"``, ``"audio"``,
            ``"visual"``; any names work). Every modality has the same ``T`` rows. Arrays that are
            not tensors are converted to float32 tensors.
        speakers: ``[T]`` long speaker ids ``0..S-1`` (integer arrays are converted to long).
        labels: ``[T]`` long class ids; ``-1`` marks an unlabelled utterance.

    Raises:
        ValueError: naming the dialogue and modality when the shapes disagree.
    """

    id: str
    features: dict[str, Tensor]
    speakers: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError(f"dialogue {self.id!r} has no modalities; give at least one feature array")
        self.features = dict(self.features)  # conversions below must not touch the caller's dict
        self.speakers = _as_long(self.speakers, f"dialogue {self.id!r} speakers")
        self.labels = _as_long(self.labels, f"dialogue {self.id!r} labels")
        if self.speakers.ndim != 1:
            raise ValueError(f"dialogue {self.id!r}: speakers must be 1-D [T], got shape {tuple(self.speakers.shape)}")
        length = self.speakers.shape[0]
        if length == 0:
            raise ValueError(f"dialogue {self.id!r} has no utterances")
        if tuple(self.labels.shape) != (length,):
            raise ValueError(
                f"dialogue {self.id!r}: labels have shape {tuple(self.labels.shape)}, "
                f"expected ({length},) to match speakers"
            )
        for name in list(self.features):
            value = self.features[name]
            if not isinstance(value, Tensor):
                value = torch.as_tensor(np.asarray(value, dtype=np.float32))
                self.features[name] = value
            if value.ndim != 2:
                raise ValueError(
                    f"dialogue {self.id!r}: {name} features must be 2-D [T, D], got shape {tuple(value.shape)}"
                )
            if value.shape[0] != length:
                raise ValueError(
                    f"dialogue {self.id!r}: {name} features have {value.shape[0]} rows, "
                    f"but the dialogue has {length} utterances (speakers/labels)"
                )
            if not value.is_floating_point():
                raise TypeError(f"dialogue {self.id!r}: {name} features must be floating, got {value.dtype}")

    @property
    def length(self) -> int:
        """Number of utterances ``T``."""
        return int(self.speakers.shape[0])

    @property
    def modality_dims(self) -> dict[str, int]:
        """Modality name → feature dimension ``D_m``."""
        return {name: int(value.shape[1]) for name, value in self.features.items()}


@dataclass
class DialogueBatch:
    """``B`` dialogues padded to the longest (``T`` utterances).

    Attributes:
        features: modality name → ``[B, T, D_m]`` float features, zero at padding.
        utterance_mask: ``[B, T]`` bool, ``True`` = real utterance.
        speakers: ``[B, T]`` long speaker ids, ``0`` at padding.
        labels: ``[B, T]`` long class ids, ``-1`` at padding (and at unlabelled utterances).
        lengths: ``[B]`` long dialogue lengths.
        dialogue_ids: the ``B`` dialogue ids, in batch order.
    """

    features: dict[str, Tensor]
    utterance_mask: Tensor
    speakers: Tensor
    labels: Tensor
    lengths: Tensor
    dialogue_ids: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> DialogueBatch:
        """A copy with every tensor moved to ``device``."""
        return DialogueBatch(
            features={k: v.to(device, non_blocking=non_blocking) for k, v in self.features.items()},
            utterance_mask=self.utterance_mask.to(device, non_blocking=non_blocking),
            speakers=self.speakers.to(device, non_blocking=non_blocking),
            labels=self.labels.to(device, non_blocking=non_blocking),
            lengths=self.lengths.to(device, non_blocking=non_blocking),
            dialogue_ids=list(self.dialogue_ids),
        )

    def pin_memory(self) -> DialogueBatch:
        """A copy in page-locked memory (called by ``DataLoader(pin_memory=True)``)."""
        return DialogueBatch(
            features={k: v.pin_memory() for k, v in self.features.items()},
            utterance_mask=self.utterance_mask.pin_memory(),
            speakers=self.speakers.pin_memory(),
            labels=self.labels.pin_memory(),
            lengths=self.lengths.pin_memory(),
            dialogue_ids=list(self.dialogue_ids),
        )

    def model_inputs(self) -> dict[str, Tensor]:
        """Keyword arguments for a model: ``{**features, "utterance_mask": ..., "speakers": ...}``."""
        return {**self.features, "utterance_mask": self.utterance_mask, "speakers": self.speakers}

    @property
    def batch_size(self) -> int:
        """Number of dialogues ``B``."""
        return int(self.utterance_mask.shape[0])

    @property
    def num_utterances(self) -> int:
        """Number of real (unpadded) utterances in the batch."""
        return int(self.lengths.sum())


@dataclass
class FeatureSet:
    """A dataset's dialogues, split, with what is needed to build a model for it.

    Attributes:
        train: training dialogues (MELD's official files fold its dev split in here).
        test: test dialogues.
        dev: validation dialogues (empty for the official layouts, which carry none).
        label_names: class names in label-id order.
        num_speakers: number of speaker ids ``S`` (ids are ``0..S-1``).
        modality_dims: modality name → feature width ``D_m``.
        layout: the file layout (``"vega"``, ``"dialoguernn"``, ``"sdt"``) or ``"synthetic"``.
        source: the file path, or ``"synthetic"``.
        synthetic: ``True`` for generated data (:func:`~vega_anchors.data.synthetic_dialogues`).
        extras: fields kept for a faithful re-save (e.g. MELD's ``"trailing_field"``).
    """

    train: list[Dialogue]
    test: list[Dialogue]
    dev: list[Dialogue]
    label_names: tuple[str, ...]
    num_speakers: int
    modality_dims: dict[str, int]
    layout: str
    source: str
    synthetic: bool = False
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return len(self.label_names)

    @property
    def dataset(self) -> str | None:
        """``"iemocap"``/``"meld"`` when the label names are one of those sets, else ``None``."""
        for name, labels in EMOTION_LABELS.items():
            if tuple(self.label_names) == labels:
                return name
        return None

    def splits(self) -> dict[str, list[Dialogue]]:
        """``{"train": ..., "dev": ..., "test": ...}``."""
        return {"train": self.train, "dev": self.dev, "test": self.test}

    def summary(self) -> str:
        """A few readable lines: source, layout, shapes, split sizes and the training label counts."""
        dims = ", ".join(f"{k} {v}" for k, v in self.modality_dims.items())
        lines = [
            f"FeatureSet from {self.source} (layout {self.layout}{', synthetic' if self.synthetic else ''})",
            f"  classes ({self.num_classes}): {', '.join(self.label_names)}",
            f"  speakers: {self.num_speakers}; modalities: {dims}",
        ]
        for name, dialogues in self.splits().items():
            lengths = [d.length for d in dialogues]
            if lengths:
                lines.append(
                    f"  {name}: {len(dialogues)} dialogues, {sum(lengths)} utterances "
                    f"(length {min(lengths)}–{max(lengths)}, mean {np.mean(lengths):.1f})"
                )
            else:
                lines.append(f"  {name}: empty")
        counts: Counter[int] = Counter()
        for dialogue in self.train:
            counts.update(dialogue.labels[dialogue.labels >= 0].tolist())
        if counts:
            parts = [f"{self.label_names[c]} {counts.get(c, 0)}" for c in range(self.num_classes)]
            lines.append("  train labels: " + ", ".join(parts))
        return "\n".join(lines)
