"""Hostile and odd inputs, as properties: all-padding batches, one-utterance dialogues, bad labels,
non-finite features, wrong dims, missing modalities, bad masks, half precision.

The fixed-example versions live in tests/models/test_dual_branch.py and tests/test_losses.py; these
draw the shapes, positions and values instead.
"""

from __future__ import annotations

import functools
import math
import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import MODALITIES, make_batch, tiny_bank, tiny_config, tiny_model

from vega_anchors import (
    AnchorAlignmentLoss,
    DualBranchVEGA,
    MaskedCrossEntropyLoss,
    SelfDistillationLoss,
    StochasticAnchorSampler,
)

FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODEL_FAST = settings(FAST, max_examples=5)  # each example runs the model
NUM_CLASSES = 4
lengths_strategy = st.lists(st.integers(0, 4), min_size=1, max_size=3)


@functools.cache
def _model(validate_inputs: bool = True) -> DualBranchVEGA:
    return tiny_model(tiny_config(), validate_inputs=validate_inputs)


def _zero_grads(module: torch.nn.Module) -> None:
    for p in module.parameters():
        p.grad = None


def _all_grads_zero(module: torch.nn.Module) -> bool:
    return all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in module.parameters())


# ---------------------------------------------------------------------------- padding
@MODEL_FAST
@given(batch=st.integers(1, 3), steps=st.integers(1, 4), seed=st.integers(0, 99), train=st.booleans())
def test_all_padding_batch_gives_exact_zero_and_zero_grads_in_the_model(
    batch: int, steps: int, seed: int, train: bool
) -> None:
    model = _model().train(train)
    _zero_grads(model)
    inputs, _ = make_batch(model.config, [0] * batch, seed=seed)
    inputs = {k: (v[:, :1].expand(-1, steps, *v.shape[2:]).clone()) for k, v in inputs.items()}
    labels = torch.full((batch, steps), -1)
    loss = model.compute_loss(model(**inputs), labels, inputs["utterance_mask"])
    loss.total.backward()
    assert loss.total.item() == 0.0 and all(v.item() == 0.0 for v in loss.terms.values())
    assert _all_grads_zero(model)


def _anchor_loss() -> AnchorAlignmentLoss:
    torch.manual_seed(0)
    return AnchorAlignmentLoss(tiny_bank(), 6, sampler=StochasticAnchorSampler(p=0.5), class_weights=[1, 2, 3, 4])


LOSSES = {
    "MaskedCrossEntropyLoss": lambda x, labels, mask: MaskedCrossEntropyLoss([1.0, 2.0, 0.5, 1.0])(
        x[..., :NUM_CLASSES], labels, mask
    ),
    "AnchorAlignmentLoss": lambda x, labels, mask: _anchor_loss()(x, labels, mask).loss,
    "SelfDistillationLoss": lambda x, labels, mask: SelfDistillationLoss()(
        x[..., :NUM_CLASSES], x[..., 1 : NUM_CLASSES + 1].flip(-1), mask
    ),
    "SelfDistillationLoss(batchmean)": lambda x, labels, mask: SelfDistillationLoss(reduction="batchmean")(
        x[..., :NUM_CLASSES], x[..., :NUM_CLASSES] * 2, mask
    ),
}


@FAST
@given(
    name=st.sampled_from(list(LOSSES)),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 5)),
    scale=st.sampled_from([1.0, 1e4]),
    masked_by=st.sampled_from(["labels", "mask", "both"]),
)
def test_all_padding_gives_exact_zero_and_zero_grads_in_every_loss(
    name: str, shape: tuple[int, int], scale: float, masked_by: str
) -> None:
    torch.manual_seed(0)
    x = (torch.randn(*shape, 6) * scale).requires_grad_()
    labels = torch.full(shape, -1) if masked_by != "mask" else torch.randint(0, NUM_CLASSES, shape)
    mask = torch.zeros(shape, dtype=torch.bool) if masked_by != "labels" else None
    if name.startswith("SelfDistillation"):
        mask = torch.zeros(shape, dtype=torch.bool)  # distillation has no labels: the mask is the padding
    loss = LOSSES[name](x, labels, mask)
    loss.backward()
    assert loss.item() == 0.0 and loss.requires_grad
    assert x.grad is not None and torch.count_nonzero(x.grad) == 0


@MODEL_FAST
@given(lengths=lengths_strategy.filter(lambda ls: max(ls) > 0), seed=st.integers(0, 99), junk=st.floats(-1e3, 1e3))
def test_padding_content_never_changes_the_loss(lengths: list[int], seed: int, junk: float) -> None:
    """Single-utterance and empty dialogues mixed with longer ones; padding filled with junk."""
    model = _model().eval()
    inputs, labels = make_batch(model.config, lengths, seed=seed, unlabelled=0.2)
    mask = inputs["utterance_mask"]
    dirty = {m: x.masked_fill(~mask[..., None], junk) for m, x in inputs.items() if m in MODALITIES}
    clean = model.compute_loss(model(**inputs), labels, mask)
    noisy = model.compute_loss(model(**{**inputs, **dirty}), labels, mask)
    assert math.isfinite(clean.total.item())
    torch.testing.assert_close(noisy.total, clean.total, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- labels
bad_label = st.one_of(st.integers(-(2**40), -2), st.integers(NUM_CLASSES, 2**40))


@FAST
@given(bad=bad_label, where=st.integers(0, 8), target=st.sampled_from(["model", *LOSSES]))
def test_labels_outside_the_classes_are_named(bad: int, where: int, target: str) -> None:
    if target.startswith("SelfDistillation"):
        target = "model"  # distillation takes no labels
    model = _model().eval()
    inputs, labels = make_batch(model.config, (5, 4))
    labels = labels.clone()
    labels.view(-1)[where] = bad  # also at padding positions: a label is wrong wherever it is
    with pytest.raises(ValueError, match=re.escape(f"[{bad}]")):
        if target == "model":
            out = model(**inputs)
            model.compute_loss(out, labels, inputs["utterance_mask"])
        else:
            LOSSES[target](torch.randn(2, 5, 6), labels, None)


# ---------------------------------------------------------------------------- features
@FAST
@given(
    modality=st.sampled_from(list(MODALITIES)),
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
    where=st.tuples(st.integers(0, 2), st.integers(0, 4), st.integers(0, 5)),
)
def test_non_finite_features_are_refused_naming_the_modality(
    modality: str, value: float, where: tuple[int, int, int]
) -> None:
    inputs, _ = make_batch(_model().config, (5, 3, 1))
    inputs[modality] = inputs[modality].clone()
    inputs[modality][where] = value
    with pytest.raises(ValueError, match=f"{modality} features contain NaN or Inf.*validate_inputs=False"):
        _model()(**inputs)
    _model(validate_inputs=False)(**inputs)  # the opt-out: no check (and no host sync)


@FAST
@given(modality=st.sampled_from(list(MODALITIES)), dim=st.integers(1, 40))
def test_feature_dim_mismatch_names_modality_and_both_dims(modality: str, dim: int) -> None:
    expected = MODALITIES[modality]
    if dim == expected:
        dim += 1
    inputs, _ = make_batch(_model().config, (3, 2))
    inputs[modality] = torch.zeros(2, 3, dim)
    with pytest.raises(ValueError, match=f"{modality} features have dim {dim}, config expects {expected}"):
        _model()(**inputs)


@FAST
@given(dropped=st.sets(st.sampled_from(list(MODALITIES)), min_size=1))
def test_missing_modalities_are_listed(dropped: set[str]) -> None:
    inputs, _ = make_batch(_model().config, (3, 2))
    for m in dropped:
        del inputs[m]
    missing = [m for m in MODALITIES if m in dropped]
    with pytest.raises(TypeError, match=re.escape(f"missing {missing}")):
        _model()(**inputs)


# ---------------------------------------------------------------------------- masks
@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (lambda m: m.float() * 0.5, "only 0/1"),
        (lambda m: m[:, 0], r"utterance_mask must be \[batch, utterances\]"),
        (lambda m: m[:, :, None], r"utterance_mask must be \[batch, utterances\]"),
        (lambda m: torch.cat([m, m[:, :1]], 1), r"must be \[batch=3, utterances=6"),
    ],
    ids=["fractional", "1-d", "3-d", "too-long"],
)
def test_bad_masks_are_refused(mask, message: str) -> None:
    inputs, _ = make_batch(_model().config, (5, 3, 1))
    with pytest.raises(ValueError, match=message):
        _model()(**{**inputs, "utterance_mask": mask(inputs["utterance_mask"])})


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.int64, torch.float32])
def test_zero_one_masks_of_any_dtype_agree(dtype: torch.dtype) -> None:
    model = _model().eval()
    inputs, labels = make_batch(model.config, (5, 3, 1))
    ref = model.compute_loss(model(**inputs), labels, inputs["utterance_mask"]).total
    mask = inputs["utterance_mask"].to(dtype)
    out = model(**{**inputs, "utterance_mask": mask})
    assert torch.equal(model.compute_loss(out, labels, mask).total, ref)


def test_integer_mask_with_other_values_is_refused() -> None:
    inputs, _ = make_batch(_model().config, (5, 3, 1))
    with pytest.raises(ValueError, match="0/1"):
        _model()(**{**inputs, "utterance_mask": inputs["utterance_mask"].long() * 2})


def test_loss_mask_of_the_wrong_shape_is_refused() -> None:
    model = _model().eval()
    inputs, labels = make_batch(model.config, (5, 3, 1))
    out = model(**inputs)
    with pytest.raises(ValueError, match=r"mask has shape \(3, 2\), expected \(3, 5\)"):
        model.compute_loss(out, labels, inputs["utterance_mask"][:, :2])


# ---------------------------------------------------------------------------- half precision
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_model_has_bounded_logits_and_finite_losses(dtype: torch.dtype) -> None:
    scale = 1e3  # inputs far from unit scale: the projections then sit near the dtype's limits
    cfg = tiny_config()
    model = tiny_model(cfg).to(dtype).train()
    inputs, labels = make_batch(cfg, (5, 3, 1), seed=1)
    inputs = {k: (v * scale).to(dtype) if v.is_floating_point() else v for k, v in inputs.items()}
    out = model(**inputs)
    for name, logits in out.anchor_logits.items():
        assert logits.dtype == dtype
        assert torch.isfinite(logits).all() and logits.float().abs().max() <= cfg.logit_scale * 1.01, name
    loss = model.compute_loss(out, labels, inputs["utterance_mask"])
    assert loss.total.dtype == torch.float32  # reductions run in float32
    assert all(torch.isfinite(v) for v in loss.terms.values())
    loss.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_distillation_with_extreme_logits_is_finite(dtype: torch.dtype) -> None:
    student = torch.tensor([[60000.0, -60000.0, 0.0], [-100.0, 100.0, 0.0]]).to(dtype).requires_grad_()
    teacher = torch.tensor([[-60000.0, 60000.0, 0.0], [100.0, -100.0, 0.0]]).to(dtype)
    kl = SelfDistillationLoss(temperature=0.5)(student, teacher)
    kl.backward()
    assert torch.isfinite(kl) and kl.dtype == torch.float32 and torch.isfinite(student.grad).all()
