"""Ablations of the default recipe with paired intervals — what ``vega-anchors ablate`` does.

:func:`ablate` trains the full model (the default recipe, with the anchors given) and each ablation
over the same seeds (:func:`vega_anchors.runs.train_run` with model overrides), then compares the
full model with each ablation on the test split (:func:`vega_anchors.compare.compare_runs`):
a positive difference full − ablation means the component helps.

=================  ===================================================================  ================
ablation           what changes                                                         needs
=================  ===================================================================  ================
no-anchors         no anchor branch (``anchors="none"``; anchor losses off)             anchors
no-sampling        stochastic anchor sampling off (``sampler.p = 0``: class centres)    anchors
no-distillation    no fused → unimodal self-distillation (``cls_kl``, ``anchor_kl``)
no-speaker         no speaker embedding (``speaker_embedding=False``)
context-k0         features without preceding turns (a store built with ``context=0``)  a K=0 store
=================  ===================================================================  ================

An ablation that does not apply is skipped, and the result's ``notes`` say why (a full model without
anchors has no anchor branch to remove; a feature store holds one context K, so K=0 needs a second
store of the same tables built with ``--context 0``, and a K=0 store has no context to remove).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .compare import Comparison, compare_runs, write_comparison
from .data import FeatureSet, load_features

logger = logging.getLogger(__name__)

__all__ = ["ABLATIONS", "ablate", "store_context"]

ABLATIONS = ("no-anchors", "no-sampling", "no-distillation", "no-speaker", "context-k0")
"""The ablations, in table order."""


def store_context(fs: FeatureSet) -> int | None:
    """The context K (preceding turns) the store's text features were built with; None when unrecorded."""
    record = fs.extras.get("encoder")
    if isinstance(record, dict) and record.get("context") is not None:
        return int(record["context"])
    return None


def _plan(
    fs: FeatureSet, anchors: Any, k0_features: str | os.PathLike[str] | FeatureSet | None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """ablation → its train_run overrides ({"model": ..., "anchors": ..., "features": ...}); notes on skips."""
    has_anchors = not (anchors is None or (isinstance(anchors, str) and anchors == "none"))
    distill_off = {"losses": {"cls": True, "cls_kl": False, "anchor": has_anchors, "anchor_kl": False}}
    plan: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    if has_anchors:
        plan["no-anchors"] = {"anchors": "none"}
        plan["no-sampling"] = {"model": {"sampler": {"p": 0.0}}}
    else:
        notes.append(
            "no-anchors and no-sampling skipped: the full model has no anchor branch (give --anchors text or a bank)"
        )
    plan["no-distillation"] = {"model": distill_off}
    plan["no-speaker"] = {"model": {"speaker_embedding": False}}
    k = store_context(fs)
    if k == 0:
        notes.append("context-k0 skipped: the store was built with K=0 preceding turns (no context to remove)")
    elif k0_features is None:
        notes.append(
            f"context-k0 skipped: a store holds one context K (this one K={k if k is not None else 'unrecorded'}); "
            "give a store of the same tables built with context 0 (build-features --context 0) to include it"
        )
    else:
        plan["context-k0"] = {"features": k0_features}
    return plan, notes


def ablate(
    features: FeatureSet | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    anchors: Any = "none",
    seeds: Sequence[int] = (0, 1, 2),
    model: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    k0_features: FeatureSet | str | os.PathLike[str] | None = None,
    only: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    on_run: Callable[[str, dict[str, Any]], None] | None = None,
    **train_run_options: Any,
) -> Comparison:
    """Train the full model and its ablations into ``out/<name>/`` and compare them on the test split.

    Args:
        features: the feature store (path or :class:`FeatureSet`).
        out: a directory: ``full/``, one run directory per ablation, ``ablate.json``, ``ablate.png``.
        anchors: the full model's anchors (as :func:`~vega_anchors.runs.train_run`: ``"none"``,
            ``"text"``, a bank file or an :class:`~vega_anchors.AnchorBank`).
        seeds: the same seeds for every run (seed-paired differences).
        model, train: recipe overrides for every run (an ablation's own override wins).
        k0_features: a store of the same tables built with ``context=0``, for ``context-k0``.
        only: a subset of :data:`ABLATIONS` (default: all that apply).
        on_run: called with (name, metrics.json content) after each run is trained.
        **train_run_options: passed to :func:`~vega_anchors.runs.train_run` (``prompts``, ``encoder``,
            ``device``, ``cache_dir``, ...).

    Returns:
        The :class:`~vega_anchors.compare.Comparison` of ``full`` against each ablation (``notes``
        say which ablations were skipped and why).
    """
    from .errors import ConfigError
    from .runs import train_run

    unknown = sorted(set(only or ()) - set(ABLATIONS))
    if unknown:
        raise ConfigError(
            f"unknown ablations {unknown}", python_fix=f"pick from {list(ABLATIONS)}",
            cli_fix=f"give --only with names from {' '.join(ABLATIONS)}",
        )  # fmt: skip
    fs = features if isinstance(features, FeatureSet) else load_features(features)
    if not fs.test:
        raise ConfigError(
            f"{fs.source} has no test split: the ablations are compared on it",
            python_fix="build the features with a test split", cli_fix="build the features with --test TABLE",
        )  # fmt: skip
    plan, notes = _plan(fs, anchors, k0_features)
    if only:
        plan = {name: spec for name, spec in plan.items() if name in only}
    if not plan:
        raise ConfigError(
            "no ablation applies to this store and these settings: " + "; ".join(notes),
            python_fix="pass anchors='text' or a bank, or k0_features=", cli_fix="give --anchors text or --k0-features",
        )  # fmt: skip
    directory = Path(out)
    runs, stores = [directory / "full"], [fs]
    metrics = train_run(fs, runs[0], anchors=anchors, seeds=seeds, model=model, train=train, **train_run_options)
    if on_run is not None:
        on_run("full", metrics)
    for name, spec in plan.items():
        store = spec.get("features", fs)
        store = store if isinstance(store, FeatureSet) else load_features(store)
        overrides = {**dict(model or {}), **spec.get("model", {})}
        metrics = train_run(
            store, directory / name, anchors=spec.get("anchors", anchors), seeds=seeds, model=overrides,
            train=train, **train_run_options,
        )  # fmt: skip
        if on_run is not None:
            on_run(name, metrics)
        runs.append(directory / name)
        stores.append(store)
    result = compare_runs(runs, stores, split="test", resamples=resamples, seed=seed)
    result.notes.extend(notes)
    write_comparison(result, directory, stem="ablate")
    for note in notes:
        logger.warning(note)
    return result
