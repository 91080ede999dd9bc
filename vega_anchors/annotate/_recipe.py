"""The feature recipe of a trained run, and the extractors that rebuild exactly those features.

A run records which features it was trained on: ``config.json`` names the classes, the modalities and
their widths, the text encoder (:func:`~vega_anchors.data.encoder_info`) and the feature store; the
store's ``extras`` hold the media extractors' identities (``extras["media"]["extractors"]``: the
cache-key lines of :mod:`vega_anchors.media`) and the speaker map. :func:`_run_feature_recipe` reads
them; :func:`build_extractors` loads the same extractors and checks that each one's identity is the
recorded one (same model files, same settings), so the rebuilt features are those the model saw.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["AnnotateRecipe", "Extractors", "build_extractors"]

_DECODE_LINES = ("sample_rate=", "frames=")
OTHER_SPEAKER = "other"
"""The shared id name of unnamed speakers in global speaker maps (as vega_anchors.data writes it)."""


@dataclass
class AnnotateRecipe:
    """What annotate must rebuild for a run.

    Attributes:
        class_names: the run's classes, label order.
        modalities: modality → feature width.
        text: the text encoder record (``name``, ``identity``, ``backend``, ``layers``, ``dim``,
            ``context``), or ``None``.
        media: modality (``audio``/``visual``) → the extractor's identity lines (cache key, decoding
            settings last).
        speaker_map: :meth:`~vega_anchors.data.SpeakerMap.to_dict` of the training speakers.
        source: where the recipe was read (for messages).
    """

    class_names: list[str]
    modalities: dict[str, int]
    text: dict[str, Any] | None = None
    media: dict[str, list[str]] = field(default_factory=dict)
    speaker_map: dict[str, Any] = field(default_factory=lambda: {"names": [], "mode": "global", "top_n": 0})
    source: str = ""

    @property
    def num_frames(self) -> int:
        """Frames per utterance of the visual features (8 when there is no visual modality)."""
        lines = self.media.get("visual", [])
        return next((int(line.split("=", 1)[1]) for line in lines if line.startswith("frames=")), 8)


def _store_meta(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as fh:
        header = fh.metadata() or {}
    return dict(json.loads(header.get("vega_anchors", "{}")))


def _find_store(run_dir: Path, recorded: str | None) -> Path | None:
    if not recorded:
        return None
    for candidate in (Path(recorded), run_dir / recorded, run_dir / Path(recorded).name):
        if candidate.is_file():
            return candidate
    return None


def _from_recorded_recipe(path: Path) -> AnnotateRecipe:
    """An :class:`AnnotateRecipe` from ``RUN_DIR/feature_recipe.json`` (a
    :class:`~vega_anchors.data.recipe.FeatureRecipe`)."""
    from ..data.recipe import FeatureRecipe

    recorded = FeatureRecipe.load(path)
    media: dict[str, list[str]] = {}
    if recorded.audio_extractor:
        media["audio"] = list(recorded.audio_extractor)
    if recorded.visual_extractor:
        media["visual"] = [*recorded.visual_extractor, f"frames={int(recorded.num_frames or 8)}"]
    speakers, mode = list(recorded.speakers), recorded.speaker_mode or "global"
    if mode == "global":
        names = speakers[:-1] if speakers and speakers[-1] == OTHER_SPEAKER else speakers
        speaker_map = {"names": names, "mode": "global", "top_n": len(names)}
    else:
        speaker_map = {"names": [], "mode": mode, "top_n": len(speakers)}
    return AnnotateRecipe(list(recorded.class_names), dict(recorded.modalities), recorded.text_encoder, media,
                          speaker_map, str(path))  # fmt: skip


def _from_store_extras(run_dir: Path, config: dict[str, Any], config_path: Path) -> AnnotateRecipe:
    """An :class:`AnnotateRecipe` from ``config.json`` and the extras of the feature store it names (runs
    without ``feature_recipe.json``)."""
    modalities = {str(k): int(v) for k, v in config["modalities"].items()}
    recipe = AnnotateRecipe(list(config["class_names"]), modalities, config.get("encoder"), source=str(config_path))
    store = _find_store(run_dir, config.get("features"))
    if store is None:
        raise ConfigError(
            f"the run records no feature_recipe.json, and the feature store it was trained on "
            f"({config.get('features')!r}) is gone: annotate reads the media extractors and the speaker map from it",
            python_fix="put the store back at that path (or in the run directory)",
            cli_fix="put the --features store of train back at that path (or copy it into the run directory)",
        )
    extras: dict[str, Any] = _store_meta(store).get("extras", {})
    extractors = (extras.get("media") or {}).get("extractors", {})
    recipe.media = {m: [str(x) for x in lines] for m, lines in extractors.items()}
    recipe.speaker_map = dict(extras.get("speaker_map") or recipe.speaker_map)
    if recipe.text is None and isinstance(extras.get("encoder"), dict):
        recipe.text = extras["encoder"]
    recipe.source = str(store)
    return recipe


def _run_feature_recipe(run_dir: str | os.PathLike[str]) -> AnnotateRecipe:
    """The feature recipe of the run in ``run_dir``: its ``feature_recipe.json`` (written by ``train``), or
    for older runs its ``config.json`` and the extras of its feature store.

    Raises:
        FileNotFoundError: not a run directory.
        ConfigError: the recipe cannot be traced (no recipe file and the store is gone), or a modality
            the run needs was not made by vega-anchors' extractors.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.json); train one with vega-anchors train")
    from ..data.recipe import FEATURE_RECIPE_FILE

    recorded = run_dir / FEATURE_RECIPE_FILE
    if recorded.is_file():
        recipe = _from_recorded_recipe(recorded)
    else:
        recipe = _from_store_extras(run_dir, json.loads(config_path.read_text(encoding="utf-8")), config_path)
    for modality in recipe.modalities:
        if modality == "text" and recipe.text is None:
            raise ConfigError(
                f"the run has a text modality but records no text encoder ({recipe.source})",
                python_fix="retrain from a store built by build-features (it records the encoder)",
                cli_fix="retrain from a store made by vega-anchors build-features --encoder ...",
            )
        if modality != "text" and modality not in recipe.media:
            raise ConfigError(
                f"the run's {modality!r} features were not made by vega-anchors' media extractors (no record in "
                f"{recipe.source}); annotate can only rebuild features it knows how to make",
                python_fix="train on a store built by build-features --audio/--visual",
                cli_fix="train on a store built by vega-anchors build-features --audio/--visual",
            )
    return recipe


# ---------------------------------------------------------------------------------------------- extractors


@dataclass
class Extractors:
    """The loaded extractors of a recipe (``None`` for a modality the run does not use)."""

    text: Any = None
    audio: Any = None
    visual: Any = None
    num_frames: int = 8
    context: int = 0


def _not_installed(what: str, err: BaseException) -> ConfigError:
    return ConfigError(
        f"the run's feature recipe needs {what}, which cannot be loaded here ({type(err).__name__}: {err})",
        python_fix="install that encoder (the same model files and version the run was trained with)",
        cli_fix="install that encoder (same model files and version as at training), then rerun annotate",
    )


def _check_identity(modality: str, recorded: list[str], rebuilt: str) -> None:
    mine = [line for line in recorded if not line.startswith(_DECODE_LINES)]
    if mine != rebuilt.splitlines():
        raise ConfigError(
            f"the {modality} extractor loaded here is not the one that made the run's features: recorded "
            f"{mine[:3]}..., loaded {rebuilt.splitlines()[:3]}...",
            python_fix=f"install the {modality} extractor the run recorded (same version, model files and settings)",
            cli_fix=f"install the {modality} extractor the run recorded (same version, model files and settings)",
        )


def _settings(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _audio(lines: list[str], device: str | None) -> Any:
    from ..encoders import HFAudioExtractor, OpenSmileExtractor

    kind = lines[0] if lines else ""
    try:
        if kind.startswith("opensmile"):
            extractor: Any = OpenSmileExtractor(lines[1])
        elif kind == "transformers-audio":
            settings = _settings(lines)
            name = lines[1] if Path(lines[1]).exists() else lines[1].rsplit("@", 1)[0]
            layers = tuple(int(v) for v in settings.get("layers", "-1").split(","))
            extractor = HFAudioExtractor(name, layers=layers, device=device,
                                         max_seconds=int(settings.get("max", "480000")) / 16_000)  # fmt: skip
        else:
            raise ConfigError(f"unknown audio extractor record {lines[:2]}", python_fix="retrain with build-features")
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise _not_installed(f"the audio extractor {' '.join(lines[:2])!r}", err) from err
    _check_identity("audio", lines, extractor.identity)
    return extractor


def _visual(lines: list[str], device: str | None) -> Any:
    from ..encoders import OpenCLIPImageEncoder
    from ..media.visual import ClipFaceExtractor, HaarFaceDetector

    if not lines or lines[0] != "clip-face":
        raise ConfigError(f"unknown visual extractor record {lines[:2]}", python_fix="retrain with build-features")
    model_name, _, pretrained = lines[1].rpartition(":")
    schema = model_name.startswith(("hf-hub:", "local-dir:"))
    if pretrained in ("", "None") and not schema:
        raise ConfigError(
            f"the run's visual features came from random CLIP weights ({lines[1]}); they cannot be rebuilt",
            python_fix="train on visual features of a CLIP with weights (clip-face:<model>:<pretrained or file>)",
            cli_fix="build the training features with --visual clip-face:<model>:<pretrained tag or weights file>",
        )
    s = _settings(lines)
    try:
        weights = None if schema else pretrained
        encoder = OpenCLIPImageEncoder(model_name, weights, device=device, batch_size=64, progress=False)
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        raise _not_installed(f"the CLIP model {lines[1]!r}", err) from err
    detector = HaarFaceDetector(scale_factor=float(s["scale"]), min_neighbors=int(s["neighbors"]),
                                min_size=float(s["min"]), max_side=int(s["max"]))  # fmt: skip
    extractor = ClipFaceExtractor(encoder, detector=detector, margin=float(s["margin"]),
                                  pooling=s["pooling"], no_face=s["no_face"])  # type: ignore[arg-type]  # fmt: skip
    _check_identity("visual", lines, extractor.identity)
    return extractor


def _text(record: dict[str, Any], device: str | None) -> Any:
    from ..encoders import text_encoder_from_record

    name = record.get("name")
    try:
        return text_encoder_from_record(record, device=device or "cpu", strict=True)
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        if "differs from the record" in str(err):
            raise ConfigError(
                f"the text encoder {name!r} loaded here differs from the one that built the run's features ({err})",
                python_fix="install the run's text encoder files unchanged at that path",
                cli_fix="install the run's text encoder files unchanged at that path (the --encoder of build-features)",
            ) from err
        raise _not_installed(f"the text encoder {name!r}", err) from err


def build_extractors(recipe: AnnotateRecipe, *, device: str | None = None) -> Extractors:
    """Load the text encoder and media extractors of ``recipe``, each checked against its record.

    Raises:
        ConfigError: an encoder that is not installed or differs from the recorded one (named).
    """
    out = Extractors(num_frames=recipe.num_frames)
    if "text" in recipe.modalities and recipe.text is not None:
        out.text = _text(recipe.text, device)
        out.context = int(recipe.text.get("context") or 0)
    if "audio" in recipe.modalities:
        out.audio = _audio(recipe.media["audio"], device)
    if "visual" in recipe.modalities:
        out.visual = _visual(recipe.media["visual"], device)
    return out
