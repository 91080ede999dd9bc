"""Stochastic anchor sampling: sometimes replace each class center by one of its exemplars."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from .anchors.bank import AnchorBank

SamplingMode = Literal["batch", "utterance"]


class StochasticAnchorSampler(nn.Module):
    """Draw the anchors a training step aligns to (VEGA's stochastic anchor sampling).

    In training, with probability ``p`` every class uses one uniformly drawn exemplar of its own
    instead of its center; otherwise (and always in eval mode) the unit-norm centers are used.

    Args:
        p: probability of using exemplars (the paper: 0.4).
        mode: ``"batch"`` draws one anchor set per call (the paper); ``"utterance"`` draws
            independently for each of ``n`` items.
        generator: a ``torch.Generator`` (CPU) for reproducible draws; by default one is created
            and seeded from ``seed``. Its state is saved in ``state_dict()`` so a resumed run
            continues the same sequence. Give every DDP rank the same seed to draw the same anchors.
        seed: seed of the default generator.

    Draws happen on the CPU generator and are moved to the bank's device (no host sync).
    """

    def __init__(
        self,
        p: float = 0.4,
        mode: SamplingMode = "batch",
        generator: torch.Generator | None = None,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        if mode not in ("batch", "utterance"):
            raise ValueError(f"mode must be 'batch' or 'utterance', got {mode!r}")
        self.p = float(p)
        self.mode: SamplingMode = mode
        if generator is None:
            generator = torch.Generator().manual_seed(seed)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"

    def forward(self, bank: AnchorBank, n: int | None = None) -> Tensor:
        """Anchors for one step.

        Returns ``[classes, dim]`` in batch mode; ``[n, classes, dim]`` in utterance mode (``n``
        required). In eval mode, or with ``p == 0``, the bank's centers (expanded to ``[n, C, D]``
        in utterance mode).
        """
        centers = bank.centers
        if self.mode == "utterance" and n is None:
            raise ValueError("utterance mode needs n: sampler(bank, n)")
        draws = 1 if self.mode == "batch" else int(n)  # type: ignore[arg-type]
        if not self.training or self.p == 0.0:
            return centers if self.mode == "batch" else centers.expand(draws, -1, -1)
        use = torch.rand(draws, generator=self.generator) < self.p  # [draws]
        u = torch.rand(draws, bank.num_classes, generator=self.generator)  # [draws, C]
        device = centers.device
        # Draws come from the CPU generator and move to the bank's device (copy, no sync).
        u = u.to(device, non_blocking=True)
        idx = (u * bank.counts).long().clamp_max(bank.counts - 1)
        classes = torch.arange(bank.num_classes, device=device).expand_as(idx)
        drawn = bank.exemplars[classes, idx]  # [draws, C, D]
        anchors = torch.where(use.to(device, non_blocking=True)[:, None, None], drawn, centers)
        return anchors[0] if self.mode == "batch" else anchors

    # The generator's state travels with state_dict() so that resuming replays the same draws.
    def get_extra_state(self) -> Any:
        return {"generator_state": self.generator.get_state()}

    def set_extra_state(self, state: Any) -> None:
        if state and "generator_state" in state:
            self.generator.set_state(state["generator_state"])
