"""Helpers shared by the Hugging Face ``transformers`` encoders (text and audio)."""

from __future__ import annotations

from collections.abc import Sequence


def check_hidden_layers(name: str, depth: int, layers: Sequence[int]) -> tuple[int, ...]:
    """``layers`` as a tuple of ints, checked to index the ``depth + 1`` hidden states of model ``name``."""
    picked = tuple(int(i) for i in layers)
    bad = [i for i in picked if not -(depth + 1) <= i <= depth]
    if not picked or bad:
        raise ValueError(
            f"layers must pick hidden states of {name} ({depth} layers: indices {-(depth + 1)}..{depth}); "
            f"got {list(layers)}"
        )
    return picked
