"""Hyper-parameter search for the default recipe, on Optuna (``pip install 'vega-anchors[tune]'``):
what ``vega-anchors tune`` does.

A tune directory (docs/training.md, "Tuning")::

    TUNE_DIR/
      study.db          the Optuna study (SQLite; the default --storage)
      tune.json         what the study was made for: storage, study name, features, seeds, space, ...
      trials.csv        one row per trial: number, state, value, evaluations, last_score, seconds,
                        cpu_seconds, started, parameters
      best_recipe.json  the best completed trial's recipe: {"model": {...}, "train": {...}, "tune": {...}},
                        what ``vega-anchors train --config`` reads

Each trial trains the recipe once per seed and scores the mean best weighted F1 on the selection
split (dev, or a hold-out of the training dialogues when the store has no dev split); the first
seed reports every evaluation so that poor trials are pruned early. The test split is never read:
a store is loaded without its test tensors, a FeatureSet is copied without its ``test`` attribute.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..anchors.bank import AnchorBank
from ..data import FeatureSet
from ..errors import ConfigError
from . import _space, _study
from ._objective import TRAIN_SPLITS, WorkerSpec, features_without_test, run_worker, worker_main
from ._report import is_tune_dir, write_tune_report
from ._space import default_space

logger = logging.getLogger(__name__)

__all__ = ["TRAIN_SPLITS", "TuneResult", "default_space", "is_tune_dir", "tune", "write_tune_report"]


@dataclass
class TuneResult:
    """What :func:`tune` returns.

    Attributes:
        directory: the tune directory.
        storage: the storage URL (password hidden); ``study_name``: the study in it.
        best_trial: the best completed trial's number (None when no trial completed).
        best_value: its mean selection weighted F1 over the seeds.
        best_recipe: ``{"model": {...}, "train": {...}, "tune": {...}}`` as written to ``best_recipe_path``.
        best_recipe_path: ``TUNE_DIR/best_recipe.json`` (None when no trial completed).
        complete, pruned, failed: trial counts by state in the study.
        selected_on: ``"dev"`` or ``"validation"`` (a hold-out of the training dialogues).
        seconds: wall time of this call.
    """

    directory: Path
    storage: str
    study_name: str
    best_trial: int | None
    best_value: float | None
    best_recipe: dict[str, Any] | None
    best_recipe_path: Path | None
    complete: int
    pruned: int
    failed: int
    selected_on: str
    seconds: float


def tune(
    features: FeatureSet | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    n_trials: int = 20,
    timeout: float | None = None,
    workers: int = 1,
    storage: str | None = None,
    study_name: str = "vega-anchors",
    space: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    seeds: Sequence[int] = (0,),
    anchors: str | os.PathLike[str] | AnchorBank | None = "none",
    prompts: Mapping[str, Sequence[str]] | str | os.PathLike[str] | None = None,
    encoder: Any = None,
    recipe: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    validation_fraction: float = 0.1,
    pruner: Any = "median",
    sampler_seed: int | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> TuneResult:
    """Search the default recipe's hyper-parameters on the selection split; write ``out`` (a tune directory).

    Args:
        features: a feature store path or a :class:`~vega_anchors.data.FeatureSet` (its test split is never read).
        out: the tune directory (created).
        n_trials: the study's target of finished (complete or pruned) trials, counted over runs: a
            resumed study runs only the missing ones. With several workers, up to ``workers - 1``
            more may finish.
        timeout: stop starting trials after this many seconds (per call).
        workers: processes on this machine sharing the study (spawned; 1 = this process).
        storage: an Optuna storage URL (``sqlite:///...``, ``postgresql://...``) or ``journal:PATH``;
            default ``sqlite:///<out>/study.db``. Workers on several machines share a study through
            a PostgreSQL URL.
        study_name: the study's name in the storage.
        space: overrides of :func:`default_space` (a mapping or a JSON file): ``{name: distribution}``
            adds or replaces a parameter, ``{name: None}`` removes it.
        seeds: each trial trains once per seed; its value is the mean best selection weighted F1.
        anchors, prompts, encoder: as :func:`~vega_anchors.runs.train_run`.
        recipe: the fixed part of every trial's recipe (``{"model": {...}, "train": {...}}`` or a
            ``--config`` file), e.g. ``{"train": {"epochs": 20}}``.
        validation_fraction: without a dev split, the share of training dialogues held out.
        pruner: ``"median"``, ``"none"`` or an Optuna pruner.
        sampler_seed: seed of the TPE sampler (reproducible with one worker and no interruption; each
            worker and each resumed run draws from its own stream).
        threads: torch CPU threads per worker.
        device: torch device of the trials.

    Raises:
        ConfigError: a study made for other features, classes, seeds, anchors, recipe or space; an
            unreachable or malformed storage URL; a malformed search space; optuna not installed.
    """
    optuna = _study.import_optuna()
    started = time.perf_counter()
    fs, features_ref = _load(features)
    _check_args(fs, features_ref, seeds, n_trials, workers)
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    spec, made_for = _prepare(
        fs, features_ref, directory, storage=storage, study_name=study_name, space=space, seeds=seeds,
        anchors=anchors, prompts=prompts, encoder=encoder, recipe=recipe, validation_fraction=validation_fraction,
    )  # fmt: skip
    spec.n_trials, spec.timeout, spec.workers = int(n_trials), timeout, int(workers)
    # one worker trains on the features already read; spawned workers read the store themselves
    spec.features = fs if workers == 1 or isinstance(features, FeatureSet) else str(features)
    spec.pruner, spec.sampler_seed, spec.threads, spec.device = pruner, sampler_seed, threads, device
    study = _open_study(optuna, spec, made_for, directory)
    if workers == 1:
        run_worker(spec)
    else:
        _spawn(spec, workers)
    study = optuna.load_study(study_name=spec.study_name, storage=_study.open_storage(spec.storage))
    _study.write_outputs(study, directory)
    return _result(optuna, study, directory, spec, time.perf_counter() - started)


def _load(features: FeatureSet | str | os.PathLike[str]) -> tuple[FeatureSet, str]:
    """The features without their test split, and how to name them."""
    if isinstance(features, FeatureSet):
        return features_without_test(features), features.source
    return features_without_test(str(features)), str(features)


def _check_args(fs: FeatureSet, ref: str, seeds: Sequence[int], n_trials: int, workers: int) -> None:
    if not fs.train:
        raise ConfigError(
            f"{ref} has no training dialogues", python_fix="build the features with a train split",
            cli_fix="build the features with --train TABLE",
        )  # fmt: skip
    if not seeds:
        raise ConfigError("no seeds given", python_fix="pass seeds=[0]", cli_fix="give --seeds 0")
    if n_trials < 1:
        raise ConfigError(f"n_trials={n_trials}", python_fix="pass n_trials >= 1", cli_fix="give --n-trials 1 or more")
    if workers < 1:
        raise ConfigError(f"workers={workers}", python_fix="pass workers >= 1", cli_fix="give --workers 1 or more")


def _base_recipe(recipe: Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, dict[str, Any]]:
    from ..recipes import read_recipe

    if recipe is None:
        return {"model": {}, "train": {}}
    if isinstance(recipe, Mapping):
        model, train = dict(recipe.get("model") or {}), dict(recipe.get("train") or {})
    else:
        model, train = read_recipe(recipe)
    for key in ("seed", "device", "checkpoint_dir", "log_path", "progress"):
        train.pop(key, None)
    return {"model": model, "train": train}


def _prepare(fs: FeatureSet, ref: str, directory: Path, **kw: Any) -> tuple[WorkerSpec, dict[str, Any]]:
    """The worker spec and the study's record of what it is made for."""
    from ..recipes import default_model_config, default_train_config
    from ..runs import resolve_anchors
    from ..training.evaluate import selection_split

    bank, anchors_label = resolve_anchors(kw["anchors"], fs, prompts=kw["prompts"], encoder=kw["encoder"])
    base = _base_recipe(kw["recipe"])
    model = default_model_config(fs.modality_dims, fs.label_names, num_speakers=fs.num_speakers,
                                 anchor_dim=bank.dim if bank is not None else None, **base["model"])  # fmt: skip
    train = default_train_config(**base["train"])
    full = {"model": model.model_dump(mode="json"), "train": train.model_dump(mode="json")}
    override = _space.read_space(kw["space"]) if kw["space"] is not None else None
    space = _space.merge_space(default_space(fs.modality_dims, anchors=bank is not None), override, full)
    seeds = [int(s) for s in kw["seeds"]]
    split = selection_split(fs.train, val=fs.dev, val_fraction=kw["validation_fraction"], seed=seeds[0], val_name="dev")
    selected_on = split.selected_on
    storage = kw["storage"] or _study.default_storage(directory)
    spec = WorkerSpec(
        features=fs,
        bank=bank, storage=storage, study_name=kw["study_name"], directory=str(directory), space=space,
        base=base, full=full, seeds=seeds, selected_on=selected_on, validation_fraction=kw["validation_fraction"],
        n_trials=0,
    )  # fmt: skip
    made_for = {
        "class_names": list(fs.label_names), "features": _study.fingerprint(fs), "features_path": ref,
        "modalities": dict(fs.modality_dims), "anchors": anchors_label, "seeds": seeds,
        "selected_on": selected_on if selected_on == "dev" else f"validation {kw['validation_fraction']}",
        "base": base, "space": space,
    }  # fmt: skip
    return spec, made_for


def _open_study(optuna: Any, spec: WorkerSpec, made_for: dict[str, Any], directory: Path) -> Any:
    """Create or resume the study (refusing one made for something else); on creation, queue the
    recipe's own values as the first trial. Writes ``tune.json`` and refreshes the outputs."""
    import json

    where = _study.hide_password(spec.storage)
    storage = _study.open_storage(spec.storage)
    try:
        study = optuna.create_study(storage=storage, study_name=spec.study_name, direction="maximize",
                                    load_if_exists=True)  # fmt: skip
    except ValueError as err:  # e.g. an existing study with another direction
        raise ConfigError(
            f"study {spec.study_name!r} in {where} cannot be used: {err}",
            python_fix="pass another study_name=", cli_fix="give another --study-name",
        ) from err  # fmt: skip
    if _study.check_or_claim(study, made_for, where=where) or not study.user_attrs.get("queued"):
        defaults = _space.default_values(spec.space, spec.full)
        study.enqueue_trial(defaults, user_attrs={"default_recipe": True}, skip_if_exists=True)
        study.set_user_attr("queued", True)
        logger.info("queued the recipe's own values %s as the first trial", defaults)
    record = {k: v for k, v in made_for.items() if k != "features"}
    record.update({"storage": where, "study_name": spec.study_name, "fingerprint": made_for["features"]})
    atomic_write_text(directory / "tune.json", json.dumps(record, indent=1) + "\n")
    _study.write_outputs(study, directory)
    return study


def _spawn(spec: WorkerSpec, workers: int) -> None:
    """Run ``workers`` processes on the study and wait for them; an error if one failed."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=worker_main, args=(dataclasses.replace(spec, index=i),), name=f"tune-worker-{i}")
        for i in range(workers)
    ]
    for p in processes:
        p.start()
    try:
        for p in processes:
            p.join()
    except BaseException:
        for p in processes:
            p.terminate()
        raise
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        codes = [p.exitcode for p in processes]
        raise RuntimeError(f"tune workers {failed} failed (exit codes {codes}); see their log above")


def _result(optuna: Any, study: Any, directory: Path, spec: WorkerSpec, seconds: float) -> TuneResult:
    import json

    states = [t.state for t in study.get_trials(deepcopy=False)]
    path = directory / "best_recipe.json"
    best = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    return TuneResult(
        directory=directory, storage=_study.hide_password(spec.storage), study_name=spec.study_name,
        best_trial=best["tune"]["trial"] if best else None, best_value=best["tune"]["value"] if best else None,
        best_recipe=best, best_recipe_path=path if best else None,
        complete=states.count(optuna.trial.TrialState.COMPLETE), pruned=states.count(optuna.trial.TrialState.PRUNED),
        failed=states.count(optuna.trial.TrialState.FAIL), selected_on=spec.selected_on, seconds=seconds,
    )  # fmt: skip
