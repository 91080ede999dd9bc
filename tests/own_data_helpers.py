"""Small generated dialogue tables and feature stores for the own-data tests (no downloads)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vega_anchors.data import SpeakerMap, build_feature_set, load_dialogue_tables, save_features

SPEAKERS = ["['Monica Geller']", "['Joey Tribbiani']", '["Ross Geller"]', "['Chandler Bing', 'Joey Tribbiani']"]


def write_friends_table(
    path: Path, labels: Sequence[str], *, seasons: int = 2, episodes: int = 2, scenes: int = 3, seed: int = 0
) -> Path:
    """An EmoryNLP-like CSV: dialogue key = (Season, Episode, Scene_ID), utterance ids restart per scene
    (and repeat across seasons), list-literal speaker cells, labels from ``labels``."""
    rng = np.random.default_rng(seed)
    rows = []
    for season in range(1, seasons + 1):
        for episode in range(1, episodes + 1):
            for scene in range(1, scenes + 1):
                for utterance in range(int(rng.integers(3, 7))):
                    label = labels[int(rng.integers(len(labels)))]
                    rows.append(
                        {
                            "Season": season,
                            "Episode": episode,
                            "Scene_ID": scene,
                            "Utterance_ID": utterance,
                            "Speaker": SPEAKERS[int(rng.integers(len(SPEAKERS)))],
                            "Transcript": f"I feel {label} now, number {utterance}",
                            "Emotion": label,
                        }
                    )
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


COLUMNS = dict(dialogue=("Season", "Episode", "Scene_ID"), text="Transcript")


def write_store(
    directory: Path, labels: Sequence[str], *, dim: int = 8, dev: bool = True, encoder: dict | None = None
) -> Path:
    """Tables for train/dev/test → a store whose text features carry the class (one-hot block + noise)."""
    from vega_anchors.data import TableColumns

    paths = {
        "train": write_friends_table(directory / "train.csv", labels, seasons=3, seed=0),
        "dev": write_friends_table(directory / "dev.csv", labels, seed=1) if dev else None,
        "test": write_friends_table(directory / "test.csv", labels, seed=2),
    }
    tables = load_dialogue_tables(paths, columns=TableColumns(**COLUMNS), label_names="auto")
    rng = np.random.default_rng(0)
    k = len(tables["train"].label_names)

    def feats(table):
        out = {}
        for d in table.dialogues:
            x = rng.normal(scale=0.5, size=(d.length, dim)).astype("float32")
            for t, y in enumerate(d.labels):
                x[t, y % dim] += 2.0 + (y // dim)
            out[d.id] = x
        return out

    text = {split: feats(t) for split, t in tables.items()}
    features = build_feature_set(tables, {"text": text}, SpeakerMap.fit(tables["train"], top_n=3))
    if encoder is not None:
        features.extras["encoder"] = encoder
    assert features.num_classes == k
    return save_features(features, directory / "features.safetensors")
