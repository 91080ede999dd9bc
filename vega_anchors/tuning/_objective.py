"""One worker of a tune run: the objective (train one recipe per seed, select on dev, report each
evaluation for pruning) and the loop that runs trials against the shared study."""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..anchors.bank import AnchorBank
from ..data import Dialogue, FeatureSet, load_features
from ..training import Callback, TrainState
from . import _space, _study

logger = logging.getLogger(__name__)

TRAIN_SPLITS = ("train", "dev")
"""The splits a tune run reads; the test split is never read."""


class InvalidRecipe(ValueError):
    """A sampled combination the model refuses (e.g. hidden size not divisible by the heads): the trial fails."""


@dataclass
class WorkerSpec:
    """Everything a worker process needs (picklable, for ``multiprocessing`` spawn).

    ``features`` is a feature store path (read without its test split) or a FeatureSet that has
    no test split already.
    """

    features: str | FeatureSet
    bank: AnchorBank | None
    storage: str
    study_name: str
    directory: str
    space: dict[str, dict[str, Any]]
    base: dict[str, dict[str, Any]]
    full: dict[str, Any]
    seeds: list[int]
    selected_on: str
    validation_fraction: float
    n_trials: int
    timeout: float | None = None
    device: str = "cpu"
    threads: int | None = None
    pruner: Any = "median"
    sampler_seed: int | None = None
    workers: int = 1
    index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def features_without_test(features: str | FeatureSet) -> FeatureSet:
    """The train and dev splits only: a store path is read without its test tensors; a FeatureSet
    is copied without reading its ``test`` attribute."""
    if not isinstance(features, FeatureSet):
        return load_features(features, splits=TRAIN_SPLITS)
    return FeatureSet(
        train=list(features.train),
        test=[],
        dev=list(features.dev),
        label_names=tuple(features.label_names),
        num_speakers=features.num_speakers,
        modality_dims=dict(features.modality_dims),
        layout=features.layout,
        source=features.source,
        synthetic=features.synthetic,
        extras=dict(features.extras),
    )


class _ReportToTrial(Callback):
    """Report each evaluation's selection weighted F1 to the trial (step = evaluation number) and
    stop the trial when the pruner says so."""

    def __init__(self, trial: Any, selected_on: str) -> None:
        self.trial, self.key = trial, f"{selected_on}_weighted_f1"

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        import optuna

        score = record[self.key]
        step = int(record.get("epoch", len(state.history)))
        self.trial.report(float(score), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after evaluation {step} (score {score:.4f})")


def make_pruner(pruner: Any) -> Any:
    """``"median"`` (the default: a trial below the median of earlier trials at the same evaluation,
    after 4 trials and 3 evaluations), ``"none"``, or an Optuna pruner object."""
    import optuna

    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3)
    if pruner in ("none", None):
        return optuna.pruners.NopPruner()
    if isinstance(pruner, str):
        raise ValueError(f"unknown pruner {pruner!r}; use 'median', 'none' or an optuna pruner")
    return pruner


def make_sampler(spec: WorkerSpec, trials_so_far: int) -> Any:
    """TPE (multivariate; with a "constant liar" when several workers share the study).

    With ``sampler_seed``, each worker and each resumed run draws from its own stream (seeded by the
    seed, the worker's index and the trials already in the study): workers never propose the same
    values in lockstep and a resumed run does not replay the first run's draws."""
    import numpy as np
    import optuna

    seed = None
    if spec.sampler_seed is not None:
        seed = int(np.random.SeedSequence([spec.sampler_seed, spec.index, trials_so_far]).generate_state(1)[0])
    startup = max(5, min(10, spec.n_trials // 3))
    return optuna.samplers.TPESampler(
        seed=seed, multivariate=True, constant_liar=spec.workers > 1, n_startup_trials=startup
    )


class Objective:
    """Train the trial's recipe once per seed; its value is the mean best selection weighted F1."""

    def __init__(self, spec: WorkerSpec, fs: FeatureSet) -> None:
        self.spec, self.fs = spec, fs

    def _splits(self, seed: int) -> tuple[list[Dialogue], list[Dialogue]]:
        from ..training.evaluate import selection_split

        split = selection_split(self.fs.train, val=self.fs.dev, val_fraction=self.spec.validation_fraction,
                                seed=seed, val_name="dev")  # fmt: skip
        return split.train, split.selection

    def _configs(self, recipe: dict[str, dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        from ..recipes import default_model_config, default_train_config

        try:
            config = default_model_config(
                self.fs.modality_dims, self.fs.label_names, num_speakers=self.fs.num_speakers,
                anchor_dim=self.spec.bank.dim if self.spec.bank is not None else None, **recipe["model"],
            )  # fmt: skip
            default_train_config(**recipe["train"])
        except ValueError as err:  # pydantic's ValidationError and ConfigError are ValueErrors
            raise InvalidRecipe(f"the sampled recipe is invalid: {err}") from err
        return config, recipe["train"]

    def __call__(self, trial: Any) -> float:
        import torch

        from ..models import DualBranchVEGA
        from ..recipes import default_train_config
        from ..training import fit

        cpu0 = time.process_time()
        values = _space.suggest(trial, self.spec.space)
        recipe = _space.apply_values(self.spec.base, self.spec.full, values)
        trial.set_user_attr("recipe", recipe)
        config, train = self._configs(recipe)
        scores, epochs = [], []
        try:
            for index, seed in enumerate(self.spec.seeds):
                train_dialogues, selection = self._splits(seed)
                torch.manual_seed(seed)
                net = DualBranchVEGA(config, self.spec.bank)
                per_seed = {"seed": int(seed), "device": self.spec.device, "progress": False}
                cfg = default_train_config(**{**train, **per_seed})
                callbacks = [_ReportToTrial(trial, self.spec.selected_on)] if index == 0 else []
                result = fit(net, train_dialogues, config=cfg, val=selection, test=None, val_name=self.spec.selected_on,
                             class_names=list(self.fs.label_names), callbacks=callbacks)  # fmt: skip
                scores.append(float(result.best_score))
                epochs.append(int(result.best_epoch))
        finally:  # pruned trials too
            trial.set_user_attr("cpu_seconds", time.process_time() - cpu0)
        trial.set_user_attr("seed_scores", scores)
        trial.set_user_attr("best_epochs", epochs)
        return statistics.mean(scores)


def run_worker(spec: WorkerSpec) -> None:
    """Run trials on the shared study until it holds ``n_trials`` finished (complete or pruned)
    trials, or ``timeout`` seconds have passed; write ``trials.csv`` and ``best_recipe.json`` after each."""
    import torch

    optuna = _study.import_optuna()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    fs = features_without_test(spec.features)
    study = optuna.load_study(study_name=spec.study_name, storage=_study.open_storage(spec.storage),
                              pruner=make_pruner(spec.pruner))  # fmt: skip
    study.sampler = make_sampler(spec, len(study.get_trials(deepcopy=False)))
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = spec.n_trials - len(study.get_trials(deepcopy=False, states=finished))
    if remaining <= 0:
        return
    directory = Path(spec.directory)

    def after_trial(study: Any, trial: Any) -> None:
        _study.write_outputs(study, directory)

    started = time.perf_counter()
    study.optimize(
        Objective(spec, fs), n_trials=remaining, timeout=spec.timeout, catch=(InvalidRecipe,),
        callbacks=[optuna.study.MaxTrialsCallback(spec.n_trials, states=finished), after_trial],
        gc_after_trial=True,
    )  # fmt: skip
    logger.info("worker done after %.0f s", time.perf_counter() - started)


def worker_main(spec: WorkerSpec) -> None:
    """Entry point of a spawned worker process: it ends when its parent ends (a killed ``tune``
    leaves no orphan training on; its trial is failed by the heartbeat like the parent's)."""
    import os
    import threading

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="tune-parent-watch").start()
    run_worker(spec)
