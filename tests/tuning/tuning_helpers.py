"""A tiny feature store and fast tune settings for the tuning tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from own_data_helpers import write_store

from vega_anchors.data import load_features, save_features

FAST = {"train": {"epochs": 2}}
SPACE = {  # small models: a trial takes well under a second
    "model.hidden_dim": {"type": "categorical", "choices": [16, 32]},
    "model.num_heads": {"type": "categorical", "choices": [2, 4]},
}


def tiny_store(directory: Path, labels: tuple[str, ...] = ("a", "b", "c")) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return write_store(directory, list(labels))


def with_garbage_test(store: Path, out: Path) -> Path:
    """A copy of ``store`` whose test split holds NaN features and labels no class has: any read of it
    breaks (``load_features`` refuses the labels, training on it gives NaN)."""
    fs = load_features(store)
    test = [
        dataclasses.replace(
            d,
            features={m: torch.full_like(x, float("nan")) for m, x in d.features.items()},
            labels=torch.full_like(d.labels, 99),
        )
        for d in fs.test
    ]
    return save_features(dataclasses.replace(fs, test=test), out)
