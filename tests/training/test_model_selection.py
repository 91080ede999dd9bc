"""Selection is one truth: the returned model, ``best_score`` and the test score all come from the
same (selected, averaged when EMA is on) weights, also when the best epoch is not the last.

The learning rate is far too high on purpose: the validation score peaks in the first epochs and
then collapses (the model ends up predicting one class), so the best epoch is not the last and the
last epoch's weights score the test set differently from the selected ones.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from training_helpers import TINY_DIMS, one_thread, tiny_model  # noqa: F401 (one_thread: autouse)

from vega_anchors.data import synthetic_dialogues
from vega_anchors.training import Callback, TrainConfig, TrainState, evaluate, fit

EPOCHS = 10


@pytest.fixture(scope="module")
def splits():
    data = synthetic_dialogues("iemocap", seed=0, modality_dims=TINY_DIMS, num_train=20, num_test=6)
    return data.train[:14], data.train[14:], data.test, data.label_names


class KeepLast(Callback):
    """Keeps the evaluated weights of the last epoch (what the old code wrongly tested with EMA)."""

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        self.weights = copy.deepcopy(state.scored.state_dict())


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_returned_model_best_score_and_test_score_agree(splits, ema_decay: float | None) -> None:
    train, val, test, names = splits
    model, last = tiny_model(names), KeepLast()
    config = TrainConfig(epochs=EPOCHS, batch_size=7, lr=0.3, patience=None, progress=False, ema_decay=ema_decay)
    result = fit(model, train, val=val, test=test, config=config, callbacks=[last])

    assert len(result.history) == EPOCHS and 1 <= result.best_epoch < EPOCHS
    scores = [r["validation_weighted_f1"] for r in result.history]
    assert result.best_score == max(scores) == scores[result.best_epoch - 1]
    assert evaluate(model, val).metrics.weighted_f1 == result.best_score
    assert result.test is not None
    assert result.test.metrics.weighted_f1 == evaluate(model, test).metrics.weighted_f1
    # the last epoch's weights score the test set differently: a test of the wrong weights is caught
    final = tiny_model(names)
    final.load_state_dict(last.weights)
    assert evaluate(final, test).metrics.weighted_f1 != result.test.metrics.weighted_f1
