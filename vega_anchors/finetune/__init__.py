"""Fine-tuned, context-aware text features: ``vega-anchors finetune-text`` from Python.

:func:`finetune_text` fine-tunes any Hugging Face encoder on a dialogue table's labels, each
utterance read with its speaker-tagged neighbouring turns (:func:`dialogue_inputs`), and writes an
encoder directory that ``build-features --encoder DIR`` (:func:`embed_finetuned`) reads the same way;
``--folds k`` adds cross-fitted training features. ``transformers`` is imported only when used.
"""

from __future__ import annotations

from ._files import read_provenance
from ._train import TextClassifier, make_optimizer, train_epoch
from .api import assign_folds, finetune_text, load_tokenizer
from .config import FOLDS_DIR, PROVENANCE_FILE, FinetuneConfig, FinetuneResult
from .encode import embed_finetuned, is_finetuned
from .inputs import CONTEXT_JOIN, UtteranceInput, collate, dialogue_inputs, length_batches, turn_lines

__all__ = [
    "CONTEXT_JOIN",
    "FOLDS_DIR",
    "PROVENANCE_FILE",
    "FinetuneConfig",
    "FinetuneResult",
    "TextClassifier",
    "UtteranceInput",
    "assign_folds",
    "collate",
    "dialogue_inputs",
    "embed_finetuned",
    "finetune_text",
    "is_finetuned",
    "length_batches",
    "load_tokenizer",
    "make_optimizer",
    "read_provenance",
    "train_epoch",
    "turn_lines",
]
