"""vega-anchors tune: the tune directory, pruning, the test split never read, refusals, resume after a
real kill, several workers, and the report pictures."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from png_helpers import assert_png
from tuning_helpers import FAST, SPACE, tiny_store, with_garbage_test

from vega_anchors.cli import main
from vega_anchors.data import FeatureSet, load_features
from vega_anchors.errors import ConfigError
from vega_anchors.recipes import DEFAULT_MODEL, read_recipe
from vega_anchors.tuning import TuneResult, default_space, tune, write_tune_report

REPO = Path(__file__).resolve().parents[2]
QUIET = {"recipe": FAST, "space": SPACE, "threads": 1, "sampler_seed": 0}


def _study(directory: Path) -> optuna.Study:
    return optuna.load_study(study_name="vega-anchors", storage=f"sqlite:///{directory / 'study.db'}")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Path, Path, TuneResult]:
    root = tmp_path_factory.mktemp("tune")
    store = tiny_store(root / "data")
    result = tune(store, root / "t", n_trials=4, pruner="none", **QUIET)
    return store, root / "t", result


def test_tune_directory_and_a_recipe_train_accepts(tuned, tmp_path: Path) -> None:
    store, directory, result = tuned
    assert {p.name for p in directory.iterdir()} >= {"study.db", "tune.json", "trials.csv", "best_recipe.json"}
    study = _study(directory)
    values = {t.number: t.value for t in study.trials}
    assert result.complete == 4 and result.pruned == result.failed == 0 and result.selected_on == "dev"
    assert result.best_value == max(values.values()) and values[result.best_trial] == result.best_value
    # the first trial is the recipe's own values (lr 3e-4, batch 16, ...), so tuning never ends below it
    first = study.trials[0]
    assert first.user_attrs["default_recipe"] and first.params["train.lr"] == 3e-4
    assert first.params["train.batch_size"] == 16 and first.params["model.dropout"] == 0.5
    rows = _rows(directory / "trials.csv")
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3] and {r["state"] for r in rows} == {"COMPLETE"}
    assert [float(r["value"]) for r in rows] == pytest.approx([values[i] for i in range(4)], abs=1e-6)
    assert {r["evaluations"] for r in rows} == {"2"}  # one per epoch of the fixed 2-epoch budget
    assert all(float(r["cpu_seconds"]) > 0 for r in rows)
    best = json.loads((directory / "best_recipe.json").read_text())
    assert best["tune"]["trial"] == result.best_trial and best["model"]["hidden_dim"] in (16, 32)
    model, train = read_recipe(directory / "best_recipe.json")
    assert train["epochs"] == 2 and train["lr"] == best["tune"]["params"]["train.lr"]
    assert model["loss_weights"]["family"]["cls_kl"] == best["tune"]["params"]["model.loss_weights.family.cls_kl"]
    run = tmp_path / "run"
    assert main(["train", "--features", str(store), "--config", str(directory / "best_recipe.json"),
                 "--out", str(run), "--quiet", "--threads", "1"]) == 0  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["hidden_dim"] == best["model"]["hidden_dim"] and config["train"]["lr"] == train["lr"]


def test_the_test_split_is_never_read(tuned, tmp_path: Path) -> None:
    store, directory, _ = tuned
    garbage = with_garbage_test(store, tmp_path / "garbage.safetensors")
    with pytest.raises(ValueError, match="label 99"):
        load_features(garbage)  # any read of the test split fails
    result = tune(garbage, tmp_path / "t", n_trials=2, pruner="none", **QUIET)
    clean = _study(directory)
    assert [t.value for t in _study(tmp_path / "t").trials] == [clean.trials[0].value, clean.trials[1].value]
    assert result.complete == 2

    class NoTest(FeatureSet):
        def __getattribute__(self, name: str):
            if name == "test":
                raise AssertionError("the test split was read")
            return super().__getattribute__(name)

    fs = load_features(store)
    guarded = NoTest(fs.train, [], fs.dev, fs.label_names, fs.num_speakers, fs.modality_dims, fs.layout, fs.source)
    with pytest.raises(AssertionError):
        _ = guarded.test
    assert tune(guarded, tmp_path / "t2", n_trials=1, **QUIET).best_value == clean.trials[0].value


def test_pruned_trials_stop_at_the_evaluation_that_pruned_them(tmp_path: Path) -> None:
    store = tiny_store(tmp_path / "data")
    pruner = optuna.pruners.ThresholdPruner(lower=1.01)  # below any F1: prune at the first evaluation
    result = tune(store, tmp_path / "t", n_trials=3, pruner=pruner, **{**QUIET, "recipe": {"train": {"epochs": 4}}})
    assert (result.complete, result.pruned) == (0, 3)
    assert [len(t.intermediate_values) for t in _study(tmp_path / "t").trials] == [1, 1, 1]
    assert result.best_recipe is None and not (tmp_path / "t" / "best_recipe.json").exists()
    assert {r["state"] for r in _rows(tmp_path / "t" / "trials.csv")} == {"PRUNED"}


def test_without_a_dev_split_trials_are_scored_on_a_training_hold_out(tmp_path: Path, capsys) -> None:
    from own_data_helpers import write_store

    (tmp_path / "d").mkdir()
    store = write_store(tmp_path / "d", ["a", "b", "c"], dev=False)
    assert main(["tune", "--features", str(store), "--out", str(tmp_path / "t"), "--n-trials", "1", "--epochs", "1",
                 "--space", str(_write(tmp_path / "s.json", SPACE)), "--threads", "1"]) == 0  # fmt: skip
    assert "no dev split" in capsys.readouterr().out
    assert json.loads((tmp_path / "t" / "tune.json").read_text())["selected_on"] == "validation 0.1"
    assert "validation" in json.loads((tmp_path / "t" / "best_recipe.json").read_text())["tune"]["metric"]


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_a_study_for_other_classes_or_features_is_refused(tuned, tmp_path: Path, capsys) -> None:
    _, directory, _ = tuned
    other_classes = tiny_store(tmp_path / "c", labels=("a", "b", "z"))
    with pytest.raises(ConfigError, match=r"other classes \(study: \['a', 'b', 'c'\]; now: \['a', 'b', 'z'\]\)"):
        tune(other_classes, directory, n_trials=5, **QUIET)
    fs = load_features(tiny_store(tmp_path / "f"))
    fs.train[0].features["text"][0, 0] += 1.0  # same classes, other features
    with pytest.raises(ConfigError, match="other features"):
        tune(fs, directory, n_trials=5, **QUIET)
    code = main(["tune", "--features", str(other_classes), "--out", str(directory), "--epochs", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "made for other classes" in err and "--study-name" in err
    assert len(_study(directory).trials) == 4  # nothing ran


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("nonsense", "not a storage URL"),
        ("sqlite:////no/such/folder/study.db", "cannot be reached"),
        ("postgresql://user:secret@127.0.0.1:1/db", "postgresql://user:\\*\\*\\*@127.0.0.1:1/db"),
    ],
)
def test_bad_storage_urls_are_refused(tmp_path: Path, url: str, problem: str, capsys) -> None:
    store = tiny_store(tmp_path / "data")
    with pytest.raises(ConfigError, match=problem):
        tune(store, tmp_path / "t", n_trials=1, storage=url, **QUIET)
    assert main(["tune", "--features", str(store), "--out", str(tmp_path / "t"), "--storage", url]) == 2
    err = capsys.readouterr().err
    assert "--storage" in err and "secret" not in err


def test_journal_file_storage(tmp_path: Path) -> None:
    store = tiny_store(tmp_path / "data")
    journal = f"journal:{tmp_path / 'study.log'}"
    result = tune(store, tmp_path / "t", n_trials=2, storage=journal, **QUIET)
    assert result.complete == 2 and (tmp_path / "study.log").is_file() and not (tmp_path / "t" / "study.db").exists()
    assert json.loads((tmp_path / "t" / "tune.json").read_text())["storage"] == journal
    assert tune(store, tmp_path / "t", n_trials=2, storage=journal, **QUIET).complete == 2  # resumed: nothing to do
    write_tune_report(tmp_path / "t", tmp_path / "r")
    assert (tmp_path / "r" / "history.png").is_file()


def test_search_space_file(tmp_path: Path, capsys) -> None:
    store = tiny_store(tmp_path / "data")
    space = {"model.dropout": None, "train.lr": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True},
             "model.classifier.layers": {"type": "int", "low": 1, "high": 3}, **SPACE}  # fmt: skip
    (tmp_path / "space.json").write_text(json.dumps(space))
    assert main(["tune", "--features", str(store), "--out", str(tmp_path / "t"), "--n-trials", "2", "--epochs", "1",
                 "--space", str(tmp_path / "space.json"), "--threads", "1"]) == 0  # fmt: skip
    params = [t.params for t in _study(tmp_path / "t").trials]
    assert all("model.dropout" not in p and 1e-4 <= p["train.lr"] <= 1e-3 for p in params)
    layers = DEFAULT_MODEL["classifier"]["layers"]  # the first trial holds the recipe's own value
    assert {p["model.classifier.layers"] for p in params} <= {1, 2, 3}
    assert params[0]["model.classifier.layers"] == layers
    assert "best: trial" in capsys.readouterr().out
    for bad, match in [
        ({"model.num_classes": {"type": "int", "low": 2, "high": 3}}, "cannot be tuned"),
        ({"model.hiden_dim": {"type": "int", "low": 8, "high": 9}}, "no 'hiden_dim'"),
        ({"train.lr": {"type": "float", "low": 1e-3, "high": 1e-4}}, "low < high"),
        ({"train.lr": {"type": "float", "low": 0.0, "high": 1e-4, "log": True}}, "low > 0"),
        ({"lr": {"type": "float", "low": 0.1, "high": 1}}, "does not start with"),
        ({"model.hidden_dim": {"type": "categorical", "choices": []}}, "non-empty 'choices'"),
        ({"model.hidden_dim": {"type": "normal"}}, "needs a 'type'"),
    ]:
        with pytest.raises(ConfigError, match=match):
            tune(store, tmp_path / f"bad{len(match)}", n_trials=1, **{**QUIET, "space": bad})


def test_default_space_follows_modalities_and_anchors() -> None:
    plain = default_space({"text": 8, "audio": 4}, anchors=False)
    assert {"train.lr", "train.batch_size", "train.weight_decay", "model.hidden_dim", "model.num_heads",
            "model.dropout", "model.feature_mask_prob", "model.loss_weights.family.cls_kl",
            "model.loss_weights.terms.cls.text", "model.loss_weights.terms.cls.audio"} == set(plain)  # fmt: skip
    anchored = default_space({"text": 8}, anchors=True)
    assert {"model.sampler.p", "model.loss_weights.family.anchor", "model.loss_weights.family.anchor_kl"} < set(
        anchored
    )


def _tune_command(store: Path, out: Path, n_trials: int) -> list[str]:
    return [sys.executable, "-m", "vega_anchors.cli", "tune", "--features", str(store), "--out", str(out),
            "--n-trials", str(n_trials), "--epochs", "3", "--threads", "1", "--no-pruning", "--sampler-seed", "0",
            "--space", str(out.parent / "space.json")]  # fmt: skip


def _finished(out: Path) -> dict[int, tuple[str, float | None, dict]]:
    if not (out / "tune.json").is_file():  # written once the study and its tables exist
        return {}
    trials = _study(out).trials
    return {t.number: (t.state.name, t.value, t.params) for t in trials if t.state.is_finished()}


def test_a_killed_run_resumes_without_losing_or_repeating_trials(tmp_path: Path) -> None:
    store = tiny_store(tmp_path / "data")
    out = tmp_path / "t"
    (tmp_path / "space.json").write_text(json.dumps(SPACE))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(_tune_command(store, out, 6), env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(_finished(out)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _finished(out)
    assert 2 <= len(before) < 6, f"{len(before)} trials finished before the kill"
    recipe = json.loads((out / "best_recipe.json").read_text())
    assert before[recipe["tune"]["trial"]][0] == "COMPLETE"  # the recipe names a finished trial
    done = subprocess.run(_tune_command(store, out, 6), env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    after = _finished(out)
    complete = {n: v for n, v in after.items() if v[0] == "COMPLETE"}
    assert len(complete) == 6  # the target, not 6 more: nothing repeated
    assert all(after[n] == v for n, v in before.items())  # nothing lost or changed
    assert len({json.dumps(v[2], sort_keys=True) for v in complete.values()}) == 6
    best = json.loads((out / "best_recipe.json").read_text())
    assert best["tune"]["value"] == max(v[1] for v in complete.values())


def test_workers_share_one_study(tmp_path: Path) -> None:
    store = tiny_store(tmp_path / "data")
    result = tune(store, tmp_path / "t", n_trials=3, workers=2, pruner="none", **QUIET)
    trials = _study(tmp_path / "t").trials
    numbers = sorted(t.number for t in trials)
    assert 3 <= result.complete <= 4 and numbers == list(range(len(numbers)))
    # one sampler seed, two workers: each draws from its own stream (no trial proposed twice)
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == len(trials)
    assert len(_rows(tmp_path / "t" / "trials.csv")) == len(numbers)


def test_report_draws_history_and_importances(tuned, tmp_path: Path) -> None:
    _, directory, _ = tuned
    assert main(["report", str(directory), "--out", str(tmp_path / "r")]) == 0
    assert_png(tmp_path / "r" / "history.png", (640, 400))
    assert_png(tmp_path / "r" / "importances.png")
    page = (tmp_path / "r" / "index.html").read_text()
    assert "history.png" in page and "importances.png" in page and "best_recipe.json" in page
    assert "4 complete" in page
    with pytest.raises(FileNotFoundError, match="not a tune directory"):
        write_tune_report(tmp_path, tmp_path / "r2")
