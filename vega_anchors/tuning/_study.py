"""The study: its storage, what it was made for (and refusing another use), and the files written from it
(``trials.csv``, ``best_recipe.json``)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..data import FeatureSet
from ..errors import ConfigError

logger = logging.getLogger(__name__)

ATTR = "vega_anchors"
"""The study's user attribute holding what the study was made for."""
HEARTBEAT_S = 20
"""Running trials write a heartbeat this often; one silent for 3× as long (a killed process) is failed."""


def import_optuna() -> Any:
    """``optuna``, or an error that says how to install it."""
    try:
        import optuna
    except ImportError as err:
        raise ConfigError(
            "tuning needs optuna, which is not installed",
            python_fix="pip install 'vega-anchors[tune]' (or pip install optuna)",
        ) from err
    return optuna


def default_storage(directory: Path) -> str:
    """The default storage: one SQLite file in the tune directory."""
    return f"sqlite:///{(directory / 'study.db').resolve()}"


def _storage_error(url: str, problem: str) -> ConfigError:
    return ConfigError(
        f"storage {hide_password(url)!r}: {problem}",
        python_fix="pass storage= an Optuna storage URL that can be reached: sqlite:///PATH.db, "
        "postgresql://USER:PASSWORD@HOST/DB, or journal:PATH.log (a journal file); None = TUNE_DIR/study.db",
        cli_fix="give --storage an Optuna storage URL that can be reached: sqlite:///PATH.db, "
        "postgresql://USER:PASSWORD@HOST/DB, or journal:PATH.log (a journal file); leave it out for TUNE_DIR/study.db",
    )


def hide_password(url: str) -> str:
    """``url`` with a password replaced by ``***`` (for files and messages)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def open_storage(url: str) -> Any:
    """An Optuna storage for ``url``: ``journal:PATH`` (a journal file, safe for processes on one
    machine), else any SQLAlchemy URL (SQLite, PostgreSQL, MySQL) as an RDB storage with a
    heartbeat, so trials of a killed process are marked failed instead of left running.

    Raises:
        ConfigError: a malformed URL, a missing database driver, or a database that cannot be reached.
    """
    optuna = import_optuna()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url[len("journal:") :].removeprefix("//"))
        if not path.parent.is_dir():
            raise _storage_error(url, f"the folder {path.parent} does not exist")
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise _storage_error(url, "not a storage URL (expected DIALECT://..., e.g. sqlite:///study.db)")
    engine: dict[str, Any] = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in optuna's words since 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=3 * HEARTBEAT_S
            )
    except ImportError as err:
        raise _storage_error(url, f"its database driver is not installed ({err})") from err
    except Exception as err:  # sqlalchemy: ArgumentError (malformed), OperationalError (unreachable), ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        kind = "malformed" if type(err).__name__ in ("ArgumentError", "NoSuchModuleError") else "cannot be reached"
        raise _storage_error(url, f"{kind} ({type(err).__name__}: {first})") from err


def fingerprint(fs: FeatureSet) -> str:
    """SHA-256 of the classes, modalities and the train and dev dialogues (ids, features, speakers,
    labels). The test split is not part of it (it is never read while tuning)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([list(fs.label_names), dict(fs.modality_dims)]).encode())
    for split, dialogues in (("train", fs.train), ("dev", fs.dev)):
        digest.update(f"|{split}|{len(dialogues)}".encode())
        for d in dialogues:
            digest.update(d.id.encode() + b"\0")
            for modality in fs.modality_dims:
                digest.update(d.features[modality].detach().cpu().contiguous().numpy().tobytes())
            digest.update(d.speakers.cpu().numpy().tobytes() + d.labels.cpu().numpy().tobytes())
    return digest.hexdigest()


_CHECKS = (
    ("class_names", "classes", "features with the same classes (build-features --labels) in the same order"),
    ("features", "features (train and dev splits)", "the same feature store"),
    ("modalities", "modalities", "features with the same modalities"),
    ("anchors", "anchors", "the same --anchors"),
    ("seeds", "seeds", "the same --seeds"),
    ("selected_on", "selection split", "the same --validation-fraction"),
    ("base", "fixed recipe (--config, --epochs, --max-steps, --patience)",
     "the same --config, --epochs, --max-steps and --patience"),
    ("space", "search space", "the same --space"),
)


def check_or_claim(study: Any, made_for: Mapping[str, Any], *, where: str) -> bool:
    """Refuse a study made for something else; claim a new one. Returns whether it is new.

    Raises:
        ConfigError: the study records other classes, features, anchors, seeds, recipe or space
            (the first mismatch named), or was not made by ``vega-anchors tune``.
    """
    recorded = study.user_attrs.get(ATTR)
    if recorded is None:
        if study.trials:
            raise ConfigError(
                f"study {study.study_name!r} in {where} was not made by vega-anchors tune",
                python_fix="pass another study_name= or storage=",
                cli_fix="give another --study-name or --storage",
            )
        study.set_user_attr(ATTR, json.loads(json.dumps(dict(made_for))))
        return True
    mine = json.loads(json.dumps(dict(made_for)))
    for key, what, same in _CHECKS:
        if recorded.get(key) != mine.get(key):
            theirs = recorded.get("features_path") if key == "features" else recorded.get(key)
            ours = mine.get("features_path") if key == "features" else mine.get(key)
            detail = f" (study: {theirs}; now: {ours})" if key != "features" or theirs != ours else ""
            raise ConfigError(
                f"study {study.study_name!r} in {where} was made for other {what}{detail}",
                python_fix=f"resume it with {same}, or start a new study (another out= or study_name=)",
                cli_fix=f"resume it with {same}, or start a new study (another --out or --study-name)",
            )
    return False


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def trials_csv(trials: list[Any], names: list[str]) -> str:
    """``number, state, value, evaluations, last_score, seconds, cpu_seconds, started, <parameters>`` per trial."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number", "state", "value", "evaluations", "last_score", "seconds", "cpu_seconds", "started",
                     *names])  # fmt: skip
    for t in sorted(trials, key=lambda t: t.number):
        steps = sorted(t.intermediate_values)
        seconds = t.duration.total_seconds() if t.duration is not None else None
        writer.writerow(
            [
                t.number, t.state.name, _number(t.value), len(steps),
                _number(t.intermediate_values[steps[-1]]) if steps else "", _number(seconds),
                _number(t.user_attrs.get("cpu_seconds")),
                t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else "",
                *(_number(t.params.get(n)) for n in names),
            ]
        )  # fmt: skip
    return buffer.getvalue()


def _selection_words(made_for: Mapping[str, Any]) -> str:
    selected = str(made_for.get("selected_on", "dev"))
    if selected == "dev":
        return "the dev split"
    return f"a {float(selected.split()[-1]):.0%} hold-out of the training dialogues (validation; no dev split)"


def write_outputs(study: Any, directory: Path) -> None:
    """Write ``trials.csv`` and ``best_recipe.json`` (from the study's best completed trial; removed
    when it has none), each atomically, so the recipe never names a trial the study lacks."""
    optuna = import_optuna()
    trials = study.get_trials(deepcopy=False)
    names = sorted({n for t in trials for n in t.params})
    atomic_write_text(directory / "trials.csv", trials_csv(trials, names))
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    path = directory / "best_recipe.json"
    if not complete:
        path.unlink(missing_ok=True)
        return
    best = max(complete, key=lambda t: (t.value, -t.number))
    made_for = study.user_attrs.get(ATTR, {})
    recipe = dict(best.user_attrs["recipe"])
    recipe["tune"] = {
        "trial": best.number,
        "value": best.value,
        "metric": f"mean weighted F1 on {_selection_words(made_for)} over seeds {made_for.get('seeds')}",
        "study": study.study_name,
        "features": made_for.get("features_path"),
        "anchors": made_for.get("anchors"),
        "params": best.params,
    }
    atomic_write_text(path, json.dumps(recipe, indent=1) + "\n")
