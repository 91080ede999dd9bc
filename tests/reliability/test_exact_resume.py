"""Exact resume: a run stopped by an error and resumed from ``last.pt`` ends bit-identical (CPU) to an
uninterrupted run, with a step budget, the per-step warm-up and cosine schedule, length-bucketed
batches, dropout, feature masking and stochastic anchors all on.
(``tests/test_training.py::test_resume_is_bit_identical`` covers a clean stop after an epoch with
the default schedule.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from reliability_helpers import meld_data, meld_model

from vega_anchors.training import TrainConfig, fit, load_checkpoint

EPOCHS = 3
STOP_EPOCH = 2  # the interruption happens during this epoch (1-based)
TIMING = ("seconds", "utterances_per_s")


@pytest.fixture(scope="module")
def data() -> Any:
    return meld_data(num_train=6, num_test=2, seed=2)


def _config(folder: Path) -> TrainConfig:
    return TrainConfig(
        max_steps=2 * EPOCHS - 1,  # 2 batches an epoch: rounded up to EPOCHS epochs
        warmup_fraction=0.34,  # 2 warm-up steps of 6
        batch_size=3,
        lr=3e-3,
        scheduler="cosine",
        bucket_by_length=True,
        progress=False,
        patience=None,
        seed=5,
        checkpoint_dir=str(folder),
    )


@pytest.fixture(scope="module")
def uninterrupted(data: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("full")
    model = meld_model(data.label_names)
    result = fit(model, data.train, val=data.test, config=_config(folder))
    return {"result": result, "model": model.state_dict(), "last": load_checkpoint(folder / "last.pt")}


class PowerCut(Exception):
    pass


def _stop_mid_epoch(model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch, batches_per_epoch: int) -> None:
    """Raise in the second training forward pass of epoch ``STOP_EPOCH``."""
    calls = {"n": 0}
    stop_at = (STOP_EPOCH - 1) * batches_per_epoch + 2

    def hook(module: torch.nn.Module, args: Any, kwargs: Any) -> None:
        if module.training:
            calls["n"] += 1
            if calls["n"] == stop_at:
                raise PowerCut("mid-epoch")

    model.register_forward_pre_hook(hook, with_kwargs=True)


def _stop_while_checkpointing(model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch, batches_per_epoch: int) -> None:
    """Raise inside ``torch.save`` of epoch ``STOP_EPOCH``'s ``last.pt``, after part of it is written."""
    real_save = torch.save
    saves = {"n": 0}

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(obj, dict) and "optimizer" in obj:  # last.pt (best.pt has no optimizer state)
            saves["n"] += 1
            if saves["n"] == STOP_EPOCH:
                Path(f).write_bytes(b"PK\x03\x04 torn")
                raise PowerCut("while writing last.pt")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.mark.parametrize("interrupt", [_stop_mid_epoch, _stop_while_checkpointing], ids=["mid-epoch", "mid-write"])
def test_resume_after_a_crash_is_bit_identical(
    data: Any, uninterrupted: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: Any
) -> None:
    crashed = meld_model(data.label_names)
    batches_per_epoch = -(-len(data.train) // 3)
    interrupt(crashed, monkeypatch, batches_per_epoch)
    with pytest.raises(PowerCut):
        fit(crashed, data.train, val=data.test, config=_config(tmp_path))
    monkeypatch.undo()

    saved = load_checkpoint(tmp_path / "last.pt")  # the last complete epoch, never a torn file
    assert saved["epoch"] == STOP_EPOCH - 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]

    resumed = meld_model(data.label_names, seed=123)  # everything must come from the checkpoint
    result = fit(resumed, data.train, val=data.test, config=_config(tmp_path), resume_from=tmp_path / "last.pt")

    full, last = uninterrupted["result"], load_checkpoint(tmp_path / "last.pt")
    strip = [{k: v for k, v in r.items() if k not in TIMING} for r in result.history]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING} for r in full.history]
    assert [r["lr"] for r in strip] != [strip[0]["lr"]] * EPOCHS  # the cosine schedule did move
    assert (result.best_epoch, result.best_score) == (full.best_epoch, full.best_score)
    assert (result.budget_steps, result.budget_epochs, result.best_step) == (6, EPOCHS, full.best_step)
    assert result.selection is not None and full.selection is not None
    assert result.selection.metrics.weighted_f1 == full.selection.metrics.weighted_f1 == full.best_score
    _assert_same_state(last["model"], uninterrupted["last"]["model"])
    _assert_same_state(resumed.state_dict(), uninterrupted["model"])  # the best weights, reloaded
    _assert_same_state(last["optimizer"]["state"], uninterrupted["last"]["optimizer"]["state"])
    assert last["scheduler"] == uninterrupted["last"]["scheduler"] and last["scheduler"]["last_epoch"] == 6
    assert torch.equal(last["rng"]["torch"], uninterrupted["last"]["rng"]["torch"])


def _assert_same_state(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same_state(a[key], b[key], f"{where}/{key}")
    else:
        assert a == b, where
