"""Packed (padding-free) execution equals padded execution on real utterances (fp32, 1e-6)."""

from __future__ import annotations

import pytest
import torch
from test_dual_branch import batch, tiny_bank, tiny_config

from vega_anchors import DualBranchVEGA


def pair(**overrides) -> tuple[DualBranchVEGA, DualBranchVEGA]:
    cfg = tiny_config(**overrides)
    torch.manual_seed(0)
    packed = DualBranchVEGA(cfg, tiny_bank(), packed=True).eval()
    padded = DualBranchVEGA(cfg, tiny_bank(), packed=False).eval()
    padded.load_state_dict(packed.state_dict())
    return packed, padded


@pytest.mark.parametrize("lengths", [(5, 3, 1), (7, 7), (1,), (9, 2, 6, 4)])
def test_outputs_losses_and_grads_agree(lengths: tuple[int, ...]) -> None:
    packed, padded = pair()
    data = batch(packed.config, lengths=lengths)
    mask = data["inputs"]["utterance_mask"]
    outs = []
    for model in (packed, padded):
        out = model(**data["inputs"])
        loss = model.compute_loss(out, data["labels"], mask)
        loss.total.backward()
        outs.append((out, loss, {k: p.grad for k, p in model.named_parameters()}))
    (o1, l1, g1), (o2, l2, g2) = outs
    for head in o1.logits:
        torch.testing.assert_close(o1.logits[head][mask], o2.logits[head][mask], rtol=0, atol=1e-6)
        # anchor logits are 100·cosine: the cosines agree within 1e-6
        torch.testing.assert_close(
            o1.anchor_logits[head][mask] / 100, o2.anchor_logits[head][mask] / 100, rtol=0, atol=1e-6
        )
    torch.testing.assert_close(l1.total, l2.total, rtol=1e-6, atol=1e-6)
    for key, grad in g1.items():  # fp32 sums in a different order: agree relative to the gradient's scale
        scale = max(1.0, grad.abs().max().item())
        torch.testing.assert_close(grad, g2[key], rtol=1e-4, atol=1e-6 * scale, msg=key)
    assert all(torch.isfinite(x).all() for x in o1.logits.values())
    assert (o1.logits["fused"][~mask] == 0).all()  # no work, zeros at padding


def test_predict_agrees_and_a_dialogue_may_be_empty() -> None:
    packed, padded = pair()
    data = batch(packed.config, lengths=(4, 2))
    data["inputs"]["utterance_mask"][1] = False
    torch.testing.assert_close(packed.predict(**data["inputs"]), padded.predict(**data["inputs"]))


def test_utterance_mode_sampler_in_packed_training() -> None:
    packed, _ = pair(sampler={"p": 1.0, "mode": "utterance"})
    packed.train()
    data = batch(packed.config)
    out = packed(**data["inputs"])
    assert torch.isfinite(packed.compute_loss(out, data["labels"]).total)
