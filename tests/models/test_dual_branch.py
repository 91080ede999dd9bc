"""DualBranchVEGA beyond the official code: any modalities, autocast, compile, errors."""

from __future__ import annotations

import pytest
import torch
from golden_cases import golden_config, load_case

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig, official


def tiny_config(**overrides) -> VEGAConfig:
    base = dict(
        modalities={"text": 12, "audio": 10, "visual": 6},
        hidden_dim=16,
        num_heads=2,
        num_classes=4,
        num_speakers=3,
        anchor_dim=8,
        class_weights=None,
        max_utterances=64,
    )
    base.update(overrides)
    return VEGAConfig(**base)


def tiny_bank(num_classes: int = 4, dim: int = 8) -> AnchorBank:
    g = torch.Generator().manual_seed(0)
    return AnchorBank.from_features({f"c{i}": torch.randn(3, dim, generator=g) for i in range(num_classes)})


def batch(cfg: VEGAConfig, lengths=(5, 3, 1), seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    b, t = len(lengths), max(lengths)
    mask = torch.arange(t)[None] < torch.tensor(lengths)[:, None]
    inputs = {m: torch.randn(b, t, d, generator=g) for m, d in cfg.modalities.items()}
    inputs["utterance_mask"] = mask
    inputs["speakers"] = torch.randint(0, cfg.num_speakers, (b, t), generator=g)
    labels = torch.randint(0, cfg.num_classes, (b, t), generator=g).masked_fill(~mask, -1)
    return {"inputs": inputs, "labels": labels}


@pytest.mark.parametrize("modalities", [{"text": 12}, {"text": 12, "audio": 5}, {"t": 4, "a": 5, "v": 6, "pose": 7}])
def test_any_set_of_modalities_trains(modalities: dict) -> None:
    cfg = tiny_config(modalities=modalities)
    model = DualBranchVEGA(cfg, tiny_bank()).train()
    data = batch(cfg)
    out = model(**data["inputs"])
    assert set(out.logits) == set(out.anchor_logits) == {*modalities, "fused"}
    loss = model.compute_loss(out, data["labels"], data["inputs"]["utterance_mask"])
    loss.total.backward()
    assert torch.isfinite(loss.total)
    assert len(model.encoders) == len(modalities) ** 2


def test_padding_does_not_change_real_outputs() -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank()).eval()
    data = batch(cfg, lengths=(4, 2))
    out = model(**data["inputs"])
    padded = {
        k: (torch.cat([v, torch.zeros_like(v[:, :3])], 1) if k != "speakers" else torch.cat([v, v[:, :3]], 1))
        for k, v in data["inputs"].items()
    }
    out2 = model(**padded)
    mask = data["inputs"]["utterance_mask"]
    torch.testing.assert_close(out2.logits["fused"][:, :4][mask], out.logits["fused"][mask], rtol=1e-5, atol=1e-5)


def test_predict_skips_anchor_branch_and_masks_padding() -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank()).eval()
    calls = []
    for head in model.anchor_align.values():
        head.register_forward_hook(lambda *a: calls.append(1))
    data = batch(cfg)
    pred = model.predict(**data["inputs"])
    assert not calls
    mask = data["inputs"]["utterance_mask"]
    assert (pred[~mask] == -1).all() and ((pred[mask] >= 0) & (pred[mask] < cfg.num_classes)).all()
    torch.testing.assert_close(pred[mask], model(**data["inputs"]).logits["fused"].argmax(-1)[mask])


def test_backbone_only_model() -> None:
    cfg = tiny_config(losses={"anchor": False, "anchor_kl": False})
    model = DualBranchVEGA(cfg, None)
    data = batch(cfg)
    loss = model.compute_loss(model(**data["inputs"]), data["labels"])
    assert set(loss.terms) >= {"cls", "cls_kl"} and "anchor" not in loss.terms
    with pytest.raises(ValueError, match="backbone-only"):
        DualBranchVEGA(tiny_config(), None)


def test_loss_switches_and_weights() -> None:
    cfg = tiny_config(
        losses={"cls_kl": False, "anchor_kl": False},
        loss_weights={"family": {"cls": 2.0, "anchor": 0.5}, "terms": {"cls": {"text": 3.0}}},
    )
    model = DualBranchVEGA(cfg, tiny_bank()).eval()
    data = batch(cfg)
    loss = model.compute_loss(model(**data["inputs"]), data["labels"])
    assert set(loss.terms) == {
        "cls",
        "anchor",
        *(f"{f}/{h}" for f in ("cls", "anchor") for h in ("fused", "text", "audio", "visual")),
    }
    torch.testing.assert_close(loss.total, 2.0 * loss.terms["cls"] + 0.5 * loss.terms["anchor"])
    assert "cls/text" in loss.terms


def test_state_dict_round_trip_restores_outputs() -> None:
    cfg = tiny_config()
    a, b = DualBranchVEGA(cfg, tiny_bank()).eval(), DualBranchVEGA(cfg, tiny_bank()).eval()
    b.load_state_dict(a.state_dict())
    data = batch(cfg)
    torch.testing.assert_close(a(**data["inputs"]).anchor_logits["fused"], b(**data["inputs"]).anchor_logits["fused"])


def test_one_hot_speakers_equal_ids() -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank()).eval()
    data = batch(cfg)
    one_hot = torch.nn.functional.one_hot(data["inputs"]["speakers"], cfg.num_speakers).float()
    out1 = model(**data["inputs"])
    out2 = model(**{**data["inputs"], "speakers": one_hot})
    torch.testing.assert_close(out1.logits["fused"], out2.logits["fused"])


def test_bf16_autocast_on_cpu_is_close_to_fp32() -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank()).eval()
    data = batch(cfg)
    ref = model(**data["inputs"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**data["inputs"])
        loss = model.compute_loss(out, data["labels"])
    mask = data["inputs"]["utterance_mask"]
    assert torch.isfinite(loss.total)
    p_ref, p = ref.logits["fused"].softmax(-1)[mask], out.logits["fused"].float().softmax(-1)[mask]
    assert (p_ref - p).abs().max() < 0.05


def test_torch_compile_matches_eager() -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank(), validate_inputs=False).eval()
    data = batch(cfg)
    # aot_eager: dynamo capture + AOT autograd without inductor codegen (minutes on 2 cores)
    compiled = torch.compile(model, backend="aot_eager")
    torch.testing.assert_close(
        compiled(**data["inputs"]).logits["fused"],
        model(**data["inputs"]).logits["fused"],
        rtol=1e-4,
        atol=1e-4,
    )


def test_dropout_and_stochastic_anchors_in_training_only() -> None:
    cfg = tiny_config(sampler={"p": 1.0})
    model = DualBranchVEGA(cfg, tiny_bank())
    data = batch(cfg)
    model.eval()
    e1, e2 = model(**data["inputs"]), model(**data["inputs"])
    torch.testing.assert_close(e1.anchor_logits["fused"], e2.anchor_logits["fused"])
    model.train()
    torch.manual_seed(0)
    t1 = model(**data["inputs"])
    assert not torch.allclose(t1.logits["fused"], e1.logits["fused"])


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d["inputs"].pop("audio"), TypeError, "missing \\['audio'\\]"),
        (lambda d: d["inputs"].update(depth=torch.zeros(3, 5, 2)), TypeError, "unexpected \\['depth'\\]"),
        (
            lambda d: d["inputs"].update(audio=torch.zeros(3, 5, 13)),
            ValueError,
            "audio features have dim 13, config expects 10",
        ),
        (
            lambda d: d["inputs"].update(utterance_mask=torch.ones(3, 4)),
            ValueError,
            "must be \\[batch=3, utterances=4",
        ),
        (lambda d: d["inputs"].update(utterance_mask=torch.ones(3)), ValueError, "utterance_mask must be"),
        (
            lambda d: d["inputs"]["text"].__setitem__((0, 0, 0), float("nan")),
            ValueError,
            "text features contain NaN",
        ),
        (lambda d: d["inputs"]["speakers"].__setitem__((0, 0), 7), ValueError, "speaker ids"),
    ],
)
def test_bad_inputs_raise_clear_errors(change, error, message) -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank())
    data = batch(cfg)
    change(data)
    with pytest.raises(error, match=message):
        model(**data["inputs"])


def test_bad_labels_in_compute_loss() -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank())
    data = batch(cfg)
    out = model(**data["inputs"])
    labels = data["labels"].clone()
    labels[0, 0] = 9
    with pytest.raises(ValueError, match=r"labels \[9\]"):
        model.compute_loss(out, labels)


def test_all_padding_batch_has_zero_loss_and_grads() -> None:
    cfg = tiny_config()
    model = DualBranchVEGA(cfg, tiny_bank()).train()
    data = batch(cfg)
    mask = torch.zeros_like(data["inputs"]["utterance_mask"])
    out = model(**{**data["inputs"], "utterance_mask": mask})
    loss = model.compute_loss(out, torch.full_like(data["labels"], -1), mask)
    loss.total.backward()
    assert loss.total.item() == 0.0
    assert all(torch.count_nonzero(p.grad) == 0 for p in model.parameters() if p.grad is not None)


def test_input_standardization_is_fitted_stored_and_reused() -> None:
    cfg = tiny_config(input_norm="standardize")
    model = DualBranchVEGA(cfg, tiny_bank()).eval()
    assert model.needs_input_fit
    g = torch.Generator().manual_seed(3)
    train = [{m: 5 + 0.01 * torch.randn(4, d, generator=g) for m, d in cfg.modalities.items()} for _ in range(6)]
    model.fit_input_normalization(train)
    assert not model.needs_input_fit
    rows = torch.cat([t["text"] for t in train])
    norm = model.input_norm["text"]
    torch.testing.assert_close(norm(rows).mean(0), torch.zeros(12), atol=1e-4, rtol=0)
    torch.testing.assert_close(norm(rows).std(0, unbiased=False), torch.ones(12), atol=1e-3, rtol=0)
    clone = DualBranchVEGA(cfg, tiny_bank()).eval()
    clone.load_state_dict(model.state_dict())  # statistics travel with the weights
    data = batch(cfg)
    torch.testing.assert_close(clone(**data["inputs"]).logits["fused"], model(**data["inputs"]).logits["fused"])


def test_layernorm_input_and_official_presets_have_no_input_norm() -> None:
    assert VEGAConfig.iemocap().input_norm == "none" and VEGAConfig.meld().input_norm == "none"
    model = DualBranchVEGA(tiny_config(input_norm="layernorm"), tiny_bank())
    assert isinstance(model.input_norm["audio"], torch.nn.LayerNorm) and not model.needs_input_fit
    with pytest.raises(ValueError, match="standardize"):
        model.fit_input_normalization([])


def test_version_0_1_state_dicts_load() -> None:
    """A fit checkpoint from 0.1 named the anchor projectors anchor_heads.<h>.proj.* and the class
    weights class_weights; both load into the composed model."""
    case = load_case("iemocap_small")
    bank = official.load_anchors(case["anchors_official_format"])
    model = official.load_model(case["state_dict"], golden_config(case), bank)
    old = {}
    for key, value in model.state_dict().items():
        if key.startswith("anchor_align.") and ".head.proj." in key:
            head, rest = key.removeprefix("anchor_align.").split(".head.proj.")
            old[f"anchor_heads.{head}.proj.{rest}"] = value
        elif key == "cls_loss.class_weights":
            old["class_weights"] = value
        elif not key.endswith(".class_weights"):
            old[key] = value
    fresh = DualBranchVEGA(golden_config(case), official.load_anchors(case["anchors_official_format"])).double()
    fresh.load_state_dict(old)  # strict
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(fresh.state_dict()[key], value), key
