"""Dialogues to batches: a dataset, padding collation, length bucketing, the validation split.

:func:`collate_dialogues` pads :class:`~vega_anchors.data.types.Dialogue` records into a
:class:`~vega_anchors.data.types.DialogueBatch`; :class:`LengthBucketBatchSampler` groups dialogues
of similar length so batches carry little padding.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from .types import Dialogue, DialogueBatch

logger = logging.getLogger(__name__)

__all__ = [
    "Dialogue",
    "DialogueBatch",
    "DialogueDataset",
    "LengthBucketBatchSampler",
    "collate_dialogues",
    "split_validation",
]


class DialogueDataset(Dataset[Dialogue]):
    """A map-style dataset over :class:`Dialogue` records (use with :func:`collate_dialogues`)."""

    def __init__(self, dialogues: Sequence[Dialogue]) -> None:
        self.dialogues = list(dialogues)
        if self.dialogues:
            reference = self.dialogues[0].modality_dims
            for dialogue in self.dialogues[1:]:
                if dialogue.modality_dims != reference:
                    raise ValueError(
                        f"dialogue {dialogue.id!r} has modalities {dialogue.modality_dims}, but "
                        f"dialogue {self.dialogues[0].id!r} has {reference}; all dialogues must agree"
                    )

    def __len__(self) -> int:
        return len(self.dialogues)

    def __getitem__(self, index: int) -> Dialogue:
        return self.dialogues[index]

    @property
    def lengths(self) -> list[int]:
        """Utterance count of every dialogue (for :class:`LengthBucketBatchSampler`)."""
        return [d.length for d in self.dialogues]

    @property
    def modality_dims(self) -> dict[str, int]:
        """Modality name → feature dimension (empty for an empty dataset)."""
        return self.dialogues[0].modality_dims if self.dialogues else {}


def collate_dialogues(items: Sequence[Dialogue]) -> DialogueBatch:
    """Pad ``B`` dialogues into a :class:`DialogueBatch`.

    Features are zero-padded to ``[B, T_max, D_m]``; speakers get ``0`` and labels ``-1`` at
    padding; ``utterance_mask`` is ``True`` at real utterances.
    """
    if len(items) == 0:
        raise ValueError("cannot collate an empty list of dialogues")
    first = items[0]
    dims = first.modality_dims
    for item in items[1:]:
        if item.modality_dims != dims:
            raise ValueError(
                f"cannot batch dialogue {item.id!r} (modalities {item.modality_dims}) with "
                f"dialogue {first.id!r} (modalities {dims})"
            )
    batch_size = len(items)
    lengths = torch.tensor([item.length for item in items], dtype=torch.long)
    max_len = int(lengths.max())
    features: dict[str, Tensor] = {}
    for name, dim in dims.items():
        dtype = first.features[name].dtype
        padded = torch.zeros(batch_size, max_len, dim, dtype=dtype)
        for b, item in enumerate(items):
            padded[b, : item.length] = item.features[name]
        features[name] = padded
    speakers = torch.zeros(batch_size, max_len, dtype=torch.long)
    labels = torch.full((batch_size, max_len), -1, dtype=torch.long)
    for b, item in enumerate(items):
        speakers[b, : item.length] = item.speakers
        labels[b, : item.length] = item.labels
    mask = torch.arange(max_len).unsqueeze(0) < lengths.unsqueeze(1)
    return DialogueBatch(
        features=features,
        utterance_mask=mask,
        speakers=speakers,
        labels=labels,
        lengths=lengths,
        dialogue_ids=[item.id for item in items],
    )


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of dialogues of similar length, to cut padding.

    With ``shuffle=True``, each epoch the indices are shuffled, cut into pools of
    ``batch_size * bucket_size_multiplier``, each pool is sorted by length and cut into batches,
    and the batch order is shuffled. With ``shuffle=False`` the dialogues are sorted by length
    (stable) and batched in that order. The order depends only on ``(seed, epoch)``; call
    :meth:`set_epoch` before each epoch (as with ``DistributedSampler``).

    Every index appears exactly once per epoch, unless ``drop_last=True`` drops the single
    incomplete batch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        bucket_size_multiplier: int = 50,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if bucket_size_multiplier < 1:
            raise ValueError(f"bucket_size_multiplier must be >= 1, got {bucket_size_multiplier}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1:
            raise ValueError(f"lengths must be a flat sequence of ints, got shape {self.lengths.shape}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket_size_multiplier = bucket_size_multiplier
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that, with ``seed``, fixes the order of the next iteration."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        else:
            rng = np.random.default_rng([self.seed, self.epoch])
            perm = rng.permutation(n)
            pool = self.batch_size * self.bucket_size_multiplier
            batches = []
            for start in range(0, n, pool):
                chunk = perm[start : start + pool]
                chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
                batches.extend(chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 1]).permutation(len(batches))
            batches = [batches[i] for i in order]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def split_validation(
    dialogues: Sequence[Dialogue], fraction: float = 0.1, seed: int = 0
) -> tuple[list[Dialogue], list[Dialogue]]:
    """Hold out ``round(fraction * N)`` whole dialogues (at least one when ``fraction > 0``).

    Returns ``(train, validation)``, each in the input order. Deterministic for a given ``seed``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    n = len(dialogues)
    num_val = round(fraction * n)
    if fraction > 0 and num_val == 0 and n >= 2:
        num_val = 1
    if num_val >= n and n > 0:
        raise ValueError(f"fraction {fraction} of {n} dialogues leaves no training dialogues")
    held = set(np.random.default_rng(seed).permutation(n)[:num_val].tolist())
    train = [d for i, d in enumerate(dialogues) if i not in held]
    val = [d for i, d in enumerate(dialogues) if i in held]
    logger.debug("split %d dialogues into %d train / %d validation", n, len(train), len(val))
    return train, val
