"""The search space: its default, its JSON file, sampling it, and the recipe a set of values makes.

A parameter is named by its path in a recipe (``{"model": {...}, "train": {...}}``, the layout of
``train --config``): ``"train.lr"``, ``"model.hidden_dim"``, ``"model.loss_weights.family.cls_kl"``.
Its distribution is ``{"type": "float" | "int" | "categorical", "low", "high", "log", "choices"}``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models import FUSED

Space = dict[str, dict[str, Any]]

_TYPES = ("float", "int", "categorical")
_FIXED = {
    "model": ("modalities", "num_classes", "num_speakers", "anchor_dim", "losses", "max_utterances"),
    "train": ("seed", "device", "checkpoint_dir", "log_path", "progress", "select_on_test_paper_protocol"),
}
"""Recipe keys a trial may not change: they follow from the features, the run or the protocol."""


def default_space(modalities: Mapping[str, int] | list[str], *, anchors: bool) -> Space:
    """The default search space for features with these modalities, with or without anchors.

    Training: ``lr``, ``batch_size``, ``weight_decay``. Model: ``hidden_dim``, ``num_heads``,
    ``dropout``, ``feature_mask_prob``. Loss weights: the self-distillation family
    (``loss_weights.family.cls_kl``) and each unimodal head's classification term
    (``loss_weights.terms.cls.<modality>``; the fused head's term stays the reference). With anchors:
    the anchor sampling probability (``sampler.p``) and the two anchor families.
    """
    space: Space = {
        "train.lr": {"type": "float", "low": 3e-5, "high": 2e-3, "log": True},
        "train.batch_size": {"type": "categorical", "choices": [8, 16, 32]},
        "train.weight_decay": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
        "model.hidden_dim": {"type": "categorical", "choices": [96, 128, 192, 256, 384]},
        "model.num_heads": {"type": "categorical", "choices": [1, 2, 4, 8]},
        "model.dropout": {"type": "float", "low": 0.1, "high": 0.7},
        "model.feature_mask_prob": {"type": "float", "low": 0.0, "high": 0.3},
        "model.loss_weights.family.cls_kl": {"type": "float", "low": 0.0, "high": 1.0},
    }
    for modality in modalities:
        if modality != FUSED:
            space[f"model.loss_weights.terms.cls.{modality}"] = {"type": "float", "low": 0.1, "high": 1.0}
    if anchors:
        space["model.sampler.p"] = {"type": "float", "low": 0.0, "high": 0.9}
        space["model.loss_weights.family.anchor"] = {"type": "float", "low": 0.1, "high": 1.0}
        space["model.loss_weights.family.anchor_kl"] = {"type": "float", "low": 0.0, "high": 1.0}
    return space


def read_space(source: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """A space override: a mapping, or a JSON file holding one (``{name: distribution or null}``)."""
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"search space file not found: {path}") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON search space ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} holds a JSON {type(data).__name__}, not an object",
            python_fix='pass space={"train.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": true}}',
            cli_fix='write {"train.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": true}} to --space',
        )
    return data


def merge_space(base: Space, override: Mapping[str, Any] | None, recipe: Mapping[str, Any]) -> Space:
    """``base`` updated by ``override`` (an entry replaces or adds a parameter; ``null`` removes it),
    every parameter checked against ``recipe`` (the full recipe of the features).

    Raises:
        ConfigError: an unknown or fixed parameter, or a malformed distribution (named).
    """
    space = copy.deepcopy(base)
    for name, spec in (override or {}).items():
        if spec is None:
            space.pop(name, None)
        else:
            space[str(name)] = dict(spec) if isinstance(spec, Mapping) else spec
    for name, spec in space.items():
        _check_name(name, recipe)
        _check_distribution(name, spec)
    if not space:
        raise ConfigError(
            "the search space is empty", python_fix="leave at least one parameter in space=",
            cli_fix="leave at least one parameter in the --space file",
        )  # fmt: skip
    return space


def _space_error(problem: str) -> ConfigError:
    return ConfigError(
        problem,
        python_fix='give each parameter as "model.<VEGAConfig field>" or "train.<TrainConfig field>" with '
        '{"type": "float" | "int" | "categorical", "low", "high", "log", "choices"} (docs/training.md, Tuning)',
        cli_fix='write each --space entry as "model.<field>" or "train.<field>": {"type": "float" | "int" | '
        '"categorical", "low", "high", "log", "choices"} (docs/training.md, Tuning)',
    )


def _check_name(name: str, recipe: Mapping[str, Any]) -> None:
    section, _, rest = name.partition(".")
    if section not in ("model", "train") or not rest:
        raise _space_error(f"search space parameter {name!r} does not start with 'model.' or 'train.'")
    top = rest.split(".", 1)[0]
    if top in _FIXED[section]:
        raise _space_error(f"search space parameter {name!r} cannot be tuned: {top} follows from the features or run")
    node: Any = recipe[section]
    parts = rest.split(".")
    for i, part in enumerate(parts):
        known = isinstance(node, Mapping) and part in node
        # loss weight terms may name a head that has no entry yet (it weighs 1.0)
        if not known and not (parts[:2] == ["loss_weights", "terms"] and i >= 2):
            raise _space_error(f"search space parameter {name!r}: the recipe has no {'.'.join(parts[: i + 1])!r}")
        node = node.get(part) if isinstance(node, Mapping) else None


def _check_distribution(name: str, spec: Any) -> None:
    if not isinstance(spec, Mapping) or spec.get("type") not in _TYPES:
        raise _space_error(f"search space parameter {name!r} needs a 'type' among {list(_TYPES)}, got {spec!r}")
    allowed = {"type", "choices"} if spec["type"] == "categorical" else {"type", "low", "high", "log", "step"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise _space_error(f"search space parameter {name!r} ({spec['type']}) has unknown keys {extra}")
    if spec["type"] == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _space_error(f"search space parameter {name!r} needs a non-empty 'choices' list")
        if not all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
            raise _space_error(f"search space parameter {name!r}: choices must be numbers, strings, booleans or null")
        return
    low, high = spec.get("low"), spec.get("high")
    kind = int if spec["type"] == "int" else (int, float)
    if not isinstance(low, kind) or not isinstance(high, kind) or isinstance(low, bool) or not low < high:
        raise _space_error(f"search space parameter {name!r} needs numbers low < high, got low={low!r} high={high!r}")
    if spec.get("log") and low <= 0:
        raise _space_error(f"search space parameter {name!r} is log-scaled and needs low > 0, got {low}")


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """One value per parameter from an Optuna ``trial``."""
    values: dict[str, Any] = {}
    for name, spec in space.items():
        if spec["type"] == "categorical":
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            values[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=bool(spec.get("log")), step=int(spec.get("step") or 1)
            )
        else:
            values[name] = trial.suggest_float(
                name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")), step=spec.get("step")
            )
    return values


def lookup(recipe: Mapping[str, Any], name: str) -> Any:
    """The value at a dotted parameter name in a full recipe (None when absent)."""
    node: Any = recipe
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def default_values(space: Space, recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe's own value of each parameter that lies in its distribution (for a first trial)."""
    values: dict[str, Any] = {}
    for name, spec in space.items():
        value = lookup(recipe, name)
        if name.startswith("model.loss_weights.terms.") and value is None:
            value = 1.0  # a term without an entry weighs 1.0
        if spec["type"] == "categorical":
            if value in spec["choices"]:
                values[name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and spec["low"] <= value <= spec["high"]:
            values[name] = int(value) if spec["type"] == "int" else float(value)
    return values


def apply_values(
    base: Mapping[str, Mapping[str, Any]], full: Mapping[str, Any], values: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The recipe (``{"model": overrides, "train": overrides}``, what ``train --config`` reads) of a trial.

    ``base`` is the fixed part (the ``--config`` recipe); ``full`` the complete recipe of the
    features (every field), so a nested parameter (``model.loss_weights.family.cls_kl``) overrides
    its whole top-level field (``loss_weights``) with every other value kept.
    """
    recipe = {"model": dict(base.get("model") or {}), "train": dict(base.get("train") or {})}
    for name, value in values.items():
        section, *parts = name.split(".")
        if len(parts) == 1:
            recipe[section][parts[0]] = value
            continue
        top = parts[0]
        field = copy.deepcopy(recipe[section].get(top, full[section].get(top)))
        node = field
        for part in parts[1:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        recipe[section][top] = field
    return recipe
