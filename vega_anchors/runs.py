"""Run directories: train with the default recipe, evaluate, predict — what ``vega-anchors train``,
``evaluate`` and ``predict`` do, for any class count and any set of modalities.

A run directory (docs/own_data.md)::

    RUN_DIR/
      config.json    {"model": VEGAConfig, "train": TrainConfig, "features": path, "anchors": "none" | "text" | path,
                      "seeds": [...], "class_names": [...], "modalities": {...}, "selected_on": "dev" | "validation",
                      "validation_fraction": float | null, "encoder": {...} | null}
      metrics.json   {"kind": "train", "class_names", "selected_on",
                      "test": {"weighted_f1", "weighted_f1_std", "accuracy", "accuracy_std",
                               "macro_f1", "macro_f1_std"},
                      "dev": {same keys; the selection split}, "still_improving_seeds": [...],
                      "seeds": {"0": {"test", "dev", "best_epoch", "best_step", "budget_steps", "budget_epochs",
                      "still_improving", "selected_on", "seconds", "cpu_seconds"}}}
      per_class.csv  class, support, precision, recall, f1 (test, mean over seeds)
      anchors.safetensors        the AnchorBank used, when the run has anchors
      feature_recipe.json        how the training store was built (FeatureRecipe): predict/evaluate compare it
      seed-<s>/history.json      fit's per-epoch log; seed-<s>/best.pt, seed-<s>/last.pt checkpoints
      COMPLETE                   written last: a run folder without it did not finish (refused by load_run)

Model selection uses the store's dev split; a store without one has a validation split carved from
its training dialogues (``validation_fraction`` of them, whole dialogues, seeded), and config.json
and metrics.json say ``"selected_on": "validation"``
(:func:`~vega_anchors.training.evaluate.selection_split`). The files are read and written by
:class:`vega_anchors._rundir.RunFiles` only; ``still_improving`` marks a seed whose selected step lies
in the last 10% of its budget.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_write_text
from ._rundir import RunFiles
from .anchors.bank import AnchorBank
from .data import Dialogue, FeatureSet, collate_dialogues, load_features
from .data.recipe import FeatureRecipe, check_feature_recipe
from .errors import ConfigError
from .metrics import metrics_summary
from .models import FUSED, DualBranchVEGA, VEGAConfig
from .recipes import default_model_config, default_train_config
from .training import TrainConfig, evaluate, fit, load_checkpoint
from .training.evaluate import selection_split

logger = logging.getLogger(__name__)

__all__ = [
    "COMPLETE_MARKER",
    "RUN_FORMAT",
    "Run",
    "check_encoder_match",
    "evaluate_run",
    "flat_state_dict",
    "load_run",
    "metrics_summary",
    "predict_run",
    "resolve_anchors",
    "run_split",
    "train_run",
]


COMPLETE_MARKER = "COMPLETE"
"""The file :func:`train_run` writes last; :func:`load_run` refuses a run folder without it."""

RUN_FORMAT = 2
"""``config.json``'s ``"run_format"``: 2 = runs with a :data:`COMPLETE_MARKER` and a feature recipe
(older runs, without the key, count as complete when they have ``metrics.json``)."""


@dataclass
class Run:
    """A trained run: its directory, config (``config.json``) and one model per seed (best weights).

    Attributes:
        directory: the run directory.
        config: the parsed ``config.json``.
        models: seed → :class:`~vega_anchors.DualBranchVEGA` in eval mode (CPU).
        bank: the run's :class:`~vega_anchors.AnchorBank`, or None.
        metrics: the parsed ``metrics.json`` (empty when absent).
        feature_recipe: the recipe of the store the run was trained on (``None`` for older runs).
    """

    directory: Path
    config: dict[str, Any]
    models: dict[int, DualBranchVEGA] = field(default_factory=dict)
    bank: AnchorBank | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    feature_recipe: FeatureRecipe | None = None

    @property
    def class_names(self) -> list[str]:
        return list(self.config["class_names"])


def _features(features: FeatureSet | str | os.PathLike[str]) -> tuple[FeatureSet, str]:
    if isinstance(features, FeatureSet):
        return features, features.source
    return load_features(features), str(features)


def check_encoder_match(features: FeatureSet, bank: AnchorBank | None, *, what: str = "the anchor bank") -> None:
    """Refuse text anchors from another text encoder than the features'.

    Compares ``features.extras["encoder"]["identity"]`` with ``bank.encoder_identity["identity"]``
    (:func:`~vega_anchors.data.encoder_info`). Image banks (no text encoder identity) are not
    compared; when either side does not record its encoder, a warning says it cannot be checked.

    Raises:
        ConfigError: both record a text encoder and they differ (both are named).
    """
    if bank is None:
        return
    mine = features.extras.get("encoder") if isinstance(features.extras.get("encoder"), dict) else None
    theirs = bank.encoder_identity
    if theirs is None:
        if bank.encoder_name == "text":
            logger.warning("cannot check the text encoder of %s: it does not record one (an older bank)", what)
        return
    if mine is None:
        logger.warning(
            "cannot check that %s (text encoder %s) matches the features: the feature store does not record "
            "its encoder (built before encoder records; rebuild with vega-anchors build-features)",
            what,
            theirs.get("name"),
        )
        return
    if mine.get("identity") != theirs.get("identity") or (
        theirs.get("dim") is not None and mine.get("dim") is not None and theirs.get("dim") != mine.get("dim")
    ):
        raise ConfigError(
            f"{what} was embedded by text encoder {_describe(theirs)}, the features by {_describe(mine)}; "
            "text anchors must come from the encoder (and layers) of the features",
            python_fix="build the bank with AnchorBank.from_texts(prompts, encoder) using the features' encoder, "
            "or pass anchors='text'",
            cli_fix="use --anchors text (prompts embedded by the features' encoder), or a bank built with the "
            "same --encoder and --layers as the features",
        )


def _describe(info: Mapping[str, Any]) -> str:
    layers = info.get("layers")
    return (
        f"{info.get('name')!r} (identity {info.get('identity')}, {info.get('backend')}"
        + (f", layers {layers}" if layers else "")
        + f", dim {info.get('dim')})"
    )


def _text_bank(
    features: FeatureSet,
    *,
    prompts: Mapping[str, Sequence[str]] | str | os.PathLike[str] | None,
    encoder: Any,
    cache_dir: str | os.PathLike[str] | None,
) -> AnchorBank:
    from .anchors.prompts import read_prompts
    from .encoders.text import encoder_info, load_text_encoder, text_encoder_from_record

    record = features.extras.get("encoder") if isinstance(features.extras.get("encoder"), dict) else None
    if encoder is None or isinstance(encoder, (str, os.PathLike)):
        name = encoder if encoder is not None else (record or {}).get("name")
        if not name:
            raise ConfigError(
                "text anchors need the text encoder of the features, and this feature store does not record it",
                python_fix="pass encoder=load_text_encoder(...) (the one that built the features)",
                cli_fix="give --encoder NAME_OR_PATH (the --encoder of build-features)",
            )
        if record and record.get("backend") in ("transformers", "sentence-transformers"):
            encoder = text_encoder_from_record({**record, "name": str(name)}, device="cpu", strict=False)
        else:
            encoder = load_text_encoder(str(name), device="cpu")
    if record is not None and encoder_info(encoder)["identity"] != record.get("identity"):
        raise ConfigError(
            f"the text encoder {_describe(encoder_info(encoder))} is not the one that built the features "
            f"{_describe(record)}",
            python_fix="pass the encoder (name, path and layers) of the features",
            cli_fix="give the --encoder of build-features (same model files and --layers)",
        )
    class_names = list(features.label_names)
    table = read_prompts(prompts, class_names) if isinstance(prompts, (str, os.PathLike)) else prompts
    return AnchorBank.from_texts(table, encoder, class_names=class_names, cache_dir=cache_dir)


def resolve_anchors(
    anchors: str | os.PathLike[str] | AnchorBank | None,
    features: FeatureSet,
    *,
    prompts: Any = None,
    encoder: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[AnchorBank | None, str]:
    """The anchor bank of a run and its label for config.json: ``(None, "none")``, a bank built from
    prompt sentences (``"text"``), a loaded bank file (its path) or a given bank (``"bank"``).

    Raises:
        ConfigError: a bank whose classes or text encoder differ from the features'.
    """
    if anchors is None or (isinstance(anchors, str) and anchors == "none"):
        return None, "none"
    if isinstance(anchors, AnchorBank):
        bank, label = anchors, "bank"
    elif isinstance(anchors, str) and anchors == "text":
        bank, label = _text_bank(features, prompts=prompts, encoder=encoder, cache_dir=cache_dir), "text"
    else:  # a bank file, or a folder holding one (PretrainedBank.save_pretrained, a run directory)
        file = Path(anchors) / "anchors.safetensors" if Path(anchors).is_dir() else anchors
        bank, label = AnchorBank.load(file), str(anchors)
    if [str(c) for c in bank.class_names] != [str(c) for c in features.label_names]:
        raise ConfigError(
            f"the anchor bank's classes {bank.class_names} differ from the features' {list(features.label_names)}",
            python_fix="build the bank for the features' classes, in label order (AnchorBank.from_texts(..., "
            "class_names=features.label_names)), or pass anchors='text'",
            cli_fix="give a bank with the features' classes in label order, or use --anchors text",
        )
    check_encoder_match(features, bank)
    return bank, label


def train_run(
    features: FeatureSet | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    anchors: str | os.PathLike[str] | AnchorBank | None = "none",
    seeds: Sequence[int] = (0,),
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    prompts: Mapping[str, Sequence[str]] | str | os.PathLike[str] | None = None,
    encoder: Any = None,
    validation_fraction: float = 0.1,
    device: str | None = "cpu",
    progress: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train one model per seed with the default recipe (:mod:`vega_anchors.recipes`) and write ``out``.

    Args:
        features: a feature store path (``save_features`` / ``build-features``) or a :class:`FeatureSet`.
        out: the run directory (created; files in it are replaced atomically).
        anchors: ``"none"`` (backbone only), ``"text"`` (:meth:`AnchorBank.from_texts` with the
            features' text encoder and ``prompts``, default sentences when None), a bank file, a folder
            holding ``anchors.safetensors`` (:class:`~vega_anchors.hub.PretrainedBank`; a Hub id goes
            through :func:`~vega_anchors.hub.resolve_pretrained` first), or an :class:`AnchorBank`. Its
            classes must be the features' classes, in order.
        seeds: one run per seed; metrics are averaged.
        model: :class:`~vega_anchors.VEGAConfig` overrides of the recipe (e.g. ``{"hidden_dim": 256}``).
        train: :class:`~vega_anchors.training.TrainConfig` overrides (e.g. ``{"epochs": 2}``).
        prompts: for ``anchors="text"``: ``{class: [sentences]}`` or a prompts file.
        encoder: for ``anchors="text"``: the text encoder (object, name or path); default: the one
            the feature store records.
        validation_fraction: share of training dialogues held out for selection when the store has
            no dev split.
        device: torch device (default ``"cpu"``; None: CUDA when available).
        progress: tqdm bars.
        cache_dir: embedding cache for the prompt sentences.

    Returns:
        The ``metrics.json`` content.

    Raises:
        ConfigError: an empty training split, classes or encoders that do not match (the fix named).
    """
    fs, features_path = _features(features)
    _check_train_inputs(fs, features_path, seeds)
    files = RunFiles(out)
    model_overrides = dict(model or {})
    default_max = VEGAConfig.model_fields["max_utterances"].default
    _check_lengths(fs, features_path, int(model_overrides.get("max_utterances", default_max)))
    bank, anchors_label = resolve_anchors(anchors, fs, prompts=prompts, encoder=encoder, cache_dir=cache_dir)
    class_names = list(fs.label_names)
    config = default_model_config(
        fs.modality_dims,
        class_names,
        num_speakers=fs.num_speakers,
        anchor_dim=bank.dim if bank is not None else None,
        **model_overrides,
    )
    train_overrides = _train_overrides(train)
    selected_on = selection_split(
        fs.train, val=fs.dev, val_fraction=validation_fraction, seed=seeds[0], val_name="dev"
    ).selected_on
    base_train = default_train_config(device=device, progress=progress, **train_overrides)
    _start_run_folder(files, fs, bank)
    files.write_config(
        _run_config(fs, features_path, config, base_train, anchors_label, seeds, selected_on, validation_fraction)
    )
    per_seed: dict[str, Any] = {}
    tests: list[dict[str, Any]] = []
    devs: list[dict[str, Any]] = []
    for seed in seeds:
        record = _train_seed(fs, files.seed_dir(seed), seed, config, bank, base_train, validation_fraction)
        per_seed[str(seed)] = record
        devs.append(record["dev"])
        if record["test"] is not None:
            tests.append(record["test"])
    metrics = _write_train_metrics(files, per_seed, tests, devs, class_names, selected_on, anchors_label)
    atomic_write_text(files.complete, f"seeds {', '.join(per_seed)}\n")
    return metrics


def _start_run_folder(files: RunFiles, fs: FeatureSet, bank: AnchorBank | None) -> None:
    """Create the run folder, incomplete until the end (a stale marker or metrics.json is removed), with
    the bank and the feature recipe."""
    files.root.mkdir(parents=True, exist_ok=True)
    for stale in (files.complete, files.metrics):
        stale.unlink(missing_ok=True)
    if bank is not None:
        bank.save(files.anchors)
    FeatureRecipe.from_features(fs).save(files.feature_recipe)


def _check_lengths(fs: FeatureSet, features_path: str, max_utterances: int) -> None:
    """Refuse, before any training, a dialogue (in any split) longer than the model's positional table."""
    longest = {split: max((d.length for d in dialogues), default=0) for split, dialogues in fs.splits().items()}
    over = {split: n for split, n in longest.items() if n > max_utterances}
    if over:
        need = max(over.values())
        raise ConfigError(
            f"{features_path} has dialogues longer than max_utterances={max_utterances} (longest per split: "
            + ", ".join(f"{split} {n}" for split, n in over.items())
            + ")",
            python_fix=f"pass model={{'max_utterances': {need}}} (or split the long dialogues in the table)",
            cli_fix=f"add --max-utterances {need} (or split the long dialogues in the table)",
        )


def _run_config(
    fs: FeatureSet,
    features_path: str,
    config: VEGAConfig,
    base_train: TrainConfig,
    anchors_label: str,
    seeds: Sequence[int],
    selected_on: str,
    validation_fraction: float,
) -> dict[str, Any]:
    """The config.json content of a train run."""
    return {
        "model": config.model_dump(mode="json"),
        "train": base_train.model_dump(mode="json"),
        "features": features_path,
        "anchors": anchors_label,
        "seeds": [int(s) for s in seeds],
        "class_names": list(fs.label_names),
        "modalities": dict(fs.modality_dims),
        "num_speakers": fs.num_speakers,
        "selected_on": selected_on,
        "validation_fraction": validation_fraction if selected_on == "validation" else None,
        "encoder": fs.extras.get("encoder") if isinstance(fs.extras.get("encoder"), dict) else None,
        "run_format": RUN_FORMAT,
    }


def _check_train_inputs(fs: FeatureSet, features_path: str, seeds: Sequence[int]) -> None:
    """Refuse a store without training dialogues, and an empty seed list."""
    if not fs.train:
        raise ConfigError(
            f"{features_path} has no training dialogues",
            python_fix="build the features with a train split",
            cli_fix="build the features with --train TABLE",
        )
    if not seeds:
        raise ConfigError("no seeds given", python_fix="pass seeds=[0, 1, 2]", cli_fix="give --seeds 0 1 2")


def _train_overrides(train: Mapping[str, Any] | None) -> dict[str, Any]:
    """The TrainConfig overrides, less the per-seed keys that train_run sets itself."""
    train_overrides = dict(train or {})
    for key in ("seed", "checkpoint_dir", "log_path"):
        train_overrides.pop(key, None)
    return train_overrides


def _train_seed(
    fs: FeatureSet,
    seed_dir: Path,
    seed: int,
    config: VEGAConfig,
    bank: AnchorBank | None,
    base_train: TrainConfig,
    validation_fraction: float,
) -> dict[str, Any]:
    """Train one seed into ``seed_dir``; its metrics.json record (``test``, ``dev``, the selection facts of
    :meth:`~vega_anchors.training.FitResult.summary`, ``seconds``, ``cpu_seconds``)."""
    class_names = list(fs.label_names)
    seed_dir.mkdir(exist_ok=True)
    split = selection_split(fs.train, val=fs.dev, val_fraction=validation_fraction, seed=seed, val_name="dev")
    torch.manual_seed(seed)
    net = DualBranchVEGA(config, bank)
    cfg = base_train.model_copy(
        update={"seed": int(seed), "checkpoint_dir": str(seed_dir), "log_path": str(seed_dir / "history.json")}
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fit(net, split.train, config=cfg, val=split.selection, test=fs.test or None, class_names=class_names,
                 val_name=split.selected_on)  # fmt: skip
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert result.selection is not None
    record: dict[str, Any] = {
        "test": result.test.metrics.to_dict() if result.test is not None else None,
        "dev": result.selection.metrics.to_dict(),
        **result.summary(),
        "seconds": wall,
        "cpu_seconds": cpu,
    }
    logger.info(
        "seed %s: best epoch %d (step %d of %d%s), %s w-F1 %.4f, test w-F1 %s, %.0f s (%.0f s CPU)",
        seed, result.best_epoch, result.best_step, result.budget_steps,
        ", still improving" if result.still_improving else "", split.selected_on, record["dev"]["weighted_f1"],
        f"{record['test']['weighted_f1']:.4f}" if record["test"] else "n/a", wall, cpu,
    )  # fmt: skip
    return record


def _write_train_metrics(
    files: RunFiles,
    per_seed: dict[str, Any],
    tests: list[dict[str, Any]],
    devs: list[dict[str, Any]],
    class_names: list[str],
    selected_on: str,
    anchors_label: str,
) -> dict[str, Any]:
    """Average the seeds, write metrics.json and per_class.csv; the metrics.json content."""
    metrics = {
        "kind": "train",
        "class_names": class_names,
        "selected_on": selected_on,
        "anchors": anchors_label,
        "test": metrics_summary(tests),
        "dev": metrics_summary(devs),
        "still_improving_seeds": [int(seed) for seed, record in per_seed.items() if record.get("still_improving")],
        "seeds": per_seed,
    }
    files.write_metrics(metrics, tests or devs)
    return metrics


def load_run(directory: str | os.PathLike[str], *, device: str = "cpu") -> Run:
    """Read a run directory written by :func:`train_run`: its config, metrics, bank and each seed's
    best weights (``seed-<s>/best.pt``, or ``seed-<s>/model.safetensors`` in a shared run).

    Raises:
        FileNotFoundError: not a run directory (no ``config.json``), or a seed without ``best.pt``.
        ConfigError: an incomplete run (training stopped before writing :data:`COMPLETE_MARKER`).
    """
    files = RunFiles(directory)
    config = files.read_config()
    if config is None:
        raise FileNotFoundError(f"{directory} is not a run directory (no config.json); train one with train_run")
    _check_complete(files, config)
    metrics = files.read_metrics() or {}
    recipe = FeatureRecipe.load(files.feature_recipe) if files.feature_recipe.is_file() else None
    bank = AnchorBank.load(files.anchors) if files.anchors.is_file() else None
    model_config = VEGAConfig(**config["model"])
    models: dict[int, DualBranchVEGA] = {}
    for seed in config["seeds"]:
        net = DualBranchVEGA(model_config, bank)
        net.load_state_dict(_seed_state(files, int(seed)))
        models[int(seed)] = net.to(device).eval()
    return Run(files.root, config, models, bank, metrics, recipe)


def _check_complete(files: RunFiles, config: Mapping[str, Any]) -> None:
    """Refuse a run folder whose training did not finish (no COMPLETE marker; old runs: no metrics.json)."""
    complete = files.complete.is_file() if config.get("run_format") else files.metrics.is_file()
    if not complete:
        features = config.get("features", "F.safetensors")
        raise ConfigError(
            f"{files.root} is an incomplete run: its training stopped before the end (no {COMPLETE_MARKER} "
            "marker), so its checkpoints are not the selected models",
            python_fix=f"train it again: train_run({features!r}, {str(files.root)!r}, ...) (it starts over)",
            cli_fix=f"train it again: vega-anchors train --features {features} --out {files.root} (it starts over)",
        )


def flat_state_dict(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` for :func:`safetensors.torch.save_file` from a ``state_dict()``: copies on
    CPU, each module's extra state (a dict of tensors, e.g. a sampler's generator state) flattened to
    ``<key>.<name>`` and listed in ``metadata["extra_state"]`` for :func:`load_run` to regroup."""
    tensors: dict[str, torch.Tensor] = {}
    extra: list[str] = []
    for key, value in state.items():
        if isinstance(value, Mapping):
            extra.append(key)
            tensors.update(
                {f"{key}.{k}": torch.as_tensor(v).detach().cpu().contiguous().clone() for k, v in value.items()}
            )
        else:
            tensors[key] = value.detach().cpu().contiguous().clone()
    return tensors, {"format": "pt", "extra_state": json.dumps(extra)}


def _seed_state(files: RunFiles, seed: int) -> dict[str, Any]:
    """A seed's selected weights: ``seed-<s>/best.pt`` (a trained run), else ``seed-<s>/model.safetensors``
    (a shared one, :class:`~vega_anchors.hub.PretrainedRun`)."""
    checkpoint = files.best(seed)
    if checkpoint.is_file():
        return load_checkpoint(checkpoint)["model"]
    if files.weights(seed).is_file():
        from safetensors import safe_open

        with safe_open(str(files.weights(seed)), framework="pt", device="cpu") as fh:
            flat = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
            extra = json.loads((fh.metadata() or {}).get("extra_state", "[]"))
        state: dict[str, Any] = {k: v for k, v in flat.items() if not any(k.startswith(f"{e}.") for e in extra)}
        for key in extra:  # modules' get_extra_state() dicts of tensors, flattened by flat_state_dict
            state[key] = {k[len(key) + 1 :]: v for k, v in flat.items() if k.startswith(f"{key}.")}
        return state
    raise FileNotFoundError(f"{checkpoint} is missing: the run for seed {seed} did not finish")


def _check_run_features(run: Run, fs: FeatureSet, path: str, allow_feature_mismatch: bool = False) -> None:
    if list(fs.label_names) != run.class_names:
        raise ConfigError(
            f"{path} has classes {list(fs.label_names)}, the run was trained on {run.class_names}",
            python_fix="give features built with the run's label set (label_names=[...] in its order)",
            cli_fix="give --features built with the run's labels (build-features --labels a,b,c in its order)",
        )
    if dict(fs.modality_dims) != dict(run.config["modalities"]):
        raise ConfigError(
            f"{path} has modalities {dict(fs.modality_dims)}, the run was trained on {run.config['modalities']}",
            python_fix="give features with the run's modalities and dims",
            cli_fix="give --features with the run's modalities and dims (same build-features settings)",
        )
    mine, theirs = fs.extras.get("encoder"), run.config.get("encoder")
    if isinstance(mine, dict) and isinstance(theirs, dict) and mine.get("identity") != theirs.get("identity"):
        raise ConfigError(
            f"{path} was built by text encoder {_describe(mine)}, the run's features by {_describe(theirs)}",
            python_fix="embed the features with the run's text encoder and layers",
            cli_fix="rebuild --features with the run's build-features --encoder and --layers",
        )
    check_feature_recipe(
        run.feature_recipe, FeatureRecipe.from_features(fs), allow_mismatch=allow_feature_mismatch, store=path
    )


def _split(fs: FeatureSet, split: str, path: str) -> list[Dialogue]:
    splits = fs.splits()
    if split not in splits:
        raise ConfigError(
            f"unknown split {split!r}", python_fix="pass split='train', 'dev' or 'test'",
            cli_fix="use --split train, dev or test",
        )  # fmt: skip
    if not splits[split]:
        present = [s for s, d in splits.items() if d]
        raise ConfigError(
            f"{path} has no {split} split (it has {present})",
            python_fix=f"pass split= one of {present}",
            cli_fix=f"use --split with one of {present}",
        )
    return list(splits[split])


def run_split(
    run: Run, features: FeatureSet | str | os.PathLike[str], split: str, *, allow_feature_mismatch: bool = False
) -> tuple[FeatureSet, str, list[Dialogue]]:
    """The store ``features`` (loaded when a path), its name, and its ``split``'s dialogues, after checking
    the store against ``run`` (classes, modalities, text encoder, feature recipe). The one way every
    consumer of a run (evaluate, predict, compare) reads a store."""
    fs, path = _features(features)
    _check_run_features(run, fs, path, allow_feature_mismatch)
    return fs, path, _split(fs, split, path)


def evaluate_run(
    run: Run | str | os.PathLike[str],
    features: FeatureSet | str | os.PathLike[str],
    *,
    split: str = "test",
    batch_size: int = 16,
    allow_feature_mismatch: bool = False,
) -> dict[str, Any]:
    """Score each seed's model of ``run`` on one split of ``features``.

    Returns:
        ``{"kind": "evaluate", "split", "features", "class_names", split: {mean ± std as in metrics.json},
        "seeds": {seed: ClassificationMetrics.to_dict()}}``.

    Raises:
        ConfigError: features with other classes, modalities or text encoder than the run's, another
            feature recipe (:class:`~vega_anchors.data.recipe.FeatureRecipe`; ``allow_feature_mismatch``
            logs the differences instead), or without that split (or without labels in it).
    """
    run = run if isinstance(run, Run) else load_run(run)
    _, path, dialogues = run_split(run, features, split, allow_feature_mismatch=allow_feature_mismatch)
    if not any(bool((d.labels >= 0).any()) for d in dialogues):
        raise ConfigError(
            f"the {split} split of {path} has no labels to score",
            python_fix="use predict_run for unlabelled data",
            cli_fix="use vega-anchors predict for unlabelled data",
        )
    per_seed = {
        str(seed): evaluate(
            net, dialogues, batch_size=batch_size, class_names=run.class_names, with_loss=False
        ).metrics.to_dict()
        for seed, net in run.models.items()
    }
    return {
        "kind": "evaluate",
        "split": split,
        "features": path,
        "class_names": run.class_names,
        split: metrics_summary(list(per_seed.values())),
        "seeds": per_seed,
    }


@torch.inference_mode()
def predict_run(
    run: Run | str | os.PathLike[str],
    features: FeatureSet | str | os.PathLike[str],
    *,
    split: str = "test",
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    allow_feature_mismatch: bool = False,
) -> list[dict[str, Any]]:
    """Class probabilities for every utterance of one split: the mean over the run's seeds of the fused
    head's softmax; the prediction is its argmax.

    Returns one row per utterance, in dialogue and utterance order: ``dialogue`` (the table's dialogue
    id; ``"a/b/c"`` for a key spanning columns), ``utterance`` (the table's utterance id, from the
    store's ``extras["utterance_ids"]``; the position 0..T-1 when the store lacks them), ``label``
    (the true class name, ``""`` when unlabelled), ``predicted``, then one probability per class
    (``prob_<class>``). With ``out``, the rows are written as CSV (atomically).
    """
    run = run if isinstance(run, Run) else load_run(run)
    fs, path, dialogues = run_split(run, features, split, allow_feature_mismatch=allow_feature_mismatch)
    names = run.class_names
    ids_by_split = fs.extras.get("utterance_ids")
    ids = ids_by_split.get(split) if isinstance(ids_by_split, dict) else None
    if ids is not None and [len(x) for x in ids] != [d.length for d in dialogues]:
        ids = None
    if ids is None:
        logger.warning("%s does not record the table's utterance ids: 'utterance' is the position 0..T-1", path)
    position = {d.id: i for i, d in enumerate(dialogues)}
    probs: dict[str, torch.Tensor] = {}
    for start in range(0, len(dialogues), batch_size):
        batch = collate_dialogues(dialogues[start : start + batch_size])
        total = None
        for net in run.models.values():
            out_ = net(**batch.model_inputs(), anchor_branch=False)
            p = out_.logits[FUSED].float().softmax(-1)
            total = p if total is None else total + p
        assert total is not None
        total = total / len(run.models)
        for i, dialogue_id in enumerate(batch.dialogue_ids):
            probs[dialogue_id] = total[i, : int(batch.lengths[i])].cpu()
    rows: list[dict[str, Any]] = []
    for d in dialogues:
        p = probs[d.id]
        utterance_ids = ids[position[d.id]] if ids is not None else [str(i) for i in range(d.length)]
        for t in range(d.length):
            label = int(d.labels[t])
            row: dict[str, Any] = {
                "dialogue": d.id,
                "utterance": str(utterance_ids[t]),
                "label": names[label] if label >= 0 else "",
                "predicted": names[int(p[t].argmax())],
            }
            row.update({f"prob_{name}": float(p[t, c]) for c, name in enumerate(names)})
            rows.append(row)
    if out is not None:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["dialogue", "utterance", "label", "predicted", *(f"prob_{n}" for n in names)],
            lineterminator="\n",
        )  # fmt: skip
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()})
        atomic_write_text(out, buffer.getvalue())
    return rows
