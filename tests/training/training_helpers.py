"""Shared pieces of the tests/training suite: a tiny model and a single-thread fixture."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import torch

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig

TINY_DIMS = {"text": 8, "audio": 6}


def tiny_model(label_names: Sequence[str]) -> DualBranchVEGA:
    """A seeded DualBranchVEGA over :data:`TINY_DIMS` (hidden 8, anchors 2 × 4 per class)."""
    torch.manual_seed(0)
    cfg = VEGAConfig.iemocap(modalities=TINY_DIMS, hidden_dim=8, num_heads=2, anchor_dim=4, dropout=0.1)
    g = torch.Generator().manual_seed(0)
    return DualBranchVEGA(cfg, AnchorBank.from_features({c: torch.randn(2, 4, generator=g) for c in label_names}))


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One thread: the same reduction order, so the same trajectory on every run (import it into a
    test module to use it there)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
