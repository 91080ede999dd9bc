"""The official training script's argument names (``text_dim``, ``n_head``, ``clip_lambda``, ...) → a VEGAConfig."""

from __future__ import annotations

from typing import Any

from ..labels import CLASS_WEIGHTS
from ..models.config import FUSED, VEGAConfig

__all__ = ["config_from_args"]

_MODALITY_LETTERS = {"t": "text", "a": "audio", "v": "visual", "all": FUSED}


def config_from_args(**kwargs: Any) -> VEGAConfig:
    """Build from the official argument names (``text_dim``, ``n_head``, ``clip_lambda``, ...).

    Arguments not given take the IEMOCAP preset's value. Unknown names raise.
    """
    cfg = VEGAConfig.iemocap().model_dump()
    mods = dict(cfg["modalities"])
    simple = {
        "hidden_dim": "hidden_dim",
        "n_head": "num_heads",
        "n_classes": "num_classes",
        "n_speakers": "num_speakers",
        "clip_dim": "anchor_dim",
        "dropout": "dropout",
    }
    heads = {
        "outlayer_num": ("classifier", "layers"),
        "outlayer_activation_fn": ("classifier", "activation"),
        "outlayer_drop": ("classifier", "dropout"),
        "clip_proj_layer_num": ("projector", "layers"),
        "clip_proj_activation_fn": ("projector", "activation"),
        "clip_proj_drop": ("projector", "dropout"),
    }
    family = {
        "cls_lambda": "cls",
        "cls_all_cls_kl_lambda": "cls_kl",
        "clip_lambda": "anchor",
        "clip_all_clip_kl_lambda": "anchor_kl",
    }
    switches = {
        "cls_loss": "cls",
        "cls_all_cls_kl_loss": "cls_kl",
        "clip_loss": "anchor",
        "clip_all_clip_kl_loss": "anchor_kl",
    }
    training = {"lr", "l2", "weight_decay", "batch_size", "epochs"}
    unknown = []
    for key, value in kwargs.items():
        if key in ("text_dim", "audio_dim", "visual_dim"):
            mods[{"text_dim": "text", "audio_dim": "audio", "visual_dim": "visual"}[key]] = int(value)
        elif key in simple:
            cfg[simple[key]] = value
        elif key in heads:
            section, field = heads[key]
            cfg[section][field] = value
        elif key == "rand":
            cfg["sampler"]["p"] = value
        elif key in family:
            cfg["loss_weights"]["family"][family[key]] = value
        elif key in switches:
            cfg["losses"][switches[key]] = bool(value)
        elif key in training:
            raise ValueError(
                f"{key} is a training setting, not part of the model config: pass it to TrainConfig "
                "(vega_anchors.recipes.preset_train_config('iemocap', lr=..., weight_decay=..., batch_size=..., "
                "epochs=...); the official l2 is weight_decay)"
            )
        elif key.endswith("_lambda") and (term := _official_term(key)) is not None:
            fam, head = term
            cfg["loss_weights"]["terms"].setdefault(fam, {})[head] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"unknown official arguments {sorted(unknown)}; pass only model/loss arguments")
    cfg["modalities"] = mods
    if (
        "n_classes" in kwargs
        and cfg["class_weights"] is not None
        and len(cfg["class_weights"]) != cfg["num_classes"]
    ):
        known = {len(w): list(w) for w in CLASS_WEIGHTS.values()}
        cfg["class_weights"] = known.get(cfg["num_classes"])
    return VEGAConfig(**cfg)


def _official_term(key: str) -> tuple[str, str] | None:
    """``t_clip_all_clip_kl_lambda`` → ("anchor_kl", "text"); ``cls_all_lambda`` → ("cls", "fused")."""
    name = key[: -len("_lambda")]
    patterns = [("_cls_all_cls_kl", "cls_kl"), ("_clip_all_clip_kl", "anchor_kl"), ("_clip", "anchor")]
    for suffix, fam in patterns:
        if name.endswith(suffix):
            letter = name[: -len(suffix)]
            return (fam, _MODALITY_LETTERS[letter]) if letter in _MODALITY_LETTERS else None
    if name.startswith("cls_"):
        letter = name[len("cls_") :]
        return ("cls", _MODALITY_LETTERS[letter]) if letter in _MODALITY_LETTERS else None
    return None
