"""Losses: golden parity of the anchor and distillation terms, masking and reduction behaviour."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from golden_cases import CASES, LETTER, load_case

from vega_anchors import (
    AnchorAlignmentLoss,
    AnchorBank,
    MaskedCrossEntropyLoss,
    SelfDistillationLoss,
    StochasticAnchorSampler,
)
from vega_anchors.official import load_anchors


@pytest.mark.parametrize("name", CASES)
def test_anchor_alignment_reproduces_golden_fused_term(name: str) -> None:
    case = load_case(name)
    sd, x, meta = case["state_dict"], case["inputs"], case["meta"]
    bank = load_anchors(case["anchors_official_format"]).double()
    loss_fn = AnchorAlignmentLoss(bank, meta["dims"]["hidden_dim"], class_weights=meta["class_weights"]).double().eval()
    loss_fn.head.proj.load_state_dict(
        {k.removeprefix("all_clip_proj."): v for k, v in sd.items() if k.startswith("all_clip_proj.")}
    )
    out = loss_fn(case["outputs_eval"]["all_transformer_out"], x["labels"], x["utterance_mask"])
    real = x["utterance_mask"].bool()
    torch.testing.assert_close(out.logits[real], case["outputs_eval"]["all_clip_logit"][real], rtol=0, atol=1e-10)
    # golden terms carry their per-term λ (all_clip_lambda) — see docs/model.md
    expected = case["loss_terms_eval"]["clip_all"] / meta["loss_lambdas"]["all_clip_lambda"]
    assert out.loss.item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(
    ("branch", "logit", "temp"), [("cls", "logit", "cls_temp"), ("clip", "clip_logit", "clip_temp")]
)
def test_self_distillation_reproduces_golden_terms(name: str, branch: str, logit: str, temp: str) -> None:
    case = load_case(name)
    out, lam = case["outputs_eval"], case["meta"]["loss_lambdas"]
    mask = case["inputs"]["utterance_mask"]
    for m in "tav":
        kl = SelfDistillationLoss().double()
        with torch.no_grad():
            kl.log_temperature.copy_(case["state_dict"][f"{m}_{temp}"])
        value = kl(out[f"{m}_{logit}"], out[f"all_{logit}"], mask)
        expected = case["loss_terms_eval"][f"{branch}_kl_{m}"] / lam[f"{m}_{branch}_all_{branch}_kl_lambda"]
        assert value.item() == pytest.approx(expected, rel=1e-10), (branch, LETTER[m])


def test_masked_ce_is_weighted_mean_over_real_items() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(3, 5, 4), torch.randint(0, 4, (3, 5))
    labels[1, 3:] = -1
    mask = labels != -1
    w = torch.tensor([1.0, 2.0, 0.5, 3.0])
    ours = MaskedCrossEntropyLoss(w)(logits, labels, mask)
    ref = F.cross_entropy(logits[mask], labels[mask], weight=w)
    torch.testing.assert_close(ours, ref)


def test_all_padding_gives_exact_zero_and_zero_grads() -> None:
    logits = torch.randn(2, 3, 4, requires_grad=True)
    labels = torch.full((2, 3), -1)
    loss = MaskedCrossEntropyLoss([1.0, 2.0, 3.0, 4.0])(logits, labels)
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and torch.count_nonzero(logits.grad) == 0
    kl = SelfDistillationLoss()
    student = torch.randn(2, 3, 4, requires_grad=True)
    value = kl(student, torch.randn(2, 3, 4), torch.zeros(2, 3))
    value.backward()
    assert value.item() == 0.0 and torch.count_nonzero(student.grad) == 0


def test_nan_at_padding_does_not_leak() -> None:
    logits = torch.randn(1, 3, 4)
    logits[0, 2] = float("nan")
    labels = torch.tensor([[0, 1, -1]])
    assert torch.isfinite(MaskedCrossEntropyLoss()(logits, labels))


def test_bad_labels_are_named() -> None:
    with pytest.raises(ValueError, match=r"\[7\]"):
        MaskedCrossEntropyLoss()(torch.randn(2, 4), torch.tensor([0, 7]))
    with pytest.raises(ValueError, match=r"\[-3\]"):
        MaskedCrossEntropyLoss()(torch.randn(2, 4), torch.tensor([-3, 1]))


def test_distillation_reductions_and_temperature() -> None:
    torch.manual_seed(1)
    s, t = torch.randn(6, 5), torch.randn(6, 5)
    em = SelfDistillationLoss(temperature=3.0)(s, t)
    bm = SelfDistillationLoss(temperature=3.0, reduction="batchmean")(s, t)
    ref = F.kl_div(F.log_softmax(s / 3, -1), F.softmax(t / 3, -1), reduction="batchmean") * 9
    torch.testing.assert_close(bm, ref)
    torch.testing.assert_close(em * 5, bm)
    loss = SelfDistillationLoss(temperature=2.0)
    assert loss.log_temperature.requires_grad and loss.temperature.item() == pytest.approx(2.0)
    assert not SelfDistillationLoss(learnable=False).log_temperature.requires_grad
    assert SelfDistillationLoss()(t, t).item() == pytest.approx(0.0, abs=1e-7)


def test_detach_teacher_controls_teacher_gradient() -> None:
    s, t = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    SelfDistillationLoss(detach_teacher=True)(s, t).backward()
    assert t.grad is None and s.grad is not None
    SelfDistillationLoss()(s, t).backward()
    assert t.grad is not None


def _bank(num_classes: int = 3, dim: int = 8) -> AnchorBank:
    g = torch.Generator().manual_seed(0)
    return AnchorBank.from_features({f"c{i}": torch.randn(i + 2, dim, generator=g) for i in range(num_classes)})


def test_anchor_alignment_logits_are_scaled_cosines() -> None:
    bank = _bank()
    loss_fn = AnchorAlignmentLoss(bank, 6).eval()
    feats, labels = torch.randn(2, 4, 6), torch.tensor([[0, 1, 2, -1], [2, 2, -1, -1]])
    out = loss_fn(feats, labels)
    proj = F.normalize(loss_fn.head.proj(feats), dim=-1)
    real = labels != -1
    torch.testing.assert_close(out.logits[real], (100 * proj @ bank.centers.t())[real])
    torch.testing.assert_close(loss_fn.logits(feats), 100 * proj @ bank.centers.t())  # every row, no labels
    # items that do not count never reach the projector: their logits are those of a zero row
    zero = 100 * F.normalize(loss_fn.head.proj(torch.zeros(6)), dim=-1) @ bank.centers.t()
    torch.testing.assert_close(out.logits[~real], zero.expand(int((~real).sum()), -1))
    assert out.logits.abs().max() <= 100 + 1e-4
    flat = loss_fn(feats.reshape(8, 6), labels.reshape(8))
    torch.testing.assert_close(flat.loss, out.loss)


def test_anchor_alignment_options() -> None:
    bank = _bank()
    fixed = AnchorAlignmentLoss(bank.center_means * 3, 6)  # a fixed tensor is normalised once
    torch.testing.assert_close(fixed.current_anchors(), bank.centers)
    assert len(AnchorAlignmentLoss(bank, 6, projector_layers=1).head.proj) == 1
    assert AnchorAlignmentLoss(bank, 6, hidden_features=11).head.proj[0].out_features == 11
    with pytest.raises(ValueError, match="sampler needs an AnchorBank"):
        AnchorAlignmentLoss(bank.centers, 6, sampler=StochasticAnchorSampler())
    with pytest.raises(ValueError, match="class weights"):
        AnchorAlignmentLoss(bank, 6, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="unknown activation"):
        AnchorAlignmentLoss(bank, 6, activation="swoosh")


def test_anchor_alignment_with_utterance_sampler_trains() -> None:
    torch.manual_seed(0)
    bank = _bank()
    loss_fn = AnchorAlignmentLoss(bank, 6, sampler=StochasticAnchorSampler(p=1.0, mode="utterance"))
    feats = torch.randn(2, 4, 6, requires_grad=True)
    out = loss_fn(feats, torch.tensor([[0, 1, 2, -1], [2, 2, -1, -1]]))
    out.loss.backward()
    assert out.logits.shape == (2, 4, 3) and feats.grad is not None and math.isfinite(out.loss.item())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_logits_do_not_overflow(dtype: torch.dtype) -> None:
    bank = _bank()
    loss_fn = AnchorAlignmentLoss(bank, 6).to(dtype).eval()
    feats = (torch.randn(3, 6) * 1e3).to(dtype)
    out = loss_fn(feats, torch.tensor([0, 1, 2]))
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)
    kl = SelfDistillationLoss()(out.logits, (out.logits * 0.5))
    assert torch.isfinite(kl)


def test_fast_dropout_has_dropout_statistics() -> None:
    from vega_anchors.heads import FastDropout

    drop = FastDropout(0.53).train()
    x = torch.ones(400, 500)
    y = drop(x)
    kept = (y != 0).float().mean().item()
    assert kept == pytest.approx(0.47, abs=0.01)
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.47))
    assert y.mean().item() == pytest.approx(1.0, abs=0.02)  # unbiased
    assert torch.equal(drop.eval()(x), x)
