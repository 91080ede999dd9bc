"""Label sets, the paper's class weights and label-name aliases."""

from __future__ import annotations

EMOTION_LABELS: dict[str, tuple[str, ...]] = {
    "iemocap": ("happy", "sad", "neutral", "anger", "excited", "frustration"),
    "meld": ("neutral", "surprise", "fear", "sad", "happy", "disgust", "anger"),
}
"""Ordered class names per dataset, in the label order of the official feature files."""

CLASS_WEIGHTS: dict[str, tuple[float, ...]] = {
    "iemocap": (2.85339499, 1.70571959, 1.08255267, 1.67633724, 1.77617681, 1.0),
    "meld": (1.0, 3.93398523, 17.97765350, 6.42315388, 2.78856158, 17.82825470, 4.00497818),
}
"""The class weights of the official training code (same order as :data:`EMOTION_LABELS`)."""

LABEL_ALIASES: dict[str, str] = {
    "angry": "anger",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "frustrated": "frustration",
    "neu": "neutral",
    "hap": "happy",
    "ang": "anger",
    "exc": "excited",
    "fru": "frustration",
    "surprised": "surprise",
    "fearful": "fear",
    "disgusted": "disgust",
}
"""Common spellings of emotion names (folder names, MELD's ``joy``/``sadness``) → canonical names."""


def canonical_label(name: str) -> str:
    """Lower-case ``name`` and map a known alias to its canonical class name (``Angry`` → ``anger``)."""
    key = name.strip().lower()
    return LABEL_ALIASES.get(key, key)
