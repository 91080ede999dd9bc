"""The default recipe for your own features: any class count, any set of modalities.

The recipe is the MELD text recipe of docs/own_data.md, generalised: ``input_norm="standardize"``
(features of any scale), a CPU-sized model (hidden 256, 4 heads, dropout 0.5, feature masking 0.3, a
linear classifier head),
no class weights, AdamW at peak lr 3e-4 (weight decay 0.00997), batch 16, a budget of 3,000
optimizer steps whatever the data size (linear warm-up over 5%, cosine decay; early stopping 750 steps
after the best evaluation, never before step 1,000), and a moving average of the weights
(``ema_decay=0.99``) as the model that is evaluated and kept. The class count follows from
``class_names``; the anchor losses are on only when there is an anchor bank. ``vega-anchors train``
uses it; ``--config recipe.json`` overrides it (``{"model": {...}, "train": {...}}``).

:data:`PRESETS` is the one registry of named recipes (``iemocap``, ``meld``, ``own-data``).

Best with text features from ``build-features --layers -4 -3 -2 -1`` (the last four layers of the
encoder, mean-pooled; docs/own_data.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError
from .models import VEGAConfig
from .models.config import OFFICIAL_PRESETS
from .training import TrainConfig

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_TRAIN",
    "PRESETS",
    "Preset",
    "default_model_config",
    "default_train_config",
    "preset_model_config",
    "preset_train_config",
    "read_recipe",
]

DEFAULT_MODEL: dict[str, Any] = {
    "hidden_dim": 256,
    "num_heads": 4,
    "dropout": 0.5,
    "feature_mask_prob": 0.3,
    "input_norm": "standardize",
    "class_weights": None,
    "classifier": {"layers": 1, "activation": "gelu", "dropout": 0.0},
}
"""The default recipe's :class:`~vega_anchors.VEGAConfig` settings (the rest are VEGAConfig's defaults)."""

DEFAULT_TRAIN: dict[str, Any] = {
    "max_steps": 3000,
    "batch_size": 16,
    "lr": 3e-4,
    "weight_decay": 0.00997,
    "scheduler": "cosine",
    "warmup_fraction": 0.05,
    "patience": None,
    "patience_steps": 750,
    "min_steps": 1000,
    "ema_decay": 0.99,
}
"""The default recipe's :class:`~vega_anchors.training.TrainConfig` settings: a budget of 3,000
optimizer steps whatever the data size (epochs follow from it: about 46 on MELD's 65 batches an
epoch, about 430 on 7), linear warm-up over its first 5% then cosine decay, one evaluation per epoch,
and early stopping 750 steps after the best evaluation, never before step 1,000."""


class Preset(NamedTuple):
    """A named recipe: ``model`` (:class:`~vega_anchors.VEGAConfig` settings over its defaults) and
    ``train`` (:class:`~vega_anchors.training.TrainConfig` settings over its defaults)."""

    name: str
    description: str
    model: Mapping[str, Any]
    train: Mapping[str, Any]


PRESETS: dict[str, Preset] = {
    "iemocap": Preset(
        "iemocap",
        "the official IEMOCAP configuration (6 classes, 2 speakers, text 1024 / audio 1582 / visual 342) and "
        "training recipe (TrainConfig's defaults: AdamW lr 9.839e-5, weight decay 0.00997, batch 9, 400 epochs, "
        "patience 30)",
        OFFICIAL_PRESETS["iemocap"],
        {},
    ),
    "meld": Preset(
        "meld",
        "the official MELD configuration (7 classes, 9 speakers, audio 300-d, MELD class weights; the IEMOCAP loss "
        "weights) with the official training recipe (TrainConfig's defaults)",
        OFFICIAL_PRESETS["meld"],
        {},
    ),
    "own-data": Preset(
        "own-data",
        "the default recipe for your own features (vega-anchors train): DEFAULT_MODEL and DEFAULT_TRAIN; the class "
        "count and modalities follow from the features (default_model_config)",
        DEFAULT_MODEL,
        DEFAULT_TRAIN,
    ),
}
"""The one registry of named recipes: the official ``iemocap`` and ``meld`` presets and the ``own-data``
recipe of ``vega-anchors train``."""


def _preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(
            f"unknown preset {name!r}; the presets are {sorted(PRESETS)}",
            python_fix=f"pass one of {sorted(PRESETS)}",
        )
    return PRESETS[name]


def preset_model_config(name: str, **overrides: Any) -> VEGAConfig:
    """The :class:`~vega_anchors.VEGAConfig` of preset ``name`` with ``overrides`` (equal to
    ``VEGAConfig.iemocap(...)`` and ``VEGAConfig.meld(...)``). For ``"own-data"`` pass ``modalities``,
    ``num_classes`` and ``num_speakers`` of your features (or use :func:`default_model_config`)."""
    return VEGAConfig(**{**_preset(name).model, **overrides})


def preset_train_config(name: str, **overrides: Any) -> TrainConfig:
    """The :class:`~vega_anchors.training.TrainConfig` of preset ``name`` with ``overrides``. A budget in
    epochs (``epochs=...`` without ``max_steps``) replaces a preset's step budget."""
    settings = {**_preset(name).train, **overrides}
    if "epochs" in overrides and "max_steps" not in overrides:
        settings["max_steps"] = None
    return TrainConfig(**settings)


def default_model_config(
    modalities: Mapping[str, int],
    class_names: Sequence[str],
    *,
    num_speakers: int,
    anchor_dim: int | None = None,
    **overrides: Any,
) -> VEGAConfig:
    """The default recipe's model for features with ``modalities`` (``{name: dim}``) and ``class_names``.

    Args:
        modalities: feature dim per modality, e.g. ``{"text": 1536}`` or ``{"text": 1536, "audio": 88}``.
        class_names: the classes, in label order; ``num_classes = len(class_names)``.
        num_speakers: speaker ids of the features (``FeatureSet.num_speakers``).
        anchor_dim: the anchor bank's dim; ``None``: no anchor branch (anchor losses off).
        **overrides: any :class:`~vega_anchors.VEGAConfig` field (e.g. ``hidden_dim=256``).

    Raises:
        ConfigError: ``num_classes`` or ``class_weights`` disagreeing with ``class_names`` (the fix
            is named).
    """
    classes = len(class_names)
    if classes < 2:
        raise ConfigError(
            f"{classes} class(es) {list(class_names)}: a classifier needs at least 2",
            python_fix="give class_names with at least 2 classes (label_names='auto' reads them from the table)",
            cli_fix="build the features with at least 2 classes (--labels auto or --labels a,b,c)",
        )
    if "num_classes" in overrides and overrides["num_classes"] != classes:
        raise ConfigError(
            f"num_classes={overrides['num_classes']} disagrees with the {classes} classes of the features "
            f"{list(class_names)}",
            python_fix="leave out num_classes: it follows from class_names",
            cli_fix='remove "num_classes" from the --config recipe: it follows from the labels of the features '
            "(build-features --labels)",
        )
    weights = overrides.get("class_weights")
    if weights is not None and len(weights) != classes:
        raise ConfigError(
            f"class_weights has {len(weights)} entries for the {classes} classes {list(class_names)}",
            python_fix=f"pass class_weights with {classes} entries (label order) or None",
            cli_fix=f'give "class_weights" with {classes} entries (label order) or null in the --config recipe',
        )
    anchors = anchor_dim is not None
    settings: dict[str, Any] = {
        **DEFAULT_MODEL,
        "modalities": dict(modalities),
        "num_classes": classes,
        "num_speakers": int(num_speakers),
        "losses": {"anchor": anchors, "anchor_kl": anchors},
    }
    if anchor_dim is not None:
        settings["anchor_dim"] = int(anchor_dim)
    settings.update(overrides)
    return VEGAConfig(**settings)


def default_train_config(**overrides: Any) -> TrainConfig:
    """The default recipe's :class:`~vega_anchors.training.TrainConfig` (``preset_train_config("own-data")``);
    keyword arguments override it. A budget in epochs (``epochs=...`` without ``max_steps``) replaces the
    recipe's step budget."""
    return preset_train_config("own-data", **overrides)


def read_recipe(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a recipe file: JSON ``{"model": {VEGAConfig fields}, "train": {TrainConfig fields}}`` (either
    part optional; a ``config.json`` of a run works too). Returns ``(model overrides, train overrides)``.
    Keys that a run sets itself (``modalities``, ``num_classes``, ``num_speakers``, ``anchor_dim``,
    ``losses`` from a run's config; ``seed``, ``device``, ``checkpoint_dir``, ``log_path``, ``progress``)
    are dropped from a run's ``config.json``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON recipe ({err})") from err
    if not isinstance(data, dict) or not set(data) & {"model", "train"}:
        raise ConfigError(
            f"{path} holds no 'model' or 'train' section",
            python_fix='write {"model": {"hidden_dim": 256}, "train": {"epochs": 40}} (either part optional)',
        )
    model = dict(data.get("model") or {})
    train = dict(data.get("train") or {})
    if "features" in data:  # a run's config.json: keep only the recipe
        for key in ("modalities", "num_classes", "num_speakers", "anchor_dim", "losses"):
            model.pop(key, None)
    for key in ("seed", "device", "checkpoint_dir", "log_path", "progress"):
        train.pop(key, None)
    return model, train
