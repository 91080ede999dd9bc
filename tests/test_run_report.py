"""Training reports from a hand-written ``vega-anchors train`` run directory and from fit's own log
and checkpoint; the HTML page references only the files it wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from png_helpers import assert_png

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig
from vega_anchors.cli import main
from vega_anchors.data import synthetic_dialogues
from vega_anchors.run_report import RunData, load_fit_outputs, load_run, write_report
from vega_anchors.training import TrainConfig, fit

CLASSES = ["happy", "sad", "neutral", "anger", "excited", "frustration"]


def history(seed: int, epochs: int = 6) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": {
                "total": 3 / e + seed,
                "cls": 2 / e,
                "cls_kl": 0.1 / e,
                "anchor": 0.8 / e,
                "anchor_kl": 0.05,
            },
            "dev_loss": 2.5 / e,
            "dev_weighted_f1": 0.4 + 0.04 * e - 0.01 * seed,
            "dev_accuracy": 0.45 + 0.04 * e,
            "lr": 1e-4,
            "seconds": 1.0,
            "best_epoch": e,
        }
        for e in range(1, epochs + 1)
    ]


def class_metrics(seed: int) -> dict:
    confusion = [[10 if i == j else (seed + i + j) % 3 for j in range(6)] for i in range(6)]
    f1 = [0.5 + 0.05 * c for c in range(6)]
    return {"accuracy": 0.6, "weighted_f1": 0.6 - 0.01 * seed, "macro_f1": 0.55, "precision": f1, "recall": f1,
            "f1": f1, "support": [sum(r) for r in confusion], "confusion": confusion, "class_names": CLASSES,
            "num_samples": sum(map(sum, confusion))}  # fmt: skip


def write_run_dir(root: Path, seeds=(0, 1, 2), anchors: bool = True) -> Path:
    """The run directory layout of ``vega-anchors train`` (COORD.md), written by hand."""
    root.mkdir(parents=True)
    config = {"model": VEGAConfig.iemocap().model_dump(mode="json"), "train": TrainConfig().model_dump(mode="json"),
              "features": "features.safetensors", "anchors": "anchors.safetensors" if anchors else "none",
              "seeds": list(seeds), "class_names": CLASSES, "modalities": {"text": 1536}, "selected_on": "dev",
              "encoder": None}  # fmt: skip
    (root / "config.json").write_text(json.dumps(config))
    summary = {"weighted_f1": 0.59, "weighted_f1_std": 0.01, "accuracy": 0.6, "accuracy_std": 0.0,
               "macro_f1": 0.55, "macro_f1_std": 0.0}  # fmt: skip
    metrics = {
        "kind": "train", "class_names": CLASSES, "selected_on": "dev", "test": summary, "dev": summary,
        "seeds": {str(s): {"test": class_metrics(s), "dev": class_metrics(s), "best_epoch": 6, "seconds": 8.5}
                  for s in seeds},
    }  # fmt: skip
    (root / "metrics.json").write_text(json.dumps(metrics))
    rows = ["class,support,precision,recall,f1"] + [
        f"{c},{12 + i},0.6,0.5,{0.5 + 0.05 * i}" for i, c in enumerate(CLASSES)
    ]
    (root / "per_class.csv").write_text("\n".join(rows) + "\n")
    for s in seeds:
        (root / f"seed-{s}").mkdir()
        (root / f"seed-{s}" / "history.json").write_text(json.dumps(history(s)))
    if anchors:
        g = torch.Generator().manual_seed(0)
        AnchorBank.from_features({c: torch.randn(5, 8, generator=g) + 3 * i for i, c in enumerate(CLASSES)}).save(
            root / "anchors.safetensors"
        )
    return root


def referenced_files(page: Path) -> list[str]:
    text = page.read_text()
    return re.findall(r"(?:src|href)\s*=\s*['\"]([^'\"]+)['\"]", text)


def check_page(page: Path, expected: set[str]) -> None:
    refs = referenced_files(page)
    assert set(refs) == expected, refs
    for ref in refs:
        assert not ref.startswith(("/", "http:", "https:", "file:", "data:")) and ".." not in ref
        assert (page.parent / ref).is_file()
    written = {p.name for p in page.parent.iterdir()}
    assert written == expected | {"index.html"}  # only files it wrote, all referenced


def test_report_from_a_run_directory(tmp_path: Path) -> None:
    run = load_run(write_run_dir(tmp_path / "run"))
    assert list(run.histories) == ["seed 0", "seed 1", "seed 2"] and run.class_names == CLASSES
    assert run.confusion is not None and run.confusion[0][0] == 30  # summed over three seeds
    assert run.per_class is not None and run.per_class[5]["f1"] == pytest.approx(0.75)
    assert run.bank is not None and run.bank.num_classes == 6
    page = write_report(run, tmp_path / "out")
    sizes = {  # figsize × dpi 100; loss: 6 families (5 train terms + dev loss) in 3 columns × 2 rows
        "loss.png": (1080, 580),
        "selection_f1.png": (640, 400),
        "lr.png": (640, 320),
        "confusion.png": (640, 560),
        "per_class_f1.png": (640, 400),
        "anchor_heatmap.png": (640, 560),
    }
    check_page(page, set(sizes))
    for name, size in sizes.items():
        assert_png(tmp_path / "out" / name, size)
    text = page.read_text()
    assert "0.5900 ± 0.0100" in text and "leave-one-out" in text and "<h2>Seeds</h2>" in text


def test_report_says_still_improving(tmp_path: Path) -> None:
    root = write_run_dir(tmp_path / "run", seeds=(0, 1), anchors=False)
    metrics = json.loads((root / "metrics.json").read_text())
    for seed, (step, flag) in {"0": (950, True), "1": (400, False)}.items():
        metrics["seeds"][seed].update(best_step=step, budget_steps=1000, budget_epochs=100, still_improving=flag)
    (root / "metrics.json").write_text(json.dumps(metrics))
    text = write_report(load_run(root), tmp_path / "out").read_text()
    assert "Still improving: seed(s) 0 selected a checkpoint in the last 10%" in text
    assert "<td>950</td><td>1000 steps / 100 epochs</td><td>yes</td>" in text and "<td>no</td>" in text
    plain = write_report(load_run(write_run_dir(tmp_path / "plain", seeds=(0,), anchors=False)), tmp_path / "o2")
    assert "Still improving" not in plain.read_text()


def test_report_without_anchors_has_no_heatmap(tmp_path: Path) -> None:
    page = write_report(load_run(write_run_dir(tmp_path / "run", seeds=(0,), anchors=False)), tmp_path / "out")
    check_page(page, {"loss.png", "selection_f1.png", "lr.png", "confusion.png", "per_class_f1.png"})


def test_missing_or_wrong_inputs_are_explained(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"--log history\.json"):
        load_run(tmp_path / "empty")
    (tmp_path / "bad.json").write_text('{"epoch": 1}')
    with pytest.raises(ValueError, match="not a fit log"):
        load_fit_outputs(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="--log"):
        load_fit_outputs()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """fit on tiny synthetic dialogues with TrainConfig(log_path=..., checkpoint_dir=...)."""
    root = tmp_path_factory.mktemp("fit")
    dims = {"text": 12, "audio": 10, "visual": 6}
    data = synthetic_dialogues("iemocap", seed=0, modality_dims=dims, num_train=10, num_test=4)
    torch.manual_seed(0)
    cfg = VEGAConfig.iemocap(modalities=dims, hidden_dim=16, num_heads=2, anchor_dim=8, dropout=0.1)
    g = torch.Generator().manual_seed(0)
    bank = AnchorBank.from_features({c: torch.randn(3, 8, generator=g) for c in data.label_names})
    train_cfg = TrainConfig(epochs=2, batch_size=4, lr=3e-3, progress=False, patience=None,
                            log_path=str(root / "history.json"), checkpoint_dir=str(root / "ckpt"))  # fmt: skip
    result = fit(DualBranchVEGA(cfg, bank), data.train, test=data.test, config=train_cfg, class_names=data.label_names)
    assert result.test is not None
    (root / "test_metrics.json").write_text(json.dumps(result.test.metrics.to_dict()))
    return root, root / "ckpt" / "best.pt", list(data.label_names)


def test_report_from_fit_log_and_checkpoint(fitted, tmp_path: Path) -> None:
    root, best, names = fitted
    run = load_fit_outputs(root / "history.json", checkpoint=best, metrics=root / "test_metrics.json")
    assert len(run.histories["run"]) == 2 and run.class_names == names
    assert run.bank is not None and run.bank.num_classes == len(names) and run.bank.class_names == names
    page = write_report(run, tmp_path / "out")
    check_page(page, {"loss.png", "selection_f1.png", "lr.png", "confusion.png", "per_class_f1.png",
                      "anchor_heatmap.png"})  # fmt: skip
    assert_png(tmp_path / "out" / "loss.png")
    # last.pt alone carries the history
    only_ckpt = load_fit_outputs(checkpoint=root / "ckpt" / "last.pt")
    assert len(only_ckpt.histories["run"]) == 2 and only_ckpt.bank is not None


def test_cli_report(fitted, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_run_dir(tmp_path / "run", seeds=(0,))
    assert main(["report", str(run_dir), "--out", str(tmp_path / "a")]) == 0
    assert "index.html" in capsys.readouterr().out and (tmp_path / "a" / "confusion.png").is_file()
    root, best, _ = fitted
    argv = ["report", "--log", str(root / "history.json"), "--checkpoint", str(best), "--out", str(tmp_path / "b")]
    assert main(argv) == 0
    assert (tmp_path / "b" / "anchor_heatmap.png").is_file() and not (tmp_path / "b" / "confusion.png").exists()
    assert main(["report", "--out", str(tmp_path / "c")]) == 2
    assert "--log history.json" in capsys.readouterr().err


def test_rundata_defaults() -> None:
    assert RunData(title="x").histories == {}


def test_report_from_a_real_train_run(tmp_path: Path) -> None:
    """`vega-anchors train` output (with an anchor bank) → `vega-anchors report`: the two commands fit."""
    import torch
    from own_data_helpers import write_store

    from vega_anchors import AnchorBank
    from vega_anchors.cli import main
    from vega_anchors.runs import train_run

    store = write_store(tmp_path, ["a", "b", "c", "d"])
    bank = AnchorBank.from_features({c: torch.randn(3, 8, generator=torch.Generator().manual_seed(i))
                                     for i, c in enumerate("abcd")})  # fmt: skip
    bank_path = bank.save(tmp_path / "bank.safetensors")
    fast = {"model": {"hidden_dim": 16, "num_heads": 2}, "train": {"epochs": 2, "lr": 3e-3, "ema_decay": None}}
    train_run(store, tmp_path / "run", anchors=str(bank_path), seeds=[0], **fast)
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "report")]) == 0
    check_page(
        tmp_path / "report" / "index.html",
        {"loss.png", "selection_f1.png", "lr.png", "confusion.png", "per_class_f1.png", "anchor_heatmap.png"},
    )
    assert_png(tmp_path / "report" / "anchor_heatmap.png", (640, 560))
