"""DualBranchVEGA: the paper's reference model (SDT-style dialogue transformer + VEGA branch)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..anchors.bank import AnchorBank
from ..distributed import world_size
from ..heads import mlp
from ..losses import (
    AnchorAlignmentLoss,
    MaskedCrossEntropyLoss,
    SelfDistillationLoss,
    check_labels,
    denominators,
    masked_rows,
    valid_mask,
)
from ..sampling import StochasticAnchorSampler
from .config import FUSED, VEGAConfig
from .layers import CrossModalBlock, GatedFusion, RowLayout, Standardize, sinusoidal_positions

_KEY_PADDING_BIAS = -1e4  # the official finite fill for padded keys


@dataclass
class VEGAOutput:
    """What :meth:`DualBranchVEGA.forward` returns. Heads are the modalities plus ``"fused"``.

    Attributes:
        logits: head → classifier logits ``[B, T, C]``.
        anchor_logits: head → ``100 · cos(projection, anchors)`` ``[B, T, C]`` (empty when the
            anchor branch was skipped).
        fused: the gated fusion of all modalities ``[B, T, H]``.
        hidden: modality → its reduced representation ``[B, T, H]``.
        cls_temperatures / anchor_temperatures: modality → learnable distillation temperature T
            (scalar, ``exp`` of the stored log).
        average_prob: ``g·softmax(logits.fused) + (1-g)·softmax(anchor_logits.fused)`` ``[B, T, C]``.
        max_prob: per utterance, whichever of those two distributions has the larger maximum.
    """

    logits: dict[str, Tensor]
    anchor_logits: dict[str, Tensor]
    fused: Tensor
    hidden: dict[str, Tensor]
    cls_temperatures: dict[str, Tensor]
    anchor_temperatures: dict[str, Tensor]
    average_prob: Tensor | None = None
    max_prob: Tensor | None = None


@dataclass
class VEGALoss:
    """``total``: the training loss; ``terms``: each weighted term (``"cls/text"``, ``"anchor_kl/audio"``,
    ...) and each family's sum (``"cls"``, ``"cls_kl"``, ``"anchor"``, ``"anchor_kl"``)."""

    total: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


class DualBranchVEGA(nn.Module):
    """The VEGA reference model: per-modality dialogue transformers with cross-modal attention for
    every modality pair, gated fusion, a classification branch and an anchor (VEGA) branch, each with
    fused → unimodal self-distillation. Predictions use the fused classifier.

    Args:
        config: a :class:`VEGAConfig` (e.g. ``VEGAConfig.iemocap()``).
        anchors: the :class:`AnchorBank`; ``None`` builds a backbone-only model (anchor losses off).
        validate_inputs: check input values (finite features, speaker ids in range) at every call;
            this costs a host sync, turn it off for ``torch.compile`` or top speed.
        packed: padding-free execution (default): every per-utterance layer runs on the real
            utterances only and attention stays within each dialogue. ``False`` runs every padded
            position (the official code's way; same results on real utterances).
    """

    prob_gate_logit: Tensor
    positions: Tensor

    def __init__(
        self, config: VEGAConfig, anchors: AnchorBank | None, *, validate_inputs: bool = True, packed: bool = True
    ) -> None:
        super().__init__()
        self.config = config
        self.validate_inputs = validate_inputs
        self.packed = packed
        mods = config.modality_names
        h, c = config.hidden_dim, config.num_classes
        if anchors is None and (config.losses.anchor or config.losses.anchor_kl):
            raise ValueError("anchors=None builds a backbone-only model: switch off losses.anchor and losses.anchor_kl")
        if anchors is not None:
            if anchors.num_classes != c:
                raise ValueError(f"anchor bank has {anchors.num_classes} classes, config.num_classes={c}")
            if anchors.dim != config.anchor_dim:
                raise ValueError(f"anchor bank dim {anchors.dim} != config.anchor_dim {config.anchor_dim}")

        self.input_proj = nn.ModuleDict({m: nn.Linear(d, h, bias=False) for m, d in config.modalities.items()})
        self.input_norm: nn.ModuleDict | None = None
        if config.input_norm == "standardize":
            self.input_norm = nn.ModuleDict({m: Standardize(d) for m, d in config.modalities.items()})
        elif config.input_norm == "layernorm":
            self.input_norm = nn.ModuleDict({m: nn.LayerNorm(d) for m, d in config.modalities.items()})
        self.speaker_embedding = nn.Embedding(config.num_speakers + 1, h, padding_idx=config.num_speakers)
        self.register_buffer("positions", sinusoidal_positions(config.max_utterances, h), persistent=False)
        self.encoders = nn.ModuleDict(
            {
                f"{src}_to_{tgt}": CrossModalBlock(h, config.num_heads, config.dropout, self_attention=src == tgt)
                for tgt in mods
                for src in self.sources(tgt)
            }
        )
        self.reduce = nn.ModuleDict({m: nn.Linear(len(mods) * h, h) for m in mods})
        self.fusion = GatedFusion(h)
        heads = [*mods, FUSED]
        cls_cfg, proj_cfg = config.classifier, config.projector
        self.classifiers = nn.ModuleDict(
            {m: mlp(h, c, layers=cls_cfg.layers, activation=cls_cfg.activation, dropout=cls_cfg.dropout) for m in heads}
        )
        self.cls_distill = nn.ModuleDict(
            {m: SelfDistillationLoss(config.init_temperature, reduction=config.kl_reduction) for m in mods}
        )
        self.bank = anchors
        if anchors is not None:
            # One AnchorAlignmentLoss per head; the model draws the anchors once per step and passes
            # them to every head (the paper's shared draw), so the heads hold none themselves.
            self.anchor_align = nn.ModuleDict(
                {
                    m: AnchorAlignmentLoss(
                        None,
                        h,
                        num_classes=c,
                        anchor_dim=config.anchor_dim,
                        projector_layers=proj_cfg.layers,
                        activation=proj_cfg.activation,
                        dropout=proj_cfg.dropout,
                        logit_scale=config.logit_scale,
                        class_weights=config.class_weights,
                    )
                    for m in heads
                }
            )
            self.anchor_distill = nn.ModuleDict(
                {m: SelfDistillationLoss(config.init_temperature, reduction=config.kl_reduction) for m in mods}
            )
            s = config.sampler
            self.sampler = StochasticAnchorSampler(s.p, s.mode, seed=s.seed)
        # Mixes the two fused distributions for `average_prob`; never in the loss, so a buffer.
        self.register_buffer("prob_gate_logit", torch.zeros(()))
        self.cls_loss = MaskedCrossEntropyLoss(config.class_weights)
        self.register_load_state_dict_pre_hook(_upgrade_state_dict)

    @property
    def class_weights(self) -> Tensor | None:
        """The CE class weights ``[C]`` (``None`` = unweighted), shared by every CE term."""
        return self.cls_loss.class_weights

    @property
    def has_anchor_branch(self) -> bool:
        return self.bank is not None

    def sources(self, target: str) -> list[str]:
        """Source modalities refining ``target``, in concatenation order: itself, then the others."""
        return [target] + [m for m in self.config.modality_names if m != target]

    # ------------------------------------------------------------------ forward
    def _check(self, features: Mapping[str, Tensor], utterance_mask: Tensor, speakers: Tensor) -> None:
        cfg = self.config
        missing = [m for m in cfg.modalities if m not in features]
        unknown = [m for m in features if m not in cfg.modalities]
        if missing or unknown:
            raise TypeError(
                f"model expects modality keywords {list(cfg.modalities)}; missing {missing}, unexpected {unknown}"
            )
        if utterance_mask.dim() != 2:
            raise ValueError(f"utterance_mask must be [batch, utterances], got shape {tuple(utterance_mask.shape)}")
        if (
            utterance_mask.dtype != torch.bool
            and self.validate_inputs
            and bool(((utterance_mask != 0) & (utterance_mask != 1)).any())
        ):
            raise ValueError("utterance_mask must hold only 0/1 (or be bool)")
        b, t = utterance_mask.shape
        if t > cfg.max_utterances:
            raise ValueError(f"dialogues of {t} utterances exceed config.max_utterances={cfg.max_utterances}")
        for m, x in features.items():
            if x.dim() != 3 or x.shape[:2] != (b, t):
                raise ValueError(f"{m} features must be [batch={b}, utterances={t}, dim], got {tuple(x.shape)}")
            if x.shape[-1] != cfg.modalities[m]:
                raise ValueError(f"{m} features have dim {x.shape[-1]}, config expects {cfg.modalities[m]}")
        if speakers.shape[:2] != (b, t) or speakers.dim() not in (2, 3):
            raise ValueError(f"speakers must be [batch, utterances] ids or one-hot, got {tuple(speakers.shape)}")
        if self.validate_inputs:
            for m, x in features.items():
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(
                        f"{m} features contain NaN or Inf; clean them or pass validate_inputs=False "
                        "(values at padded positions are then ignored exactly)"
                    )
            if speakers.dim() == 2:
                ids = speakers[utterance_mask.bool()]
                if ids.numel() and bool(((ids < 0) | (ids >= cfg.num_speakers)).any()):
                    raise ValueError(
                        f"speaker ids must be in [0, {cfg.num_speakers}), got {sorted(set(ids.tolist()))[:10]}"
                    )

    def layout(self, utterance_mask: Tensor) -> RowLayout:
        """The row layout of a batch: real utterances only when ``self.packed`` (one host sync to
        count them), every padded position otherwise."""
        mask = utterance_mask.bool()
        b, t = mask.shape
        key_bias = torch.zeros(mask.shape, device=mask.device).masked_fill(~mask, _KEY_PADDING_BIAS)
        index = mask.reshape(-1).nonzero().squeeze(1) if self.packed else None
        return RowLayout(b, t, index, key_bias[:, None, None, :])

    def encode(
        self, features: Mapping[str, Tensor], utterance_mask: Tensor, speakers: Tensor, layout: RowLayout | None = None
    ) -> tuple[dict[str, Tensor], Tensor, RowLayout]:
        """The backbone on utterance rows.

        ``features``: modality → ``[B, T, D_m]``. Returns (modality → ``[N, H]``, fused ``[N, H]``,
        the layout), where the ``N`` rows are the real utterances (packed) or all ``B·T`` positions.
        """
        layout = layout or self.layout(utterance_mask)
        mask = utterance_mask.bool()
        if speakers.dim() == 3:
            speakers = speakers.argmax(-1)
        pad_id = torch.full_like(speakers, self.config.num_speakers, dtype=torch.long)
        spk = layout.to_rows(torch.where(mask, speakers.long(), pad_id)[..., None]).squeeze(-1)
        proj_dtype = self.input_proj[self.config.modality_names[0]].weight.dtype
        b, t = mask.shape
        position = torch.arange(t, device=mask.device).expand(b, t)
        pos = layout.to_rows(position[..., None]).squeeze(-1)
        context = self.positions.to(proj_dtype)[pos]  # [N, H]
        if self.config.speaker_embedding:
            context = context + self.speaker_embedding(spk)
        p = self.config.feature_mask_prob
        h: dict[str, Tensor] = {}
        for m, x in features.items():
            if layout.index is None:  # padded execution runs every row: padding must not leak (packed never reads it)
                x = masked_rows(x.reshape(b * t, -1), mask.reshape(-1)).reshape(x.shape)
            if self.training and p > 0:
                # Feature-dimension masking: one mask per dialogue and modality (official augmentation).
                keep = torch.rand(x.shape[0], 1, x.shape[-1], device=x.device) >= p
                x = x * keep.to(x.dtype)
            rows = layout.to_rows(x.to(proj_dtype))
            if self.input_norm is not None:
                rows = self.input_norm[m](rows)
            h[m] = self.input_proj[m](rows)
        hidden = {
            tgt: self.reduce[tgt](
                torch.cat(
                    [self.encoders[f"{src}_to_{tgt}"](h[tgt], h[src], context, layout) for src in self.sources(tgt)],
                    dim=-1,
                )
            )
            for tgt in self.config.modality_names
        }
        return hidden, self.fusion(list(hidden.values())), layout

    def forward(
        self,
        *,
        utterance_mask: Tensor,
        speakers: Tensor,
        anchors: Tensor | None = None,
        anchor_branch: bool = True,
        **features: Tensor,
    ) -> VEGAOutput:
        """Run the model.

        Args:
            utterance_mask: ``[B, T]`` 1/True for real utterances, 0/False for padding.
            speakers: ``[B, T]`` speaker ids in ``[0, num_speakers)`` (or ``[B, T, S]`` one-hot).
            anchors: unit-norm ``[C, D]`` anchors overriding the sampler (e.g. ``bank.select(idx)``).
            anchor_branch: ``False`` skips the anchor branch (inference costs only the backbone).
            **features: one ``[B, T, D_m]`` tensor per configured modality, e.g. ``text=..., audio=...``.

        Every output is ``[B, T, ...]``; in packed execution (the default) padded positions hold
        zeros (probabilities there are uniform) and cost nothing.
        """
        self._check(features, utterance_mask, speakers)
        hidden, fused, layout = self.encode(features, utterance_mask, speakers)
        heads = {**hidden, FUSED: fused}
        logits = {m: self.classifiers[m](x) for m, x in heads.items()}
        out = VEGAOutput(
            logits={m: layout.to_padded(x) for m, x in logits.items()},
            anchor_logits={},
            fused=layout.to_padded(fused),
            hidden={m: layout.to_padded(x) for m, x in hidden.items()},
            cls_temperatures={m: d.temperature for m, d in self.cls_distill.items()},
            anchor_temperatures={},
        )
        if anchors is not None and self.bank is None:
            raise ValueError("anchors= given to a backbone-only model (built with anchors=None)")
        if not (anchor_branch and self.bank is not None):
            return out
        if anchors is None:
            anchors = self.sampler(self.bank, fused.shape[0])
        else:
            anchors = torch.nn.functional.normalize(anchors, dim=-1)
        anchor_logits = {m: self.anchor_align[m].logits(x, anchors) for m, x in heads.items()}
        out.anchor_logits = {m: layout.to_padded(x) for m, x in anchor_logits.items()}
        out.anchor_temperatures = {m: d.temperature for m, d in self.anchor_distill.items()}
        p_cls = torch.softmax(out.logits[FUSED], -1)
        p_anchor = torch.softmax(out.anchor_logits[FUSED], -1)
        gate = torch.sigmoid(self.prob_gate_logit).to(p_cls.dtype)
        out.average_prob = gate * p_cls + (1 - gate) * p_anchor
        out.max_prob = torch.where((p_cls.amax(-1) >= p_anchor.amax(-1))[..., None], p_cls, p_anchor)
        return out

    @property
    def needs_input_fit(self) -> bool:
        """True when ``input_norm="standardize"`` and its statistics have not been fitted yet."""
        return self.input_norm is not None and any(
            isinstance(n, Standardize) and not bool(n.fitted) for n in self.input_norm.values()
        )

    def fit_input_normalization(self, dialogues: Iterable[Any]) -> None:
        """Fit ``input_norm="standardize"`` statistics on training dialogues (objects with a
        ``features`` mapping, or mappings, of modality → ``[T, D_m]``). Use the training split only."""
        if self.input_norm is None or not any(isinstance(n, Standardize) for n in self.input_norm.values()):
            raise ValueError("fit_input_normalization needs VEGAConfig(input_norm='standardize')")
        rows: dict[str, list[Tensor]] = {m: [] for m in self.config.modalities}
        for dialogue in dialogues:
            feats = dialogue.features if hasattr(dialogue, "features") else dialogue
            for m in rows:
                rows[m].append(torch.as_tensor(feats[m]).reshape(-1, self.config.modalities[m]))
        if not rows[self.config.modality_names[0]]:
            raise ValueError("fit_input_normalization got no dialogues")
        for m, parts in rows.items():
            norm = self.input_norm[m]
            assert isinstance(norm, Standardize)
            norm.fit(torch.cat(parts).to(norm.mean.device))

    # ------------------------------------------------------------------ loss and inference
    def compute_loss(
        self,
        output: VEGAOutput,
        labels: Tensor,
        utterance_mask: Tensor | None = None,
        *,
        across_ranks: bool | None = None,
    ) -> VEGALoss:
        """The official training objective, composed from the exported losses.

        ``total = Σ_family λ_family · Σ_head λ_term · term`` over the enabled families: class-weighted
        CE of every classifier (``cls``, :class:`MaskedCrossEntropyLoss`), KL(fused → each modality)
        on classifier logits (``cls_kl``, :class:`SelfDistillationLoss`), CE of every anchor head
        (``anchor``, :class:`AnchorAlignmentLoss`), KL(fused → each modality) on anchor logits
        (``anchor_kl``). ``labels [B, T]`` with -1 at padding; ``utterance_mask [B, T]`` (optional, 1 = real).

        ``across_ranks`` (default: on in training mode under ``torch.distributed``) normalises every
        mean over the *global* batch, so DDP's averaged gradients equal a single-process step on the
        whole batch. Each rank's reported values are then its share × world size.
        """
        if across_ranks is None:
            across_ranks = self.training and world_size() > 1
        cfg = self.config
        check_labels(labels, cfg.num_classes)
        valid = valid_mask(labels, utterance_mask, labels.shape)
        target = labels.reshape(-1)
        # One set of denominators (one all_reduce under DDP) shared by every term.
        shared = denominators(target, valid, self.class_weights, across_ranks=across_ranks)
        families: dict[str, dict[str, Tensor]] = {}
        if cfg.losses.cls:
            families["cls"] = {
                m: self.cls_loss(_flat(output.logits[m]), target, valid, denominators=shared, validate=False)
                for m in self._ce_order()
            }
        if cfg.losses.cls_kl:
            families["cls_kl"] = self._distill(output.logits, self.cls_distill, valid, shared)
        if (cfg.losses.anchor or cfg.losses.anchor_kl) and not output.anchor_logits:
            raise ValueError("the anchor losses need anchor logits: call forward with anchor_branch=True")
        if cfg.losses.anchor:
            families["anchor"] = {
                m: self.anchor_align[m].loss(
                    _flat(output.anchor_logits[m]), target, valid, denominators=shared, validate=False
                )
                for m in self._ce_order()
            }
        if cfg.losses.anchor_kl:
            families["anchor_kl"] = self._distill(output.anchor_logits, self.anchor_distill, valid, shared)
        if not families:
            raise ValueError("every loss family is switched off in config.losses")
        return self._weigh(families)

    def _ce_order(self) -> list[str]:
        return [FUSED, *self.config.modality_names]

    def _distill(
        self, logits: dict[str, Tensor], losses: nn.ModuleDict, valid: Tensor, shared: Any
    ) -> dict[str, Tensor]:
        """KL(fused → modality) for every modality, through each modality's :class:`SelfDistillationLoss`."""
        teacher = _flat(logits[FUSED])
        return {
            m: losses[m](_flat(logits[m]), teacher, valid, denominators=shared) for m in self.config.modality_names
        }

    def _weigh(self, families: dict[str, dict[str, Tensor]]) -> VEGALoss:
        """``total = Σ_family λ_family · Σ_head λ_term · term``, with every weighted term named."""
        lw = self.config.loss_weights
        terms: dict[str, Tensor] = {}
        total: Tensor | None = None
        for name, values in families.items():
            weighted = {head: lw.term(name, head) * v for head, v in values.items()}
            terms.update({f"{name}/{head}": v for head, v in weighted.items()})
            terms[name] = torch.stack(list(weighted.values())).sum()
            contribution = lw.family[name] * terms[name]
            total = contribution if total is None else total + contribution
        assert total is not None
        return VEGALoss(total=total, terms=terms)

    @torch.no_grad()
    def predict(self, *, utterance_mask: Tensor, speakers: Tensor, **features: Tensor) -> Tensor:
        """Class ids ``[B, T]`` from the fused classifier (-1 at padding). The anchor branch is
        skipped, so inference costs only the backbone. Uses the current train/eval mode."""
        out = self.forward(utterance_mask=utterance_mask, speakers=speakers, anchor_branch=False, **features)
        pred = out.logits[FUSED].argmax(-1)
        return pred.masked_fill(~utterance_mask.bool(), -1)


def _flat(x: Tensor) -> Tensor:
    return x.reshape(-1, x.shape[-1])


def _upgrade_state_dict(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Read state dicts saved by vega-anchors 0.1 (``anchor_heads.<m>.proj.*``, ``class_weights``)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix) :]
        if rest.startswith("anchor_heads.") and ".proj." in rest:
            head, tail = rest.removeprefix("anchor_heads.").split(".proj.", 1)
            state_dict[f"{prefix}anchor_align.{head}.head.proj.{tail}"] = state_dict.pop(key)
        elif rest == "class_weights":
            weights = state_dict.pop(key)
            state_dict[f"{prefix}cls_loss.class_weights"] = weights
            for head in getattr(module, "anchor_align", {}):
                state_dict.setdefault(f"{prefix}anchor_align.{head}.ce.class_weights", weights)
