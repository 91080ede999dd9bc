"""Helpers to read the golden vectors produced by the official VEGA implementation (float64)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import torch

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig
from vega_anchors.official import config_from_args, load_anchors, load_model

GOLDEN = Path(__file__).parent / "golden"
CASES = ("iemocap_small", "meld_small")
LETTER = {"t": "text", "a": "audio", "v": "visual", "all": "fused"}
# official loss-term name → ours
TERM_NAMES = {
    "cls": "cls",
    "cls_kl": "cls_kl",
    "clip": "anchor",
    "clip_kl": "anchor_kl",
    "cls_all": "cls/fused",
    "clip_all": "anchor/fused",
    **{f"cls_{k}": f"cls/{v}" for k, v in LETTER.items() if k != "all"},
    **{f"cls_kl_{k}": f"cls_kl/{v}" for k, v in LETTER.items() if k != "all"},
    **{f"clip_{k}": f"anchor/{v}" for k, v in LETTER.items() if k != "all"},
    **{f"clip_kl_{k}": f"anchor_kl/{v}" for k, v in LETTER.items() if k != "all"},
}


@cache
def load_case(name: str) -> dict[str, Any]:
    return torch.load(GOLDEN / f"{name}.pt", weights_only=True)


def golden_config(case: dict[str, Any]) -> VEGAConfig:
    meta = case["meta"]
    return config_from_args(
        **meta["loss_lambdas"], **meta["dims"], **meta["head_config"], n_classes=len(meta["dataset_labels"])
    ).model_copy(update={"class_weights": list(meta["class_weights"])})


def golden_model(case: dict[str, Any], packed: bool = True) -> tuple[DualBranchVEGA, AnchorBank]:
    bank = load_anchors(case["anchors_official_format"])
    model = load_model(case["state_dict"], golden_config(case), bank, packed=packed).eval()
    return model, bank


def model_inputs(case: dict[str, Any]) -> dict[str, torch.Tensor]:
    x = case["inputs"]
    return {
        "text": x["text"],
        "audio": x["audio"],
        "visual": x["visual"],
        "utterance_mask": x["utterance_mask"],
        "speakers": x["speaker_onehot"].argmax(-1),
    }


def our_output(out: Any, official_key: str) -> torch.Tensor:
    """The tensor of our VEGAOutput that corresponds to an official ``outputs_eval`` key."""
    if official_key == "all_transformer_out":
        return out.fused
    if official_key in ("average_prob", "max_prob"):
        return getattr(out, official_key)
    head, _, kind = official_key.partition("_")
    if kind == "logit":
        return out.logits[LETTER[head]]
    if kind == "clip_logit":
        return out.anchor_logits[LETTER[head]]
    if kind == "cls_temp":
        return out.cls_temperatures[LETTER[head]]
    if kind == "clip_temp":
        return out.anchor_temperatures[LETTER[head]]
    raise KeyError(official_key)
