"""Tiny models, batches and utilities shared by the reliability tests (importable by spawned workers)."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig

MODALITIES: dict[str, int] = {"text": 12, "audio": 10, "visual": 6}


def tiny_config(*, deterministic: bool = False, **overrides: Any) -> VEGAConfig:
    """A small VEGAConfig (3 modalities, 4 classes, non-uniform class weights).

    ``deterministic=True`` switches every dropout and the feature masking off, so a training step
    depends only on the weights, the batch and the anchor sampler's seed.
    """
    base: dict[str, Any] = dict(
        modalities=dict(MODALITIES),
        hidden_dim=16,
        num_heads=2,
        num_classes=4,
        num_speakers=3,
        anchor_dim=8,
        class_weights=[1.0, 2.5, 0.5, 1.5],
        max_utterances=64,
    )
    if deterministic:
        base.update(
            dropout=0.0,
            feature_mask_prob=0.0,
            classifier={"layers": 2, "activation": "gelu", "dropout": 0.0},
            projector={"layers": 2, "activation": "elu", "dropout": 0.0},
        )
    base.update(overrides)
    return VEGAConfig(**base)


def tiny_bank(num_classes: int = 4, dim: int = 8, seed: int = 0) -> AnchorBank:
    """A bank with 2, 3, 4, ... exemplars per class (uneven counts exercise the padding)."""
    g = torch.Generator().manual_seed(seed)
    return AnchorBank.from_features({f"c{i}": torch.randn(i + 2, dim, generator=g) for i in range(num_classes)})


def tiny_model(cfg: VEGAConfig, *, seed: int = 0, **kwargs: Any) -> DualBranchVEGA:
    """``DualBranchVEGA(cfg, tiny_bank())`` with weights drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return DualBranchVEGA(cfg, tiny_bank(cfg.num_classes, cfg.anchor_dim), **kwargs)


def make_batch(
    cfg: VEGAConfig,
    lengths: Sequence[int] = (5, 3, 1),
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    unlabelled: float = 0.0,
) -> tuple[dict[str, Tensor], Tensor]:
    """``(model inputs, labels)`` for dialogues of ``lengths`` utterances (0 = all padding).

    ``unlabelled`` is the share of real utterances given label -1.
    """
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(max(lengths), 1)
    mask = torch.arange(t)[None] < torch.tensor(list(lengths))[:, None]
    inputs: dict[str, Tensor] = {m: torch.randn(b, t, d, generator=g).to(dtype) for m, d in cfg.modalities.items()}
    inputs["utterance_mask"] = mask
    inputs["speakers"] = torch.randint(0, cfg.num_speakers, (b, t), generator=g)
    labels = torch.randint(0, cfg.num_classes, (b, t), generator=g)
    labels = labels.masked_fill(torch.rand(b, t, generator=g) < unlabelled, -1).masked_fill(~mask, -1)
    return inputs, labels


def select_dialogues(
    inputs: dict[str, Tensor], labels: Tensor, rows: Sequence[int]
) -> tuple[dict[str, Tensor], Tensor]:
    """The dialogues ``rows`` of a batch, re-padded to their own longest dialogue."""
    idx = torch.tensor(list(rows))
    t = int(inputs["utterance_mask"][idx].sum(1).max())
    sub = {k: v[idx, :t] for k, v in inputs.items()}
    return sub, labels[idx, :t]


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def grads(model: torch.nn.Module) -> dict[str, Tensor]:
    """Parameter name → a copy of its gradient (zeros where a parameter got none)."""
    return {
        name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
        for name, p in model.named_parameters()
    }


def meld_data(num_train: int = 8, num_test: int = 3, seed: int = 0) -> Any:
    """A tiny MELD-shaped synthetic FeatureSet (dialogues of 1–24 utterances, 7 classes, 9 speakers)."""
    from vega_anchors.data import synthetic_dialogues

    return synthetic_dialogues("meld", seed=seed, modality_dims=MODALITIES, num_train=num_train, num_test=num_test)


def meld_model(label_names: Sequence[str], *, seed: int = 0, dropout: float = 0.1, p: float = 0.4) -> DualBranchVEGA:
    """A tiny MELD-shaped DualBranchVEGA with dropout, feature masking and stochastic anchors on."""
    cfg = VEGAConfig.meld(
        modalities=dict(MODALITIES),
        hidden_dim=16,
        num_heads=2,
        anchor_dim=8,
        max_utterances=64,
        dropout=dropout,
        sampler={"p": p, "seed": seed},
    )
    g = torch.Generator().manual_seed(seed)
    bank = AnchorBank.from_features({c: torch.randn(3, 8, generator=g) for c in label_names})
    torch.manual_seed(seed)
    return DualBranchVEGA(cfg, bank)
