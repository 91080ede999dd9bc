"""Garbage (NaN, ±Inf, 1e30) at masked positions changes nothing: not the loss, not one gradient bit.

For random masks, every exported loss and DualBranchVEGA (packed and padded, with its own padding)
give bit-identical values and gradients with garbage and with clean values at the masked positions.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_helpers import make_batch, tiny_bank, tiny_config, tiny_model
from torch import Tensor, nn

from vega_anchors import (
    AnchorAlignmentLoss,
    MaskedCrossEntropyLoss,
    SelfDistillationLoss,
    StochasticAnchorSampler,
)

GARBAGE = st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -1e30])
FAST = settings(max_examples=25, deadline=None)


@st.composite
def masks(draw: st.DrawFn, batch: int = 3, length: int = 5) -> Tensor:
    """A random ``[batch, length]`` bool mask (possibly all False)."""
    bits = draw(st.lists(st.booleans(), min_size=batch * length, max_size=batch * length))
    return torch.tensor(bits).reshape(batch, length)


def _grads(module: nn.Module, *inputs: Tensor) -> dict[str, Tensor]:
    grads = {f"param:{n}": p.grad for n, p in module.named_parameters() if p.grad is not None}
    grads.update({f"input:{i}": x.grad for i, x in enumerate(inputs) if x.grad is not None})
    return grads


def _run(make: Callable[[], nn.Module], call: Callable[[nn.Module, list[Tensor]], Tensor], inputs: list[Tensor]):
    """``(loss, gradients)`` of a fresh copy of the module on fresh leaf copies of ``inputs``."""
    module = make()
    leaves = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    torch.manual_seed(0)  # dropout / feature masks draw the same in both runs
    loss = call(module, leaves)
    loss.backward()
    return loss.detach(), _grads(module, *[x for x in leaves if x.is_floating_point()])


def _assert_bit_identical(clean: tuple, dirty: tuple) -> None:
    assert torch.equal(clean[0], dirty[0]), (clean[0], dirty[0])
    assert clean[0].isfinite()
    assert clean[1].keys() == dirty[1].keys()
    for name, grad in clean[1].items():
        assert torch.isfinite(dirty[1][name]).all(), f"{name}: non-finite gradient"
        assert torch.equal(grad, dirty[1][name]), f"{name}: gradients differ"


def _soil(x: Tensor, masked: Tensor, value: float) -> Tensor:
    """``x [B, T, ...]`` with ``value`` at the positions where ``masked [B, T]`` is True."""
    return torch.where(masked.reshape(*masked.shape, *[1] * (x.dim() - 2)), torch.full_like(x, value), x)


@FAST
@given(mask=masks(), value=GARBAGE, use_mask=st.booleans())
def test_masked_cross_entropy(mask: Tensor, value: float, use_mask: bool) -> None:
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(3, 5, 4, generator=g), torch.randint(0, 4, (3, 5), generator=g)
    labels = labels if use_mask else labels.masked_fill(~mask, -1)

    def make() -> nn.Module:
        return MaskedCrossEntropyLoss([1.0, 2.0, 0.5, 3.0])

    def call(m: nn.Module, x: list[Tensor]) -> Tensor:
        return m(x[0], labels, mask if use_mask else None)

    _assert_bit_identical(_run(make, call, [logits]), _run(make, call, [_soil(logits, ~mask, value)]))


@FAST
@given(mask=masks(), value=GARBAGE, sampler=st.sampled_from(["none", "batch", "utterance", "fixed"]))
def test_anchor_alignment(mask: Tensor, value: float, sampler: str) -> None:
    g = torch.Generator().manual_seed(2)
    feats, labels = torch.randn(3, 5, 6, generator=g), torch.randint(0, 4, (3, 5), generator=g)
    labels = labels.masked_fill(~mask, -1)  # label -1 marks the padding here (no mask given)
    bank = tiny_bank()
    anchors = bank.centers if sampler == "fixed" else bank
    drawer = None if sampler in ("none", "fixed") else StochasticAnchorSampler(p=0.5, mode=sampler)  # type: ignore[arg-type]
    proto = AnchorAlignmentLoss(anchors, 6, sampler=drawer, dropout=0.3, class_weights=[1, 2, 3, 4])

    def call(m: nn.Module, x: list[Tensor]) -> Tensor:
        return m(x[0], labels).loss

    def make() -> nn.Module:
        return copy.deepcopy(proto).train()

    _assert_bit_identical(_run(make, call, [feats]), _run(make, call, [_soil(feats, ~mask, value)]))


@FAST
@given(mask=masks(), value=GARBAGE, reduction=st.sampled_from(["elementwise_mean", "batchmean"]))
def test_self_distillation(mask: Tensor, value: float, reduction: str) -> None:
    g = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)

    def make() -> nn.Module:
        return SelfDistillationLoss(reduction=reduction)  # type: ignore[arg-type]

    def call(m: nn.Module, x: list[Tensor]) -> Tensor:
        return m(x[0], x[1], mask)

    clean = _run(make, call, [student, teacher])
    _assert_bit_identical(clean, _run(make, call, [_soil(student, ~mask, value), teacher]))
    _assert_bit_identical(clean, _run(make, call, [student, _soil(teacher, ~mask, value)]))


@settings(max_examples=12, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    value=GARBAGE,
    packed=st.booleans(),
    modality=st.sampled_from(["text", "audio", "visual"]),
)
def test_dual_branch_with_its_own_padding(lengths: list[int], value: float, packed: bool, modality: str) -> None:
    cfg = tiny_config()  # dropout and feature masking on: both runs draw the same
    inputs, labels = make_batch(cfg, lengths)
    names = list(cfg.modalities)
    padding = ~inputs["utterance_mask"]

    def make() -> nn.Module:
        return tiny_model(cfg, packed=packed, validate_inputs=False).train()

    def call(model: nn.Module, x: list[Tensor]) -> Tensor:
        feats = dict(zip(names, x, strict=True))
        out = model(utterance_mask=inputs["utterance_mask"], speakers=inputs["speakers"], **feats)
        return model.compute_loss(out, labels, inputs["utterance_mask"]).total

    clean = [inputs[m] for m in names]
    dirty = [_soil(inputs[m], padding, value) if m == modality else inputs[m] for m in names]
    _assert_bit_identical(_run(make, call, clean), _run(make, call, dirty))
