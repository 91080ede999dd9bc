"""Synthetic dialogues shaped like IEMOCAP and MELD, with a learnable, context-dependent signal.

For demos, tests and benchmarks without the (licensed) real features. The generator mimics the
real sets' split sizes, dialogue lengths, speaker counts, class frequencies and feature widths:

* Labels follow a Markov chain along each dialogue: an utterance repeats its speaker's previous
  emotion (``persist``), or the previous utterance's emotion (``contagion``), or draws a fresh one
  from the class prior. Every label is marginally distributed as the prior.
* Each modality has random unit class directions ``u_c``; an utterance's features are
  ``signal · w_m · s · u_y + ε`` with ``ε ~ N(0, I)``, a per-modality strength ``w_m`` (text >
  audio > visual) and a per-utterance strength ``s``. A fraction of utterances (``weak_fraction``)
  has almost no own signal (``s = 0.1``), so their emotion can only be recovered from context.
* A per-dialogue offset (shared by all its utterances) adds nuisance that context can cancel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..labels import EMOTION_LABELS
from .types import Dialogue, FeatureSet

logger = logging.getLogger(__name__)

__all__ = ["SYNTHETIC_PRESETS", "SyntheticPreset", "synthetic_dialogues"]


@dataclass(frozen=True)
class SyntheticPreset:
    """Shape of a synthetic dataset (defaults of :func:`synthetic_dialogues`)."""

    dataset: str
    num_train: int
    num_test: int
    train_utterances: int
    test_utterances: int
    min_length: int
    max_length: int
    num_speakers: int
    class_counts: tuple[int, ...]
    modality_dims: tuple[tuple[str, int], ...]
    persist: float
    contagion: float


SYNTHETIC_PRESETS: dict[str, SyntheticPreset] = {
    "iemocap": SyntheticPreset(
        dataset="iemocap",
        num_train=120,
        num_test=31,
        train_utterances=5810,
        test_utterances=1623,
        min_length=8,
        max_length=110,
        num_speakers=2,
        # happy, sad, neutral, anger, excited, frustration (IEMOCAP totals)
        class_counts=(648, 1084, 1708, 1103, 1041, 1849),
        modality_dims=(("text", 1024), ("audio", 1582), ("visual", 342)),
        persist=0.1,
        contagion=0.75,
    ),
    "meld": SyntheticPreset(
        dataset="meld",
        num_train=1153,  # train (1039) + dev (114), as in the official files
        num_test=280,
        train_utterances=11098,
        test_utterances=2610,
        min_length=1,
        max_length=24,
        num_speakers=9,
        # neutral, surprise, fear, sad, happy, disgust, anger (MELD totals)
        class_counts=(6436, 1636, 358, 1002, 2308, 361, 1607),
        modality_dims=(("text", 1024), ("audio", 300), ("visual", 342)),
        persist=0.15,
        contagion=0.55,
    ),
}
"""Presets shaped like the official IEMOCAP and MELD feature files."""

_MODALITY_STRENGTH: dict[str, float] = {"text": 1.0, "audio": 0.7, "visual": 0.5}
_WEAK_STRENGTH = 0.1


def _lengths(rng: np.random.Generator, count: int, total: int, low: int, high: int, skewed: bool) -> np.ndarray:
    """``count`` lengths in ``[low, high]`` summing to ``total`` (clipped to what is reachable)."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    mean = total / count
    if skewed:  # MELD: many short dialogues, a long tail
        raw = rng.gamma(shape=2.0, scale=mean / 2.0, size=count)
    else:  # IEMOCAP: broad spread around the mean
        raw = rng.normal(mean, 0.45 * mean, size=count)
    lengths = np.clip(np.rint(raw), low, high).astype(np.int64)
    total = int(np.clip(total, low * count, high * count))
    while (diff := total - int(lengths.sum())) != 0:
        room = lengths < high if diff > 0 else lengths > low
        candidates = np.flatnonzero(room)
        pick = rng.choice(candidates, size=min(abs(diff), len(candidates)), replace=False)
        lengths[pick] += 1 if diff > 0 else -1
    return lengths


def _speaker_sequence(rng: np.random.Generator, length: int, num_speakers: int) -> np.ndarray:
    """Speaker ids ``[T]``: mostly alternating turns (dyadic) or 2-5 participants in order of appearance."""
    if num_speakers <= 2:
        # dyadic: mostly alternating turns
        speakers = np.empty(length, dtype=np.int64)
        speakers[0] = rng.integers(num_speakers)
        for t in range(1, length):
            switch = num_speakers == 2 and rng.random() < 0.8
            speakers[t] = 1 - speakers[t - 1] if switch else speakers[t - 1]
        return speakers
    # multi-party: 2..min(5, S) participants, ids in order of first appearance (as in MELD's files)
    participants = int(rng.integers(2, min(5, num_speakers) + 1))
    raw = rng.integers(participants, size=length)
    _, first = np.unique(raw, return_index=True)
    order = raw[np.sort(first)]
    remap = {int(s): i for i, s in enumerate(order)}
    return np.array([remap[int(s)] for s in raw], dtype=np.int64)


def _label_sequence(
    rng: np.random.Generator, speakers: np.ndarray, prior: np.ndarray, persist: float, contagion: float
) -> np.ndarray:
    """Emotion labels ``[T]`` from the persist/contagion Markov chain over ``prior``."""
    length = len(speakers)
    fresh = rng.choice(len(prior), size=length, p=prior)
    coin = rng.random(length)
    labels = np.empty(length, dtype=np.int64)
    last: dict[int, int] = {}
    for t in range(length):
        speaker = int(speakers[t])
        if coin[t] < persist and speaker in last:
            labels[t] = last[speaker]
        elif coin[t] < persist + contagion and t > 0:
            labels[t] = labels[t - 1]
        else:
            labels[t] = fresh[t]
        last[speaker] = int(labels[t])
    return labels


def _checked_shape(
    preset: str,
    weak_fraction: float,
    modality_dims: dict[str, int] | None,
    num_train: int | None,
    num_test: int | None,
) -> tuple[SyntheticPreset, dict[str, int], dict[str, int], dict[str, int]]:
    """Validate the arguments: ``(preset spec, modality widths, dialogue counts, utterance totals)`` per split."""
    if preset not in SYNTHETIC_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(SYNTHETIC_PRESETS)}")
    if not 0.0 <= weak_fraction <= 1.0:
        raise ValueError(f"weak_fraction must be in [0, 1], got {weak_fraction}")
    spec = SYNTHETIC_PRESETS[preset]
    dims = dict(spec.modality_dims) if modality_dims is None else dict(modality_dims)
    if not dims or any(int(d) < 1 for d in dims.values()):
        raise ValueError(f"modality_dims must map at least one modality to a positive width, got {dims}")
    counts = {
        "train": spec.num_train if num_train is None else num_train,
        "test": spec.num_test if num_test is None else num_test,
    }
    for split, n in counts.items():
        if n < 0:
            raise ValueError(f"num_{split} must be >= 0, got {n}")
    totals = {
        "train": round(spec.train_utterances * counts["train"] / spec.num_train),
        "test": round(spec.test_utterances * counts["test"] / spec.num_test),
    }
    return spec, dims, counts, totals


def _class_directions(rng: np.random.Generator, dims: dict[str, int], num_classes: int) -> dict[str, np.ndarray]:
    """Random unit class directions ``[C, D_m]`` (float32) per modality."""
    directions: dict[str, np.ndarray] = {}
    for name, dim in dims.items():
        u = rng.standard_normal((num_classes, dim))
        directions[name] = (u / np.linalg.norm(u, axis=1, keepdims=True)).astype(np.float32)
    return directions


def _dialogue(
    rng: np.random.Generator,
    dialogue_id: str,
    length: int,
    spec: SyntheticPreset,
    prior: np.ndarray,
    directions: dict[str, np.ndarray],
    signal: float,
    weak_fraction: float,
) -> Dialogue:
    """One dialogue of ``length`` utterances: speakers and labels ``[T]``, features ``[T, D_m]``."""
    speakers = _speaker_sequence(rng, length, spec.num_speakers)
    labels = _label_sequence(rng, speakers, prior, spec.persist, spec.contagion)
    strength = np.where(rng.random(length) < weak_fraction, _WEAK_STRENGTH, 1.0).astype(np.float32)
    features = {}
    for name, direction in directions.items():
        dim = direction.shape[1]
        scale = signal * _MODALITY_STRENGTH.get(name, 0.6) * 3.0
        x = rng.standard_normal((length, dim), dtype=np.float32)
        x += 0.5 * rng.standard_normal((1, dim), dtype=np.float32)  # dialogue-level nuisance
        x += (scale * strength)[:, None] * direction[labels]
        features[name] = torch.from_numpy(x)
    return Dialogue(
        id=dialogue_id,
        features=features,
        speakers=torch.from_numpy(speakers),
        labels=torch.from_numpy(labels),
    )


def synthetic_dialogues(
    preset: str = "iemocap",
    seed: int = 0,
    *,
    modality_dims: dict[str, int] | None = None,
    num_train: int | None = None,
    num_test: int | None = None,
    signal: float = 1.0,
    weak_fraction: float = 0.3,
) -> FeatureSet:
    """Generate a :class:`FeatureSet` shaped like IEMOCAP or MELD (see the module docstring).

    Args:
        preset: ``"iemocap"`` (120/31 dialogues, 5810/1623 utterances, lengths 8–110, 2 speakers,
            6 classes, dims text 1024 / audio 1582 / visual 342) or ``"meld"`` (1153/280 dialogues,
            11098/2610 utterances, lengths 1–24, 9 speakers, 7 neutral-heavy classes, audio 300).
        seed: seeds a ``numpy.random.Generator``; equal seeds give identical sets.
        modality_dims: modality name → width, to override the preset (small widths make fast demos;
            any names work; unknown names get strength 0.6).
        num_train, num_test: dialogue counts (utterance totals scale with them).
        signal: scales every class signal (0 gives pure noise; larger is easier).
        weak_fraction: share of utterances whose own features carry almost no signal.

    Returns:
        A :class:`FeatureSet` with ``synthetic=True``, ``source="synthetic"``,
        ``layout="synthetic"``, empty ``dev``; features ``[T, D_m]`` float32.
    """
    spec, dims, counts, totals = _checked_shape(preset, weak_fraction, modality_dims, num_train, num_test)
    rng = np.random.default_rng(seed)
    prior = np.asarray(spec.class_counts, dtype=np.float64)
    prior /= prior.sum()
    directions = _class_directions(rng, dims, len(prior))

    splits: dict[str, list[Dialogue]] = {}
    for split in ("train", "test"):
        lengths = _lengths(rng, counts[split], totals[split], spec.min_length, spec.max_length, skewed=preset == "meld")
        splits[split] = [
            _dialogue(rng, f"{preset}_{split}_{i:04d}", length, spec, prior, directions, signal, weak_fraction)
            for i, length in enumerate(lengths.tolist())
        ]

    result = FeatureSet(
        train=splits["train"],
        test=splits["test"],
        dev=[],
        label_names=EMOTION_LABELS[spec.dataset],
        num_speakers=spec.num_speakers,
        modality_dims={name: int(dim) for name, dim in dims.items()},
        layout="synthetic",
        source="synthetic",
        synthetic=True,
    )
    logger.debug("generated %s", result.summary())
    return result
