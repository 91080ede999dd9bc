"""Official VEGA checkpoints (``IEMOCAP.pth``): parameter-name mapping and loading.

The official model names parameters by modality letter (``t``, ``a``, ``v``, ``all``) and encoder
pair (``a_t`` = keys/values from audio, queries from text). :func:`from_official_state_dict` and
:func:`to_official_state_dict` translate both ways; the mapping is a bijection on everything the
official checkpoint stores, except the nine identical positional tables (``*.pos_emb.pe``), which
our model computes once and which are regenerated on the way back.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .._io import safe_torch_load
from ..anchors.bank import AnchorBank
from ..models.config import FUSED, VEGAConfig
from ..models.dual_branch import DualBranchVEGA
from ..models.layers import sinusoidal_positions

logger = logging.getLogger(__name__)

LETTERS = {"t": "text", "a": "audio", "v": "visual", "all": FUSED}
_UNIMODAL = {k: v for k, v in LETTERS.items() if v != FUSED}
_INPUT = {"textf_input": "text", "acouf_input": "audio", "visuf_input": "visual"}
_BLOCK = {
    "transformer_inter.0.self_attn.linear_q": "attn.q",
    "transformer_inter.0.self_attn.linear_k": "attn.k",
    "transformer_inter.0.self_attn.linear_v": "attn.v",
    "transformer_inter.0.self_attn.linear": "attn.out",
    "transformer_inter.0.feed_forward.layer_norm": "ffn.norm",
    "transformer_inter.0.feed_forward.w_1": "ffn.fc1",
    "transformer_inter.0.feed_forward.w_2": "ffn.fc2",
    "transformer_inter.0.layer_norm": "unused_norm",
}
# A placeholder is an official → ours table, or a regex for text copied unchanged.
_SLOTS: dict[str, dict[str, str] | str] = {
    "x": _UNIMODAL, "y": _UNIMODAL, "X": LETTERS, "inp": _INPUT, "blk": _BLOCK,
    "i": r"\d+", "p": "weight|bias", "rest": ".+",
}  # fmt: skip
_INVERSE = {k: {v: o for o, v in t.items()} for k, t in _SLOTS.items() if isinstance(t, dict)}
# THE parameter-name mapping: (official template, our template); read both ways.
_KEY_TABLE = [
    ("{x}_cls_temp", "cls_distill.{x}.log_temperature"),
    ("{x}_clip_temp", "anchor_distill.{x}.log_temperature"),
    ("prob_gate_logit", "prob_gate_logit"),
    ("speaker_embeddings.{rest}", "speaker_embedding.{rest}"),
    ("{inp}.weight", "input_proj.{inp}.weight"),
    ("{x}_{y}_gate.fc.weight", "encoders.{x}_to_{y}.gate.weight"),
    ("{x}_{y}.{blk}.{p}", "encoders.{x}_to_{y}.{blk}.{p}"),
    ("features_reduce_{x}.{p}", "reduce.{x}.{p}"),
    ("last_gate.fc.weight", "fusion.gate.weight"),
    ("{X}_output_layer.{i}.{p}", "classifiers.{X}.{i}.{p}"),
    ("{X}_clip_proj.{i}.{p}", "anchor_align.{X}.head.proj.{i}.{p}"),
]


def _compile(template: str, official: bool) -> re.Pattern[str]:
    def slot(name: str) -> str:
        table = _SLOTS[name]
        if isinstance(table, str):
            return f"(?P<{name}>{table})"
        return f"(?P<{name}>{'|'.join(map(re.escape, table if official else table.values()))})"

    parts = re.split(r"\{(\w+)\}", template)  # literal, slot, literal, slot, ...
    return re.compile("".join(slot(t) if n % 2 else re.escape(t) for n, t in enumerate(parts)))


_RULES = [(_compile(off, True), _compile(ours, False), off, ours) for off, ours in _KEY_TABLE]


def _translate(key: str, *, to_ours: bool) -> str | None:
    """``key`` renamed through :data:`_KEY_TABLE`; ``None`` when no row matches."""
    for official_re, ours_re, official, ours in _RULES:
        m = (official_re if to_ours else ours_re).fullmatch(key)
        if m is None:
            continue
        values = {
            name: value if isinstance(_SLOTS[name], str) else (_SLOTS[name] if to_ours else _INVERSE[name])[value]
            for name, value in m.groupdict().items()
        }
        return (ours if to_ours else official).format(**values)
    return None


def _official_key_to_ours(key: str) -> str | None:
    """Our name for an official key; ``None`` for keys we do not store (positional tables)."""
    if key.endswith(".pos_emb.pe"):
        return None
    name = _translate(key, to_ours=True)
    if name is None:
        raise KeyError(f"unrecognised official parameter name {key!r}")
    return name


def _our_key_to_official(key: str) -> str | None:
    """The official name of one of our keys; ``None`` for state that has no official counterpart
    (anchor bank, sampler state, class weights)."""
    return _translate(key, to_ours=False)


_FUSED = re.compile(r"(encoders\.(\w+)_to_(\w+)\.attn)\.(qkv|kv)\.(weight|bias)")


def _fuse_attention(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Separate ``attn.q/k/v`` tensors → our stored ``attn.qkv`` (self-attention) or ``attn.kv``."""
    out = dict(sd)
    for key in list(sd):
        m = re.fullmatch(r"(encoders\.(\w+)_to_(\w+)\.attn)\.q\.(weight|bias)", key)
        if m is None:
            continue
        prefix, src, tgt, kind = m[1], m[2], m[3], m[4]
        parts = ["q", "k", "v"] if src == tgt else ["k", "v"]
        names = [f"{prefix}.{p}.{kind}" for p in parts]
        if all(n in sd for n in names):
            out[f"{prefix}.{''.join(parts)}.{kind}"] = torch.cat([sd[n] for n in names])
            for n in names:
                out.pop(n)
    return out


def _split_attention(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Our ``attn.qkv`` / ``attn.kv`` tensors → separate ``attn.q/k/v`` (the official layout)."""
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        m = _FUSED.fullmatch(key)
        if m is None:
            out[key] = value
            continue
        for part, chunk in zip(m[4], value.chunk(len(m[4])), strict=True):
            out[f"{m[1]}.{part}.{m[5]}"] = chunk
    return out


def _official_names(key: str) -> list[str]:
    """Official names of one of our keys (several for a fused attention projection)."""
    m = _FUSED.fullmatch(key)
    parts = [f"{m[1]}.{p}.{m[5]}" for p in m[4]] if m else [key]
    return [n for n in map(_our_key_to_official, parts) if n is not None]


def from_official_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Translate an official state dict to our parameter names (kernel-1 Conv1d → Linear weights;
    ``linear_q/k/v`` → our fused ``qkv`` / ``q`` + ``kv`` projections).

    The positional tables are dropped (our model computes the same float32 table).
    """
    ours: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")  # checkpoints saved from DataParallel/DDP
        name = _official_key_to_ours(key)
        if name is None:
            continue
        if name.startswith("input_proj.") and value.dim() == 3:
            value = value.squeeze(-1)
        ours[name] = value
    return _fuse_attention(ours)


def to_official_state_dict(state_dict: Mapping[str, Tensor], *, max_len: int = 512) -> dict[str, Tensor]:
    """Translate our state dict to official names (Linear → kernel-1 Conv1d weights), adding the nine
    positional tables. Our-only state (anchor bank, sampler, class weights) is left out."""
    official: dict[str, Tensor] = {}
    hidden = None
    for key, value in _split_attention(state_dict).items():
        if key.startswith("input_proj.") and key.split(".")[1] not in _INVERSE["inp"]:
            raise KeyError(f"{key}: only text/audio/visual models have official parameter names")
        name = _our_key_to_official(key)
        if name is None:
            continue
        if key.startswith("input_proj."):
            value = value.unsqueeze(-1)
        if key.startswith("speaker_embedding."):
            hidden = value.shape[-1]
        official[name] = value
    if hidden is not None:
        pe = sinusoidal_positions(max_len, hidden)[None]
        dtype = next(iter(official.values())).dtype
        for tgt in "tav":
            for src in "tav":
                if f"{src}_{tgt}_gate.fc.weight" in official:
                    official[f"{src}_{tgt}.pos_emb.pe"] = pe.to(dtype)
    return official


def read_official_checkpoint(
    path_or_state_dict: str | os.PathLike[str] | Mapping[str, Any],
) -> dict[str, Tensor]:
    """An official checkpoint's state dict: from a mapping, or a file read with
    ``torch.load(weights_only=True)`` (plain state dict or ``{"state_dict": ...}``)."""
    data = path_or_state_dict if isinstance(path_or_state_dict, Mapping) else safe_torch_load(path_or_state_dict)
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not all(isinstance(v, Tensor) for v in data.values()):
        raise ValueError("not an official checkpoint: expected a state dict of tensors (or {'state_dict': ...})")
    return dict(data)


def load_official_state_dict(
    model: DualBranchVEGA, path_or_state_dict: str | os.PathLike[str] | Mapping[str, Any]
) -> None:
    """Load official weights into ``model`` strictly: every official key must land and every model
    parameter must be covered (anchor-bank and sampler state excepted)."""
    ours = from_official_state_dict(read_official_checkpoint(path_or_state_dict))
    expected = {k for k in model.state_dict() if _official_names(k)}
    missing, unexpected = sorted(expected - set(ours)), sorted(set(ours) - expected)
    if missing or unexpected:
        raise ValueError(
            "official checkpoint does not match this configuration: "
            f"missing {[n for k in missing for n in _official_names(k)][:8]}, unexpected {unexpected[:8]}. "
            "Check modalities, hidden_dim, num_speakers and the anchor branch in VEGAConfig."
        )
    current = model.state_dict()
    for key, value in ours.items():
        if current[key].shape != value.shape:
            raise ValueError(
                f"official {_official_names(key)} has shape {tuple(value.shape)}, the model expects "
                f"{tuple(current[key].shape)}: check the config's dims"
            )
    model.load_state_dict(ours, strict=False)
    logger.info("loaded %d official tensors", len(ours))


def load_model(
    path_or_state_dict: str | os.PathLike[str] | Mapping[str, Any],
    config: VEGAConfig,
    anchors: AnchorBank | None,
    **kwargs: Any,
) -> DualBranchVEGA:
    """A :class:`DualBranchVEGA` with an official checkpoint's weights (``IEMOCAP.pth``: a plain state
    dict or ``{"state_dict": ...}``, read with ``torch.load(weights_only=True)``). The model takes the
    checkpoint's floating dtype; ``kwargs`` go to the model (e.g. ``packed=False``)."""
    state = read_official_checkpoint(path_or_state_dict)
    dtype = next((v.dtype for v in state.values() if v.is_floating_point()), torch.float32)
    model = DualBranchVEGA(config, anchors, **kwargs).to(dtype)
    load_official_state_dict(model, state)
    return model


__all__ = [
    "from_official_state_dict",
    "load_model",
    "load_official_state_dict",
    "read_official_checkpoint",
    "to_official_state_dict",
]
