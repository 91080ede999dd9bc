"""``finetune_text``: fine-tune a Hugging Face encoder on a dialogue table's labels, with context,
dev-selected, optionally cross-fitted, written atomically as an encoder directory."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import publish_dir
from ..data.tables import DialogueTable
from ..errors import ConfigError
from ._files import has_tokenizer, write_provenance
from ._train import RunOutcome, run_finetune
from .config import FOLDS_DIR, FinetuneConfig, FinetuneResult
from .inputs import UtteranceInput, dialogue_inputs

logger = logging.getLogger(__name__)

__all__ = ["assign_folds", "finetune_text", "load_tokenizer"]

_FORMAT = "vega-anchors finetune-text"


def load_tokenizer(encoder: str | os.PathLike[str]) -> Any:
    """The tokenizer of ``encoder`` (hub name or directory); a directory without one is refused."""
    fix = "save the tokenizer in it too (tokenizer.save_pretrained(DIR)) or point at the base model's directory"
    if not has_tokenizer(encoder):
        raise ConfigError(
            f"encoder directory {encoder} has no tokenizer (no tokenizer.json, vocab.txt or tokenizer_config.json)",
            python_fix=f"pass encoder= a directory with tokenizer files; {fix}",
            cli_fix=f"give --encoder a directory with tokenizer files; {fix}",
        )
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(encoder))
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot load a tokenizer from encoder {encoder} ({err})",
            python_fix=f"pass encoder= a hub name or a directory with tokenizer files; {fix}",
            cli_fix=f"give --encoder a hub name or a directory with tokenizer files; {fix}",
        ) from err


def assign_folds(dialogue_ids: Sequence[str], k: int, *, seed: int = 0) -> dict[str, int]:
    """Dialogue id → fold in ``0..k-1``: a seeded shuffle dealt round-robin (fold sizes differ by at most 1)."""
    if k < 2 or k > len(dialogue_ids):
        raise ValueError(f"folds must be between 2 and the number of training dialogues ({len(dialogue_ids)}), got {k}")
    order = np.random.default_rng(seed).permutation(len(dialogue_ids))
    return {dialogue_ids[int(j)]: n % k for n, j in enumerate(order)}


def _check_labels(train: DialogueTable, dev: DialogueTable | None) -> None:
    """Refuse dev labels that no training utterance carries (the head could never predict them)."""
    counts = train.label_counts()
    if sum(counts.values()) == 0:
        raise ConfigError(
            f"the training table {train.source} has no labels",
            python_fix="pass a labelled training table (columns=TableColumns(label=...))",
            cli_fix="give a labelled --train table (--label-column NAME)",
        )
    if dev is None:
        return
    absent = {name: n for name, n in dev.label_counts().items() if n and not counts.get(name)}
    if absent:
        raise ConfigError(
            f"dev labels {absent} (utterances per class) never occur in the training table {train.source}",
            python_fix="pass label_names= only the classes the training table has, or add training examples",
            cli_fix="give --labels only the classes the training table has, or add training examples",
        )


def _selection_split(train: DialogueTable, dev: DialogueTable | None, cfg: FinetuneConfig) -> tuple[list, list, str]:
    """(training dialogues, selection dialogues, "dev" | "train-holdout")."""
    if dev is not None and any(label >= 0 for d in dev.dialogues for label in d.labels):
        return list(train.dialogues), list(dev.dialogues), "dev"
    n = max(1, round(cfg.holdout * len(train.dialogues)))
    if len(train.dialogues) < 2:
        raise ConfigError("one training dialogue and no dev split", python_fix="pass dev=", cli_fix="give --dev")
    picked = set(np.random.default_rng(cfg.seed).permutation(len(train.dialogues))[:n].tolist())
    logger.warning("no labelled dev split: selecting on %d held-out training dialogues (%.0f%%)", n, 100 * cfg.holdout)
    kept = [d for i, d in enumerate(train.dialogues) if i not in picked]
    return kept, [d for i, d in enumerate(train.dialogues) if i in picked], "train-holdout"


def _inputs(dialogues: Sequence[Any], tokenizer: Any, cfg: FinetuneConfig, *, labelled: bool) -> list[UtteranceInput]:
    """Every utterance's input (only labelled ones when ``labelled``; unlabelled turns still serve as context)."""
    items = [
        u
        for d in dialogues
        for u in dialogue_inputs(
            d, tokenizer, context=cfg.context, future_context=cfg.future_context, max_length=cfg.max_length
        )
    ]
    return [u for u in items if u.label >= 0] if labelled else items


def _provenance(
    encoder: str, train: DialogueTable, dev: DialogueTable | None, cfg: FinetuneConfig, full: RunOutcome,
    dev_source: str, folds: Mapping[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "format": _FORMAT,
        "version": 1,
        "base_encoder": encoder,
        "label_names": list(train.label_names),
        "context": cfg.context,
        "future_context": cfg.future_context,
        "max_length": cfg.max_length,
        "epochs": cfg.epochs,
        "best_epoch": full.best_epoch,
        "dev_weighted_f1": round(full.dev_weighted_f1, 5),
        "dev_source": dev_source,
        "train_table": train.source,
        "dev_table": dev.source if dev is not None else None,
        "config": cfg.model_dump(exclude={"device", "progress"}),
        "history": full.history,
        "folds": dict(folds) if folds else None,
    }


def _run_folds(
    work: Path, encoder: str, tokenizer: Any, dialogues: Sequence[Any], dev_items: Sequence[UtteranceInput],
    num_classes: int, cfg: FinetuneConfig,
) -> tuple[dict[str, int], list[RunOutcome]]:  # fmt: skip
    """Train one encoder per fold, each on the dialogues outside its fold."""
    assignment = assign_folds([d.id for d in dialogues], int(cfg.folds or 0), seed=cfg.seed)
    outcomes = []
    for fold in range(int(cfg.folds or 0)):
        kept = [d for d in dialogues if assignment[d.id] != fold]
        items = _inputs(kept, tokenizer, cfg, labelled=True)
        name = f"fold{fold}"
        outcomes.append(run_finetune(work / name, encoder, tokenizer, items, dev_items, num_classes, cfg, desc=name))
    return assignment, outcomes


def finetune_text(
    train: DialogueTable,
    dev: DialogueTable | None,
    *,
    encoder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: FinetuneConfig | None = None,
    **overrides: Any,
) -> FinetuneResult:
    """Fine-tune ``encoder`` on ``train``'s labels and write it to ``out`` (Hugging Face format).

    Each utterance is read with its speaker-tagged neighbours (:func:`~vega_anchors.finetune.dialogue_inputs`);
    a linear head on the mean of the target's tokens learns the labels; the epoch with the best
    ``dev`` weighted F1 is kept (``dev=None``: a held-out ``config.holdout`` of the training dialogues,
    logged and recorded as ``dev_source="train-holdout"``). With ``folds=k`` it also writes
    ``out/folds/fold{i}``, each trained without fold ``i``'s dialogues, and the assignment in
    ``out/vega_finetune.json``: ``build-features --encoder out`` then encodes each training dialogue
    with the encoder that never saw it. A rerun of a killed call resumes after its last finished
    epoch (work in ``.<out>.work`` beside ``out``); ``out`` is replaced atomically at the end.

    Args:
        train: the training table (labelled).
        dev: the selection table, or ``None``.
        encoder: hub name or directory of a Hugging Face encoder (with its tokenizer).
        out: the encoder directory to write.
        config: :class:`FinetuneConfig`; keyword ``overrides`` replace its fields (``epochs=2``).

    Raises:
        ConfigError: no tokenizer in ``encoder``; dev labels absent from ``train``; an unlabelled ``train``.
    """
    cfg = FinetuneConfig(**{**(config or FinetuneConfig()).model_dump(), **overrides})
    encoder, out = str(encoder), Path(out)
    tokenizer = load_tokenizer(encoder)
    _check_labels(train, dev)
    dialogues, selection, dev_source = _selection_split(train, dev, cfg)
    num_classes = len(train.label_names)
    dev_items = _inputs(selection, tokenizer, cfg, labelled=True)
    work = out.parent / f".{out.name}.work"
    train_items = _inputs(dialogues, tokenizer, cfg, labelled=True)
    full = run_finetune(work / "full", encoder, tokenizer, train_items, dev_items, num_classes, cfg)
    folds: dict[str, Any] | None = None
    fold_outcomes: list[RunOutcome] = []
    if cfg.folds:
        assignment, fold_outcomes = _run_folds(work, encoder, tokenizer, dialogues, dev_items, num_classes, cfg)
        folds = {"k": cfg.folds, "seed": cfg.seed, "dirs": [f"{FOLDS_DIR}/fold{i}" for i in range(cfg.folds)],
                 "assignment": assignment, "holdout": [d.id for d in selection] if dev_source != "dev" else [],
                 "dev_weighted_f1": [round(o.dev_weighted_f1, 5) for o in fold_outcomes]}  # fmt: skip
    provenance = _provenance(encoder, train, dev, cfg, full, dev_source, folds)
    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    skip = shutil.ignore_patterns("outcome.json")
    shutil.copytree(work / "full" / "final", tmp, ignore=skip)
    for i in range(len(fold_outcomes)):
        shutil.copytree(work / f"fold{i}" / "final", tmp / FOLDS_DIR / f"fold{i}", ignore=skip)
    write_provenance(tmp, provenance)
    publish_dir(tmp, out)
    shutil.rmtree(work)
    return FinetuneResult(
        path=out, dev_weighted_f1=full.dev_weighted_f1, best_epoch=full.best_epoch, history=full.history,
        dev_source=dev_source, fold_dev_weighted_f1=[o.dev_weighted_f1 for o in fold_outcomes], provenance=provenance,
    )  # fmt: skip
