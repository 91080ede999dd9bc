"""A tiny random BERT with its tokenizer (no downloads) and small labelled dialogue tables."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from vega_anchors.data.tables import DialogueTable, RawDialogue, load_dialogue_table

WORDS = ["good", "bad", "happy", "sad", "angry", "okay", "yes", "no", "wow", "what", "really", "fine", "great", "hate"]
SPEAKERS = ["ann", "bob"]
LABELS = ("neutral", "joy", "anger")


def write_tiny_bert(directory: Path, *, tokenizer: bool = True) -> Path:
    """A 2-layer, 32-wide random BERT (+ a word-level WordPiece tokenizer when ``tokenizer``) in ``directory``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "|", ":", ".", "?", *WORDS, *SPEAKERS]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(directory)
    if tokenizer:
        BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(directory)
    return directory


def write_table(path: Path, dialogues: int, *, seed: int, labels: tuple[str, ...] = LABELS, start: int = 0) -> Path:
    """A MELD-layout CSV: ``dialogues`` dialogues of 3–6 turns; the label follows the first word, so it is learnable."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(start, start + dialogues):
        for u in range(int(rng.integers(3, 7))):
            label = int(rng.integers(len(labels)))
            first = WORDS[label]  # good / bad / happy mark the classes
            text = " ".join([first, *rng.choice(WORDS[3:], size=int(rng.integers(1, 5)))]) + "."
            rows.append({"Dialogue_ID": d, "Utterance_ID": u, "Speaker": SPEAKERS[u % 2], "Utterance": text,
                         "Emotion": labels[label]})  # fmt: skip
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_table(path: Path) -> DialogueTable:
    return load_dialogue_table(path, label_names=list(LABELS))


def dialogue(texts: list[str], speakers: list[str] | None = None) -> RawDialogue:
    speakers = speakers or [SPEAKERS[i % 2] for i in range(len(texts))]
    return RawDialogue("d0", [str(i) for i in range(len(texts))], speakers, texts, [0] * len(texts))
