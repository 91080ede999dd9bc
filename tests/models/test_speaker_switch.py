"""VEGAConfig.speaker_embedding=False: the model ignores speaker ids (the no-speaker ablation)."""

from __future__ import annotations

import torch

from vega_anchors import DualBranchVEGA, VEGAConfig


def _outputs(speaker_embedding: bool) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    config = VEGAConfig(modalities={"text": 6}, hidden_dim=8, num_heads=2, num_classes=3, num_speakers=3,
                        class_weights=None, speaker_embedding=speaker_embedding,
                        losses={"anchor": False, "anchor_kl": False})  # fmt: skip
    net = DualBranchVEGA(config, None).eval()
    x, mask = torch.randn(2, 4, 6), torch.ones(2, 4, dtype=torch.bool)
    zeros, mixed = torch.zeros(2, 4, dtype=torch.long), torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])
    same = net(text=x, utterance_mask=mask, speakers=zeros, anchor_branch=False).logits["fused"]
    other = net(text=x, utterance_mask=mask, speakers=mixed, anchor_branch=False).logits["fused"]
    return same, other


def test_speaker_ids_matter_only_with_the_speaker_embedding() -> None:
    same, other = _outputs(True)
    assert not torch.allclose(same, other)
    same, other = _outputs(False)
    assert torch.equal(same, other)
