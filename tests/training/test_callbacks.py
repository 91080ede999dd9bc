"""fit's callback hook: how often each hook runs, with which epochs and steps, and what it sees."""

from __future__ import annotations

import json
from typing import Any

import pytest
from training_helpers import TINY_DIMS, one_thread, tiny_model  # noqa: F401 (one_thread: autouse)

from vega_anchors.data import synthetic_dialogues
from vega_anchors.training import (
    Callback,
    TrainConfig,
    TrainState,
    batch_indices,
    fit,
    load_checkpoint,
    save_checkpoint,
)


@pytest.fixture(scope="module")
def data():
    return synthetic_dialogues("iemocap", seed=0, modality_dims=TINY_DIMS, num_train=20, num_test=4)


class Recorder(Callback):
    def __init__(self) -> None:
        self.steps: list[tuple[int, int, float]] = []
        self.epochs: list[tuple[int, int]] = []
        self.best: list[tuple[int, float]] = []

    def on_step_end(self, state: TrainState) -> None:
        assert state.loss is not None and not state.loss.total.requires_grad
        self.steps.append((state.epoch, state.step, float(state.loss.total)))

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        assert record is state.history[-1] and record["epoch"] == state.epoch
        record["tracker"] = len(self.steps)  # saved with the epoch's log record
        self.epochs.append((state.epoch, state.step))

    def on_best(self, state: TrainState, record: dict[str, Any]) -> None:
        assert state.best_epoch == state.epoch == record["epoch"] and record["best_epoch"] == state.epoch
        self.best.append((state.epoch, state.best_score))


def test_hooks_run_per_step_per_epoch_and_at_each_improvement(data, tmp_path) -> None:
    train, val = data.train[:14], data.train[14:]
    config = TrainConfig(
        epochs=6, batch_size=4, lr=0.02, patience=None, progress=False, log_path=str(tmp_path / "log.json")
    )
    recorder = Recorder()
    result = fit(tiny_model(data.label_names), train, val=val, config=config, callbacks=[recorder])

    per_epoch = len(batch_indices(train, 4, shuffle=True))  # 14 dialogues in batches of 4
    assert per_epoch == 4
    assert [(e, s) for e, s, _ in recorder.steps] == [(1 + i // per_epoch, i + 1) for i in range(6 * per_epoch)]
    assert recorder.epochs == [(e, e * per_epoch) for e in range(1, 7)]
    # on_best fires exactly at strict improvements of the validation score
    scores = [r["validation_weighted_f1"] for r in result.history]
    improved = [(i + 1, s) for i, s in enumerate(scores) if s > max(scores[:i], default=-1.0)]
    assert recorder.best == improved and recorder.best[-1] == (result.best_epoch, result.best_score)
    assert 1 < len(recorder.best) < 6  # some epochs improve, some do not
    # the step losses average to the epoch's logged training loss
    first = [loss for e, _, loss in recorder.steps if e == 1]
    assert sum(first) / per_epoch == pytest.approx(result.history[0]["train_loss"]["total"], rel=1e-6)
    log = json.loads((tmp_path / "log.json").read_text())
    assert [r["tracker"] for r in log] == [e * per_epoch for e in range(1, 7)]


def test_callback_exceptions_propagate(data) -> None:
    class Boom(Callback):
        def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
            raise RuntimeError(f"tracker down at epoch {state.epoch}")

    config = TrainConfig(epochs=3, batch_size=7, lr=1e-2, patience=None, progress=False)
    with pytest.raises(RuntimeError, match="tracker down at epoch 1"):
        fit(tiny_model(data.label_names), data.train, config=config, callbacks=[Boom()])


@pytest.mark.parametrize("old_layout", [False, True])
def test_resumed_runs_continue_the_step_count(data, tmp_path, old_layout: bool) -> None:
    train, val = data.train[:14], data.train[14:]
    config = TrainConfig(epochs=1, batch_size=7, lr=1e-2, patience=None, progress=False, checkpoint_dir=str(tmp_path))
    fit(tiny_model(data.label_names), train, val=val, config=config)
    if old_layout:  # checkpoints written before the step count was saved still resume
        state = load_checkpoint(tmp_path / "last.pt")
        del state["step"]
        save_checkpoint(tmp_path / "last.pt", state)
    recorder = Recorder()
    more = config.model_copy(update={"epochs": 2, "checkpoint_dir": None})
    fit(
        tiny_model(data.label_names),
        train,
        val=val,
        config=more,
        resume_from=tmp_path / "last.pt",
        callbacks=[recorder],
    )
    assert [(e, s) for e, s, _ in recorder.steps] == [(2, 3), (2, 4)]
