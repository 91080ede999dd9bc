"""Add VEGA to YOUR multimodal ERC model in a few lines (SYNTHETIC data, offline).

``TinyERC`` stands in for your model: per-modality projections with their own classifier heads,
and a GRU over the dialogue that fuses them into a fused head. VEGA adds, in the training step:

    anchors = align["fused"].current_anchors()                  # one stochastic draw per step
    aligned = {h: align[h](states[h], labels, anchors=anchors) for h in heads}
    loss += sum(a.loss for a in aligned.values())               # align every head to the anchors
    loss += sum(distill[m](logits[m], logits["fused"], mask)     # fused head teaches each modality
                for m in modalities)

Data and anchors are synthetic (random IEMOCAP-shaped features, random "CLIP features" as
exemplars), so the printed numbers only show the mechanics, not VEGA's effect on real data.
"""

from __future__ import annotations

import torch
from torch import nn

from vega_anchors import (
    CLASS_WEIGHTS,
    EMOTION_LABELS,
    AnchorAlignmentLoss,
    AnchorBank,
    MaskedCrossEntropyLoss,
    SelfDistillationLoss,
    StochasticAnchorSampler,
)
from vega_anchors.data import synthetic_dialogues
from vega_anchors.metrics import compute_metrics
from vega_anchors.training import iterate_batches

DIMS = {"text": 100, "audio": 60, "visual": 40}
HIDDEN = 64


class TinyERC(nn.Module):
    """Your model: features {m: [B, T, D_m]} → states and logits per modality and "fused"."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.proj = nn.ModuleDict({m: nn.Linear(d, HIDDEN) for m, d in DIMS.items()})
        self.gru = nn.GRU(HIDDEN * len(DIMS), HIDDEN // 2, batch_first=True, bidirectional=True)
        self.heads = nn.ModuleDict({h: nn.Linear(HIDDEN, num_classes) for h in [*DIMS, "fused"]})

    def forward(self, feats: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        states = {m: torch.relu(self.proj[m](feats[m])) for m in DIMS}
        states["fused"] = self.gru(torch.cat([states[m] for m in DIMS], -1))[0]
        return states, {h: self.heads[h](s) for h, s in states.items()}


def run(use_vega: bool, epochs: int = 5, seed: int = 0) -> float:
    torch.manual_seed(seed)
    data = synthetic_dialogues("iemocap", seed=seed, modality_dims=DIMS)
    classes, weights = EMOTION_LABELS["iemocap"], CLASS_WEIGHTS["iemocap"]
    model, ce = TinyERC(len(classes)), MaskedCrossEntropyLoss(weights)
    # --- VEGA: anchors (here random 32-d stand-ins for CLIP features, 5 exemplars per class) ------
    g = torch.Generator().manual_seed(seed)
    bank = AnchorBank.from_features({c: torch.randn(5, 32, generator=g) for c in classes})
    sampler = StochasticAnchorSampler(p=0.4, seed=seed)
    align = nn.ModuleDict(
        {h: AnchorAlignmentLoss(bank, HIDDEN, sampler=sampler, class_weights=weights) for h in [*DIMS, "fused"]}
    )
    distill = nn.ModuleDict({m: SelfDistillationLoss() for m in DIMS})
    # -----------------------------------------------------------------------------------------------
    extra = [*align.parameters(), *distill.parameters()] if use_vega else []
    opt = torch.optim.AdamW([*model.parameters(), *extra], lr=2e-3)
    for epoch in range(epochs):
        model.train(), align.train()
        for batch in iterate_batches(data.train, 9, shuffle=True, seed=seed, epoch=epoch):
            labels, mask = batch.labels, batch.utterance_mask
            states, logits = model(batch.features)
            loss = sum(ce(lg, labels) for lg in logits.values())
            if use_vega:  # the VEGA lines
                anchors = align["fused"].current_anchors()
                aligned = {h: align[h](states[h], labels, anchors=anchors) for h in states}
                loss = loss + 0.1 * sum(a.loss for a in aligned.values())
                loss = loss + sum(distill[m](logits[m], logits["fused"], mask) for m in DIMS)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    y_true, y_pred = [], []
    with torch.no_grad():
        for batch in iterate_batches(data.test, 16, shuffle=False):
            y_true.append(batch.labels[batch.utterance_mask])
            y_pred.append(model(batch.features)[1]["fused"].argmax(-1)[batch.utterance_mask])
    return compute_metrics(torch.cat(y_true), torch.cat(y_pred), num_classes=len(classes)).weighted_f1


if __name__ == "__main__":
    print("SYNTHETIC data and anchors: the numbers demonstrate the mechanics, not VEGA's effect on real data.")
    print("(The anchors here are random vectors with no emotion content, so expect no gain from them.)")
    print(f"TinyERC alone:          test weighted F1 {run(use_vega=False):.4f}")
    print(f"TinyERC + VEGA losses:  test weighted F1 {run(use_vega=True):.4f}")
