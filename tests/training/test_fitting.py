"""Training engine: learning, exact resume, checkpoints, the official pickle layout end to end."""

from __future__ import annotations

import json

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig
from vega_anchors.data import synthetic_dialogues
from vega_anchors.official import load_feature_pickle, save_feature_pickle
from vega_anchors.training import TrainConfig, evaluate, fit, load_checkpoint

DIMS = {"text": 12, "audio": 10, "visual": 6}


@pytest.fixture(scope="module")
def data():
    return synthetic_dialogues("iemocap", seed=0, modality_dims=DIMS, num_train=24, num_test=8)


def make_model(label_names, seed: int = 0) -> DualBranchVEGA:
    torch.manual_seed(seed)
    cfg = VEGAConfig.iemocap(modalities=DIMS, hidden_dim=16, num_heads=2, anchor_dim=8, dropout=0.1)
    g = torch.Generator().manual_seed(seed)
    bank = AnchorBank.from_features({c: torch.randn(3, 8, generator=g) for c in label_names})
    return DualBranchVEGA(cfg, bank)


def quick(**overrides) -> TrainConfig:
    base = dict(epochs=3, batch_size=4, lr=3e-3, progress=False, patience=None)
    base.update(overrides)
    return TrainConfig(**base)


def test_fit_learns_and_reports(data, tmp_path) -> None:
    model = make_model(data.label_names)
    log = tmp_path / "log.json"
    result = fit(
        model,
        data.train,
        test=data.test,
        config=quick(epochs=6, log_path=str(log)),
        class_names=data.label_names,
    )
    history = json.loads(log.read_text())
    assert [r["epoch"] for r in history] == list(range(1, 7))
    assert history[-1]["train_loss"]["total"] < history[0]["train_loss"]["total"]
    assert result.selected_on == "validation" and 1 <= result.best_epoch <= 6
    assert result.test is not None and result.test.metrics.num_samples == sum(d.length for d in data.test)
    # the model ends with the best epoch's weights
    again = evaluate(model, data.train[-3:], class_names=data.label_names)
    assert again.metrics.num_samples > 0


def test_resume_is_bit_identical(data, tmp_path) -> None:
    full = make_model(data.label_names)
    fit(full, data.train, config=quick(epochs=4, checkpoint_dir=str(tmp_path / "full")))
    part = make_model(data.label_names)
    fit(part, data.train, config=quick(epochs=2, checkpoint_dir=str(tmp_path / "part")))
    resumed = make_model(data.label_names, seed=123)  # different init: everything must come from the checkpoint
    fit(
        resumed,
        data.train,
        config=quick(epochs=4, checkpoint_dir=str(tmp_path / "part")),
        resume_from=tmp_path / "part" / "last.pt",
    )
    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "last.pt")
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]
    for key, value in a["model"].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b["model"][key]), key
        else:  # the anchor sampler's generator state
            assert torch.equal(value["generator_state"], b["model"][key]["generator_state"]), key


def test_same_seed_same_losses(data) -> None:
    runs = []
    for _ in range(2):
        model = make_model(data.label_names)
        runs.append([r["train_loss"]["total"] for r in fit(model, data.train, config=quick(epochs=2)).history])
    assert runs[0] == runs[1]


def test_paper_protocol_is_explicit(data) -> None:
    model = make_model(data.label_names)
    result = fit(model, data.train, test=data.test, config=quick(epochs=1, select_on_test_paper_protocol=True))
    assert result.selected_on == "test" and "test_weighted_f1" in result.history[0]
    with pytest.raises(ValueError, match="needs test"):
        fit(model, data.train, config=quick(select_on_test_paper_protocol=True))


def test_bucketing_and_cosine_schedule(data) -> None:
    model = make_model(data.label_names)
    result = fit(model, data.train, config=quick(epochs=2, bucket_by_length=True, scheduler="cosine"))
    assert result.history[1]["lr"] < result.history[0]["lr"]


def test_bf16_training_on_cpu(data) -> None:
    model = make_model(data.label_names)
    result = fit(model, data.train, config=quick(epochs=1, precision="bf16"))
    assert result.history[0]["train_loss"]["total"] == pytest.approx(result.history[0]["train_loss"]["total"])


def test_official_pickle_trains_end_to_end(data, tmp_path) -> None:
    path = tmp_path / "IEMOCAP_features.pkl"
    save_feature_pickle(data, path, layout="vega")
    loaded = load_feature_pickle(path)
    assert loaded.modality_dims == DIMS and len(loaded.train) == len(data.train)
    model = make_model(loaded.label_names)
    result = fit(model, loaded.train, test=loaded.test, config=quick(epochs=1))
    assert result.test is not None and 0.0 <= result.test.metrics.weighted_f1 <= 1.0


def test_checkpoint_refuses_foreign_files(tmp_path) -> None:
    torch.save({"weights": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a vega-anchors training checkpoint"):
        load_checkpoint(tmp_path / "x.pt")


def test_fit_standardizes_inputs_on_the_training_split_only(data) -> None:
    torch.manual_seed(0)
    cfg = VEGAConfig.iemocap(modalities=DIMS, hidden_dim=16, num_heads=2, anchor_dim=8, input_norm="standardize")
    bank = AnchorBank.from_features({c: torch.randn(3, 8) for c in data.label_names})
    model = DualBranchVEGA(cfg, bank)
    train, val = data.train[:16], data.train[16:]
    fit(model, train, val=val, test=data.test, config=quick(epochs=1))
    rows = torch.cat([d.features["audio"] for d in train]).double()
    torch.testing.assert_close(model.input_norm["audio"].mean.double(), rows.mean(0), rtol=0, atol=1e-5)


def test_ema_returns_the_moving_average_of_the_weights(data) -> None:
    decay = 0.9
    raw = make_model(data.label_names)
    snapshots: list[dict[str, torch.Tensor]] = []
    hook = register_optimizer_step_post_hook(
        lambda *_: snapshots.append({n: p.detach().clone() for n, p in raw.named_parameters()})
    )
    try:
        fit(raw, data.train, config=quick(epochs=1))
    finally:
        hook.remove()
    expected = dict(snapshots[0])  # the first update copies the weights
    for step in snapshots[1:]:
        expected = {n: decay * expected[n] + (1 - decay) * p for n, p in step.items()}
    averaged = make_model(data.label_names)
    fit(averaged, data.train, config=quick(epochs=1, ema_decay=decay))
    assert len(snapshots) > 3
    for name, param in averaged.named_parameters():
        torch.testing.assert_close(param.detach(), expected[name], rtol=1e-5, atol=1e-6, msg=name)
    moved = [n for n, p in averaged.named_parameters() if not torch.allclose(p, snapshots[-1][n])]
    assert moved  # the returned weights are the average, not the last step's


def test_ema_resume_is_bit_identical(data, tmp_path) -> None:
    full = make_model(data.label_names)
    fit(full, data.train, config=quick(epochs=3, ema_decay=0.5, checkpoint_dir=str(tmp_path / "full")))
    part = make_model(data.label_names)
    fit(part, data.train, config=quick(epochs=1, ema_decay=0.5, checkpoint_dir=str(tmp_path / "part")))
    resumed = make_model(data.label_names, seed=123)
    fit(resumed, data.train, config=quick(epochs=3, ema_decay=0.5), resume_from=tmp_path / "part" / "last.pt")
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="saved without ema_decay"):
        plain = make_model(data.label_names)
        fit(plain, data.train, config=quick(epochs=1, checkpoint_dir=str(tmp_path / "plain")))
        fit(plain, data.train, config=quick(epochs=2, ema_decay=0.5), resume_from=tmp_path / "plain" / "last.pt")
    with pytest.raises(ValueError, match="saved with ema_decay"):
        fit(make_model(data.label_names), data.train, config=quick(epochs=2), resume_from=tmp_path / "part" / "last.pt")
