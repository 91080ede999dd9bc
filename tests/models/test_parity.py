"""Parity with the official implementation, on the golden vectors (float64)."""

from __future__ import annotations

import json

import pytest
import torch
from golden_cases import (
    CASES,
    GOLDEN,
    TERM_NAMES,
    golden_config,
    golden_model,
    load_case,
    model_inputs,
    our_output,
)

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig
from vega_anchors.official import from_official_state_dict, load_anchors, load_model, to_official_state_dict


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> dict:
    return load_case(request.param)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
def test_eval_outputs_match_official(case: dict, packed: bool) -> None:
    model, _ = golden_model(case, packed=packed)
    out = model(**model_inputs(case))
    real = case["inputs"]["utterance_mask"].bool()
    for key, expected in case["outputs_eval"].items():
        ours = our_output(out, key)
        if expected.dim() == 0:
            torch.testing.assert_close(ours, expected, rtol=0, atol=1e-9, msg=key)
        else:
            torch.testing.assert_close(ours[real], expected[real], rtol=0, atol=1e-9, msg=key)
            assert torch.isfinite(ours).all(), f"{key} has non-finite values at padded positions"


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
def test_loss_terms_match_official(case: dict, packed: bool) -> None:
    model, _ = golden_model(case, packed=packed)
    inputs = model_inputs(case)
    loss = model.compute_loss(model(**inputs), case["inputs"]["labels"], inputs["utterance_mask"])
    for key, expected in case["loss_terms_eval"].items():
        ours = loss.total if key == "total" else loss.terms[TERM_NAMES[key]]
        assert ours.item() == pytest.approx(expected, rel=1e-9, abs=0), key


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
def test_gradients_match_official(case: dict, packed: bool) -> None:
    model, _ = golden_model(case, packed=packed)
    inputs = model_inputs(case)
    model.compute_loss(model(**inputs), case["inputs"]["labels"], inputs["utterance_mask"]).total.backward()
    grads = to_official_state_dict({k: p.grad for k, p in model.named_parameters() if p.grad is not None})
    expected = case["grads_of_total_loss"]
    assert set(expected) <= set(grads)
    for key, value in expected.items():
        torch.testing.assert_close(grads[key], value, rtol=0, atol=1e-8, msg=key)
    # parameters the official model never updates are not trainable here (DDP-safe)
    assert {k for k, p in model.named_parameters() if p.grad is None} == set()


def test_scripted_exemplar_draw_matches_official(case: dict) -> None:
    model, bank = golden_model(case)
    sampled = case["sampled_anchor_forward"]
    out = model(**model_inputs(case), anchors=bank.select(sampled["exemplar_index_per_class"]))
    real = case["inputs"]["utterance_mask"].bool()
    for key, expected in sampled.items():
        if key.endswith("_clip_logit"):
            torch.testing.assert_close(our_output(out, key)[real], expected[real], rtol=0, atol=1e-9, msg=key)


def test_official_checkpoint_file_loads_and_reproduces(case: dict, tmp_path) -> None:
    for i, payload in enumerate([case["state_dict"], {"state_dict": case["state_dict"]}]):
        path = tmp_path / f"ckpt{i}.pth"
        torch.save(payload, path)
        bank = load_anchors(case["anchors_official_format"])
        model = load_model(path, golden_config(case), bank).eval()
        assert next(model.parameters()).dtype == torch.float64
        out = model(**model_inputs(case))
        real = case["inputs"]["utterance_mask"].bool()
        torch.testing.assert_close(
            out.logits["fused"][real], case["outputs_eval"]["all_logit"][real], rtol=0, atol=1e-9
        )


def test_state_dict_round_trip_is_a_bijection(case: dict) -> None:
    official = case["state_dict"]
    ours = from_official_state_dict(official)
    back = to_official_state_dict(ours)
    assert set(back) == set(official)
    for key, value in official.items():
        assert torch.equal(back[key].reshape(value.shape), value), key


def test_full_size_official_layout() -> None:
    """Our IEMOCAP preset maps onto exactly the official full-size checkpoint's keys and shapes."""
    shapes = json.loads((GOLDEN / "iemocap_full_state_dict_shapes.json").read_text())
    bank = AnchorBank.from_features({c: torch.randn(3, 512) for c in "abcdef"})
    with torch.device("meta"):
        model = DualBranchVEGA(VEGAConfig.iemocap(), bank)
    official = to_official_state_dict(model.state_dict())
    assert {k: list(v.shape) for k, v in official.items()} == shapes


def test_mismatched_checkpoint_is_refused(case: dict) -> None:
    bank = load_anchors(case["anchors_official_format"])
    cfg = golden_config(case).model_copy(update={"hidden_dim": 32})
    with pytest.raises(ValueError, match="shape"):
        load_model(case["state_dict"], cfg, bank)
    broken = dict(case["state_dict"])
    broken.pop("last_gate.fc.weight")
    with pytest.raises(ValueError, match="last_gate"):
        load_model(broken, golden_config(case), bank)
