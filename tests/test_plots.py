"""Every picture is a valid, non-blank PNG of the expected size; matplotlib stays out of ``import vega_anchors``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from png_helpers import assert_png

from vega_anchors import AnchorBank, plots
from vega_anchors.anchors.pools import ExemplarPool

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bank() -> AnchorBank:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 24, generator=g) * 3
    return AnchorBank.from_features(
        {n: centres[i] + torch.randn(12, 24, generator=g) for i, n in enumerate(["anger", "happy", "sad", "neutral"])}
    )


HISTORY = [
    {"epoch": e, "train_loss": {"total": 2.0 / e, "cls": 1.5 / e, "anchor": 0.5 / e}, "validation_loss": 1.8 / e,
     "validation_weighted_f1": 0.3 + 0.05 * e, "lr": 1e-3 * (0.9**e), "best_epoch": e}
    for e in range(1, 8)
]  # fmt: skip


def test_anchor_pictures(bank: AnchorBank, tmp_path: Path) -> None:
    heat = plots.plot_center_heatmap(bank, tmp_path / "heat.png")
    assert_png(heat, (640, 560))
    proj = plots.plot_projection(bank, tmp_path / "proj.png", figsize=(6, 4), dpi=50)
    assert_png(proj, (300, 200))


def test_contact_sheet_from_recorded_sources(tmp_path: Path, make_image) -> None:
    for i in range(6):
        make_image(i, (40, 30)).save(tmp_path / f"img{i}.png")
    pool = ExemplarPool(
        [tmp_path / f"img{i}.png" for i in range(6)], ["a", "a", "a", "b", "b", "b"], [f"img{i}.png" for i in range(6)]
    )
    bank = AnchorBank.from_pool(
        pool, lambda ims: torch.randn(len(ims), 8, generator=torch.Generator().manual_seed(0)), ["a", "b"], per_class=3
    )
    path = plots.plot_contact_sheet(bank, tmp_path / "sheet.png", images_root=tmp_path, max_per_class=3)
    w, h = plots.contact_sheet_figsize(2, 3, label_chars=1)
    assert_png(path, (round(w * 100), round(h * 100)))
    no_sources = AnchorBank.from_features({"a": torch.randn(2, 4)})
    with pytest.raises(ValueError, match="does not record its source images"):
        plots.plot_contact_sheet(no_sources, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_training_pictures(tmp_path: Path) -> None:
    runs = {"seed 0": HISTORY, "seed 1": HISTORY[:5]}
    assert_png(plots.plot_loss_curves(runs, tmp_path / "loss.png"), (1080, 580))  # 4 panels: 3 + 1 per row
    assert_png(plots.plot_metric_curve(runs, tmp_path / "f1.png"), (640, 400))
    assert_png(plots.plot_learning_rate(runs, tmp_path / "lr.png"), (640, 320))
    confusion = [[8, 1, 1], [2, 6, 2], [0, 0, 0]]
    assert_png(plots.plot_confusion_matrix(confusion, ["a", "b", "c"], tmp_path / "cm.png"), (640, 560))
    assert_png(plots.plot_per_class_f1([0.9, 0.5, 0.0], ["a", "b", "c"], tmp_path / "f1bars.png", support=[10, 10, 0]),
               (640, 400))  # fmt: skip
    with pytest.raises(ValueError, match=r"\[C, C\]"):
        plots.plot_confusion_matrix([[1, 2]], ["a", "b"], tmp_path / "bad.png")


def test_tuning_pictures(tmp_path: Path) -> None:
    trials = [{"number": 0, "state": "COMPLETE", "value": 0.50}, {"number": 1, "state": "PRUNED", "last_score": 0.3},
              {"number": 2, "state": "COMPLETE", "value": 0.55}, {"number": 3, "state": "FAIL", "value": None},
              {"number": 4, "state": "COMPLETE", "value": 0.52}]  # fmt: skip
    assert_png(plots.plot_optimization_history(trials, tmp_path / "history.png"), (640, 400))
    assert_png(plots.plot_param_importances({"train.lr": 0.7, "model.dropout": 0.3}, tmp_path / "imp.png"), (640, 250))


def test_pca_2d_is_deterministic_and_explains_variance() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g) * torch.tensor([5.0, 2.0, 0.1])
    coords, explained = plots.pca_2d(x)
    assert coords.shape == (50, 2) and explained[0] > explained[1] > 0 and float(explained.sum()) <= 1.0
    assert torch.allclose(coords.abs()[:, 0], (x[:, 0] - x[:, 0].mean()).abs(), atol=0.2)
    assert torch.equal(plots.pca_2d(x)[0], coords)


def test_import_vega_anchors_does_not_import_matplotlib() -> None:
    code = "import sys, vega_anchors, vega_anchors.plots, vega_anchors.run_report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_docs_pictures_example_draws_every_picture(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("anchor_pictures", REPO_ROOT / "examples" / "anchor_pictures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path)
    # a browser screenshot of the annotate page (docs/annotate.md) and a measured ablate figure (docs/own_data.md)
    screenshots = {"annotate_page.png", "meld_ablate.png"}
    pictures = [p.name for p in (REPO_ROOT / "docs" / "images").glob("*.png") if p.name not in screenshots]
    assert sorted(p.name for p in written) == sorted(pictures)
    for path in written:
        assert_png(path)
