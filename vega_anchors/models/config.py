"""VEGAConfig: everything that defines a DualBranchVEGA model and its loss, as data."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._io import atomic_write_text
from ..labels import CLASS_WEIGHTS

FUSED = "fused"
"""Key of the fused (all-modality) head in logits, loss terms and loss weights."""

# The IEMOCAP loss weights (λ) of the official configuration. The per-term weights multiply each
# CE/KL term; the family weights multiply each family's sum (see VEGALoss / docs/model.md).
_IEMOCAP_FAMILY = {
    "cls": 0.952145912451511,
    "cls_kl": 0.34682017654570013,
    "anchor": 0.46216,
    "anchor_kl": 0.4868,
}
_IEMOCAP_TERMS = {
    "cls": {
        "fused": 0.7666280675458248,
        "text": 0.5132246022346865,
        "audio": 0.353586961732085,
        "visual": 0.7752948515843562,
    },
    "cls_kl": {"text": 0.3890408530969896, "audio": 0.6867174752097939, "visual": 0.7814637321138567},
    "anchor": {
        "fused": 0.5279318174861871,
        "text": 0.16915412370438695,
        "audio": 0.30204579599936027,
        "visual": 0.22488632753078353,
    },
    "anchor_kl": {"text": 0.9357852654818557, "audio": 0.27293, "visual": 0.71586},
}



class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class HeadConfig(_Model):
    """An MLP head: ``layers`` Linear maps with ``activation`` and ``dropout`` between them."""

    layers: int = Field(ge=1)
    activation: str
    dropout: float = Field(ge=0.0, lt=1.0)


class SamplerConfig(_Model):
    """Stochastic anchor sampling (see :class:`~vega_anchors.StochasticAnchorSampler`)."""

    p: float = Field(0.4, ge=0.0, le=1.0)
    mode: Literal["batch", "utterance"] = "batch"
    seed: int = 0


class LossSwitches(_Model):
    """Which loss families are on (the official code's four flags)."""

    cls: bool = True
    cls_kl: bool = True
    anchor: bool = True
    anchor_kl: bool = True


class LossWeights(_Model):
    """λ per loss family and per term. ``terms[family][head]`` with heads = modalities + ``"fused"``;
    a missing entry weighs 1.0. KL terms exist for unimodal heads only (the fused head teaches)."""

    family: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(("cls", "cls_kl", "anchor", "anchor_kl"), 1.0)
    )
    terms: dict[str, dict[str, float]] = Field(default_factory=dict)

    @field_validator("family", "terms")
    @classmethod
    def _known_families(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - {"cls", "cls_kl", "anchor", "anchor_kl"}
        if unknown:
            raise ValueError(f"unknown loss families {sorted(unknown)}; use cls, cls_kl, anchor, anchor_kl")
        return value

    def term(self, family: str, head: str) -> float:
        return self.terms.get(family, {}).get(head, 1.0)


OFFICIAL_PRESETS: dict[str, dict[str, Any]] = {
    "iemocap": {},
    "meld": {
        "modalities": {"text": 1024, "audio": 300, "visual": 342},
        "num_classes": 7,
        "num_speakers": 9,
        "class_weights": list(CLASS_WEIGHTS["meld"]),
    },
}
"""The official model presets as :class:`VEGAConfig` settings over its defaults (which are IEMOCAP's);
the registry of named recipes, training settings included, is :data:`vega_anchors.recipes.PRESETS`."""


class VEGAConfig(_Model):
    """Configuration of :class:`~vega_anchors.DualBranchVEGA` and its loss.

    ``modalities`` maps each input modality (any names, any number) to its feature dim, in the
    order the model uses them. Defaults are the IEMOCAP preset.
    """

    modalities: dict[str, int] = Field(default_factory=lambda: {"text": 1024, "audio": 1582, "visual": 342})
    hidden_dim: int = Field(768, ge=1)
    num_heads: int = Field(4, ge=1)
    dropout: float = Field(0.53, ge=0.0, lt=1.0)
    num_classes: int = Field(6, ge=2)
    num_speakers: int = Field(2, ge=1)
    speaker_embedding: bool = Field(
        True, description="add a learned speaker embedding to each utterance's context (False: positions only)"
    )
    max_utterances: int = Field(512, ge=1, description="longest dialogue (positional table size)")
    anchor_dim: int = Field(512, ge=1)
    classifier: HeadConfig = Field(default_factory=lambda: HeadConfig(layers=3, activation="gelu", dropout=0.3963))
    projector: HeadConfig = Field(default_factory=lambda: HeadConfig(layers=2, activation="elu", dropout=0.37442))
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    logit_scale: float = 100.0
    init_temperature: float = Field(2.0, gt=0.0)
    kl_reduction: Literal["elementwise_mean", "batchmean"] = "elementwise_mean"
    class_weights: list[float] | None = Field(default_factory=lambda: list(CLASS_WEIGHTS["iemocap"]))
    losses: LossSwitches = Field(default_factory=LossSwitches)
    loss_weights: LossWeights = Field(
        default_factory=LossWeights,
        description="default: the official IEMOCAP λs for the heads this config has (others weigh 1.0)",
    )
    input_norm: Literal["none", "standardize", "layernorm"] = Field(
        "none",
        description="per-modality input normalisation: 'standardize' (mean/std fitted on the training split, "
        "stored with the model) or 'layernorm'; 'none' in the official presets (parity)",
    )
    feature_mask_prob: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="training augmentation: each feature dim of each dialogue/modality zeroed with this probability",
    )

    @model_validator(mode="before")
    @classmethod
    def _official_loss_weights(cls, data: Any) -> Any:
        if isinstance(data, dict) and "optim" in data:
            # configs saved before 0.3 carried a copy of the training settings; they live in TrainConfig and
            # the preset registry (vega_anchors.recipes.PRESETS) now
            data = {k: v for k, v in data.items() if k != "optim"}
        if isinstance(data, dict) and "loss_weights" not in data:
            modalities = data.get("modalities") or cls.model_fields["modalities"].get_default(call_default_factory=True)
            heads = {*modalities, FUSED}
            terms = {fam: {h: w for h, w in ws.items() if h in heads} for fam, ws in _IEMOCAP_TERMS.items()}
            data = {**data, "loss_weights": {"family": dict(_IEMOCAP_FAMILY), "terms": terms}}
        return data

    @field_validator("modalities")
    @classmethod
    def _check_modalities(cls, value: dict[str, int]) -> dict[str, int]:
        if not value:
            raise ValueError("at least one modality is needed, e.g. {'text': 1024}")
        for name, dim in value.items():
            if name == FUSED or "." in name or not name:
                raise ValueError(f"modality name {name!r} is reserved or invalid")
            if dim < 1:
                raise ValueError(f"modality {name!r} needs a positive feature dim, got {dim}")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> VEGAConfig:
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} must be divisible by num_heads {self.num_heads}")
        if self.class_weights is not None and len(self.class_weights) != self.num_classes:
            raise ValueError(f"class_weights has {len(self.class_weights)} entries for num_classes={self.num_classes}")
        heads = set(self.modalities) | {FUSED}
        for family, terms in self.loss_weights.terms.items():
            unknown = set(terms) - heads
            if unknown:
                raise ValueError(
                    f"loss_weights.terms[{family!r}] names unknown heads {sorted(unknown)}; heads are {sorted(heads)}"
                )
        return self

    @property
    def modality_names(self) -> list[str]:
        return list(self.modalities)

    # ------------------------------------------------------------------ presets
    @classmethod
    def iemocap(cls, **overrides: Any) -> VEGAConfig:
        """The official IEMOCAP configuration (6 classes, 2 speakers, audio 1582-d): the field defaults.
        Listed with the training recipes in :data:`vega_anchors.recipes.PRESETS`."""
        return cls(**{**OFFICIAL_PRESETS["iemocap"], **overrides})

    @classmethod
    def meld(cls, **overrides: Any) -> VEGAConfig:
        """The official MELD configuration (7 classes, 9 speakers, audio 300-d). Listed with the training
        recipes in :data:`vega_anchors.recipes.PRESETS`.

        The loss weights are the IEMOCAP preset's (the MELD-specific λs were not available to us);
        override ``loss_weights`` to change them.
        """
        return cls(**{**OFFICIAL_PRESETS["meld"], **overrides})

    # ------------------------------------------------------------------ serialisation
    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """JSON text of this config; also written atomically to ``path`` when given."""
        text = self.model_dump_json(indent=2)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> VEGAConfig:
        """Parse JSON text, or read it from a file path."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text(encoding="utf-8")
        return cls.model_validate(json.loads(text))
