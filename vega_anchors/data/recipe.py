"""The feature recipe: how a feature store was built, in one record every consumer compares.

A run records the :class:`FeatureRecipe` of the store it was trained on (``RUN_DIR/feature_recipe.json``,
written by ``train``); ``predict`` and ``evaluate`` compare it with the store they are given
(:func:`check_feature_recipe`) and refuse a store built another way — another text encoder, other
layers or context turns, another speaker list, other media extractors or frame count — with one error
naming each field and both values. ``allow_mismatch=True`` (``--allow-feature-mismatch``) turns the
error into a logged warning.

The record is also what rebuilding a store needs: the text encoder's identity record
(``extras["encoder"]``: name, identity, backend, layers, dim, context), the media extractors'
records (``extras["media"]["extractors"]``) and the speaker map.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from .._io import atomic_write_text
from ..errors import ConfigError
from .types import FeatureSet

logger = logging.getLogger(__name__)

__all__ = ["FEATURE_RECIPE_FILE", "FeatureRecipe", "check_feature_recipe"]

FEATURE_RECIPE_FILE = "feature_recipe.json"
"""The file name of a run's recorded feature recipe."""


def _split_decoding(lines: Any) -> tuple[list[str] | None, int | None]:
    """``(extractor lines, frames)`` from a media record: the identity lines less the decoding line
    (``frames=N`` for visual, ``sample_rate=R`` for audio), and ``N``."""
    if not isinstance(lines, list) or not lines:
        return None, None
    frames = None
    last = str(lines[-1])
    if last.startswith("frames="):
        frames = int(last.split("=", 1)[1])
    if last.startswith(("frames=", "sample_rate=")):
        lines = lines[:-1]
    return [str(line) for line in lines], frames


class FeatureRecipe(BaseModel):
    """How a feature store was built (frozen; JSON via :meth:`save` / :meth:`load`).

    Attributes:
        modalities: modality name → feature width ``D_m``.
        text_encoder: the text encoder's identity record (``extras["encoder"]``: ``name``,
            ``identity``, ``backend``, ``layers``, ``dim``, ``context``), or ``None`` without text.
        text_layers: the pooled hidden layers (``None``: the model's sentence embedding).
        text_context: preceding turns ``K`` encoded with each utterance (``None`` without text).
        audio_extractor: the audio extractor's identity lines, or ``None``.
        visual_extractor: the visual extractor's identity lines, or ``None``.
        num_frames: frames per utterance of the visual features, as the store records them, or ``None``.
        speakers: the speaker id names (``[..., "other"]`` in global mode).
        speaker_mode: ``"global"`` or ``"per_dialogue"`` (``None`` when the store does not say).
        class_names: the classes, in label order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    modalities: dict[str, int]
    text_encoder: dict[str, Any] | None = None
    text_layers: list[int] | None = None
    text_context: int | None = None
    audio_extractor: list[str] | None = None
    visual_extractor: list[str] | None = None
    num_frames: int | None = None
    speakers: list[str]
    speaker_mode: str | None = None
    class_names: list[str]

    @classmethod
    def from_features(cls, fs: FeatureSet) -> FeatureRecipe:
        """The recipe a :class:`FeatureSet` records (its ``extras``, dims, classes and speakers)."""
        extras = fs.extras or {}
        encoder = extras.get("encoder") if isinstance(extras.get("encoder"), dict) else None
        media = extras.get("media") if isinstance(extras.get("media"), dict) else {}
        extractors = media.get("extractors") if isinstance(media.get("extractors"), dict) else {}
        audio, _ = _split_decoding(extractors.get("audio"))
        visual, frames = _split_decoding(extractors.get("visual"))
        names = extras.get("speaker_names")
        speakers = [str(n) for n in names] if isinstance(names, list) else [str(i) for i in range(fs.num_speakers)]
        speaker_map = extras.get("speaker_map") if isinstance(extras.get("speaker_map"), dict) else {}
        return cls(
            modalities={str(k): int(v) for k, v in fs.modality_dims.items()},
            text_encoder=dict(encoder) if encoder else None,
            text_layers=list(encoder["layers"]) if encoder and encoder.get("layers") else None,
            text_context=int(encoder.get("context", 0)) if encoder else None,
            audio_extractor=audio,
            visual_extractor=visual,
            num_frames=frames,
            speakers=speakers,
            speaker_mode=speaker_map.get("mode"),
            class_names=[str(n) for n in fs.label_names],
        )

    def differences(self, other: FeatureRecipe) -> list[str]:
        """One line per field that differs: ``"field: <this value> vs <other's value>"`` (the text
        encoder is compared by its ``identity``; its file path may differ between machines)."""
        out = []
        for name in type(self).model_fields:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name == "text_encoder":
                mine, theirs = (r.get("identity") if r else None for r in (mine, theirs))
                name = "text_encoder.identity"
                if mine != theirs:
                    out.append(f"{name}: {_describe(self.text_encoder)} vs {_describe(other.text_encoder)}")
                continue
            if mine != theirs:
                out.append(f"{name}: {mine!r} vs {theirs!r}")
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the recipe as JSON (atomically)."""
        return atomic_write_text(path, json.dumps(self.model_dump(mode="json"), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureRecipe:
        """Read a recipe written by :meth:`save`."""
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def _describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "none"
    return f"{record.get('name')!r} (identity {record.get('identity')})"


def check_feature_recipe(
    run_recipe: FeatureRecipe | None,
    store_recipe: FeatureRecipe,
    *,
    allow_mismatch: bool = False,
    store: str = "the store",
) -> list[str]:
    """Compare the recipe a run was trained on with a store's; the differences (``run vs store``).

    ``run_recipe=None`` (a run from before runs recorded one) logs a warning and compares nothing.

    Raises:
        ConfigError: any difference, unless ``allow_mismatch`` (then each is logged as a warning).
    """
    if run_recipe is None:
        logger.warning("the run records no %s (trained by an older version): %s is not checked against the "
                       "features the run was trained on", FEATURE_RECIPE_FILE, store)  # fmt: skip
        return []
    diffs = run_recipe.differences(store_recipe)
    if diffs and not allow_mismatch:
        raise ConfigError(
            f"{store} was built differently from the run's features (run vs store): " + "; ".join(diffs),
            python_fix="rebuild the features with the run's recipe (RUN_DIR/feature_recipe.json), or pass "
            "allow_feature_mismatch=True to use them anyway",
            cli_fix="rebuild --features with the run's build-features settings (RUN_DIR/feature_recipe.json), "
            "or add --allow-feature-mismatch to use them anyway",
        )
    for diff in diffs:
        logger.warning("feature mismatch allowed (run vs store) %s", diff)
    return diffs
