"""The training budget: step budget → epochs, warm-up and decay values, early stopping after
``min_steps``, the "still improving" flag."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from training_helpers import one_thread, tiny_model  # noqa: F401

from vega_anchors.data import synthetic_dialogues
from vega_anchors.training import TrainConfig, TrainState, fit
from vega_anchors.training.fitting import _result
from vega_anchors.training.schedule import Budget, lr_factor, make_scheduler, plan_budget, still_improving

DIMS = {"text": 8, "audio": 6}


def test_the_budget_follows_the_data() -> None:
    config = TrainConfig(max_steps=3000, warmup_fraction=0.05)
    assert plan_budget(config, 65) == Budget(steps=3055, epochs=47, batches_per_epoch=65, warmup_steps=153)
    assert plan_budget(config, 7) == Budget(steps=3003, epochs=429, batches_per_epoch=7, warmup_steps=150)
    assert plan_budget(TrainConfig(epochs=30), 7) == Budget(210, 30, 7, 0)  # no max_steps: epochs


def test_warmup_then_decay_values() -> None:
    budget = Budget(steps=110, epochs=11, batches_per_epoch=10, warmup_steps=10)
    assert [lr_factor(s, budget, "cosine") for s in (0, 4, 9)] == pytest.approx([1 / 11, 5 / 11, 10 / 11])
    assert lr_factor(10, budget, "cosine") == 1.0  # the peak, right after warm-up
    assert lr_factor(60, budget, "cosine") == pytest.approx(0.5)  # half the decay span
    assert lr_factor(35, budget, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(60, budget, "linear") == pytest.approx(0.5) and lr_factor(85, budget, "linear") == 0.25
    assert lr_factor(110, budget, "cosine") == pytest.approx(0.0) and lr_factor(500, budget, "linear") == 0.0
    assert lr_factor(60, budget, "none") == 1.0 and lr_factor(3, budget, "none") == pytest.approx(4 / 11)
    with pytest.raises(ValueError, match="unknown scheduler"):
        lr_factor(50, budget, "step")


def test_the_scheduler_sets_the_rate_per_step() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=2.0)
    budget = Budget(steps=20, epochs=2, batches_per_epoch=10, warmup_steps=4)
    scheduler = make_scheduler(optimizer, budget, "linear")
    assert scheduler is not None
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([2.0 * lr_factor(s, budget, "linear") for s in range(20)])
    assert make_scheduler(optimizer, Budget(20, 2, 10, 0), "none") is None  # constant: no scheduler


def test_still_improving_means_the_last_tenth_of_the_budget() -> None:
    assert still_improving(1000, 1000) and still_improving(901, 1000)
    assert not still_improving(900, 1000) and not still_improving(450, 1000) and not still_improving(0, 1000)


@pytest.mark.parametrize(("best_step", "flag"), [(95, True), (60, False)])
def test_fit_result_flags_and_logs_still_improving(
    best_step: int, flag: bool, caplog: pytest.LogCaptureFixture
) -> None:
    model = tiny_model(list("abcdef"))
    state = TrainState(model=model, scored=model, epoch=10, step=100, best_epoch=best_step // 10, best_step=best_step)
    with caplog.at_level(logging.WARNING, logger="vega_anchors.training.fitting"):
        result = _result(state, Budget(100, 10, 10, 0), "dev", None, None)  # type: ignore[arg-type]
    assert result.still_improving is flag
    assert result.summary() == {"best_epoch": best_step // 10, "best_step": best_step, "budget_steps": 100,
                                "budget_epochs": 10, "still_improving": flag, "selected_on": "dev"}  # fmt: skip
    assert ("still improving" in caplog.text) is flag


def test_early_stopping_waits_for_min_steps_then_counts_steps() -> None:
    data = synthetic_dialogues("iemocap", seed=0, modality_dims=DIMS, num_train=8, num_test=4)
    model = tiny_model(data.label_names)
    # lr ~0: the score never improves after the first evaluation (epoch 1, step 2: 2 batches an epoch)
    config = TrainConfig(max_steps=40, batch_size=4, lr=1e-12, patience=None, patience_steps=3, min_steps=9,
                         progress=False)  # fmt: skip
    result = fit(model, data.train, val=data.test, config=config, val_name="dev")
    assert (result.budget_steps, result.budget_epochs) == (40, 20)
    assert (result.best_epoch, result.best_step) == (1, 2)
    assert [r["step"] for r in result.history] == [2, 4, 6, 8, 10]  # stops at the first check after step 9
    assert result.selected_on == "dev" and "dev_weighted_f1" in result.history[0]
    assert result.selection is not None and result.selection.metrics.weighted_f1 == result.best_score
    assert not result.still_improving
