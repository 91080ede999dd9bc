"""Draw the example pictures of docs/anchors.md from SYNTHETIC data (no real faces, no downloads).

    python examples/anchor_pictures.py docs/images

* a 6-class IEMOCAP-named bank of Gaussian clusters in which "frustration" is made to overlap
  "anger": its diagnostics, centre heatmap and PCA projection;
* a bank chosen with ``AnchorBank.from_pool`` from ``write_synthetic_faces`` images (coloured blobs)
  with a random-weight tiny CLIP: its contact sheet;
* a training report from synthetic per-epoch histories (3 seeds) and a synthetic confusion matrix.
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from vega_anchors import AnchorBank, plots
from vega_anchors.anchors.pools import read_image_folder_pool
from vega_anchors.encoders import OpenCLIPImageEncoder
from vega_anchors.labels import EMOTION_LABELS
from vega_anchors.run_report import RunData, write_report
from vega_anchors.toy import register_tiny_clip, write_synthetic_faces

CLASSES = list(EMOTION_LABELS["iemocap"])


def synthetic_bank(seed: int = 0, dim: int = 64, per_class: int = 35) -> AnchorBank:
    """Gaussian clusters around a shared offset (like CLIP's common component); frustration ≈ anger."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(dim, generator=g) * 4
    centres = torch.randn(len(CLASSES), dim, generator=g) * 2
    centres[CLASSES.index("frustration")] = centres[CLASSES.index("anger")] + 0.3 * torch.randn(dim, generator=g)
    return AnchorBank.from_features(
        {name: base + centres[i] + torch.randn(per_class, dim, generator=g) for i, name in enumerate(CLASSES)}
    )


def synthetic_run(bank: AnchorBank, epochs: int = 30, seeds: int = 3) -> RunData:
    """Per-epoch histories shaped like fit's log, and a confusion matrix, all made up."""
    histories = {}
    for seed in range(seeds):
        g = torch.Generator().manual_seed(seed)

        def noise(scale: float = 0.05, g: torch.Generator = g) -> float:
            return float(torch.rand(1, generator=g)) * scale

        rows, best, best_f1 = [], 1, -1.0
        for e in range(1, epochs + 1):
            f1 = 0.62 - 0.3 * 0.88**e + noise()
            if f1 > best_f1:
                best, best_f1 = e, f1
            rows.append(
                {
                    "epoch": e,
                    "train_loss": {
                        "total": 2.5 * 0.93**e + noise(),
                        "cls": 1.6 * 0.93**e + noise(),
                        "cls_kl": 0.2 * 0.95**e + noise(0.01),
                        "anchor": 0.6 * 0.92**e + noise(),
                        "anchor_kl": 0.1 * 0.95**e + noise(0.01),
                    },
                    "dev_loss": 1.9 * 0.96**e + noise(),
                    "dev_weighted_f1": f1,
                    "lr": 1e-4 * (0.5 + 0.5 * math.cos(math.pi * e / epochs)),
                    "best_epoch": best,
                }
            )
        histories[f"seed {seed}"] = rows
    confusion = [
        [100, 10, 20, 3, 30, 5],
        [8, 150, 40, 5, 2, 40],
        [20, 30, 250, 15, 20, 50],
        [2, 5, 20, 110, 3, 30],
        [40, 2, 20, 2, 220, 15],
        [5, 30, 60, 50, 10, 230],
    ]
    per_class = []
    for i, name in enumerate(CLASSES):
        true, predicted = sum(confusion[i]), sum(row[i] for row in confusion)
        per_class.append({"class": name, "support": true, "f1": 2 * confusion[i][i] / (true + predicted)})
    return RunData(
        title="Example report (synthetic data)",
        histories=histories,
        class_names=CLASSES,
        confusion=confusion,
        per_class=per_class,
        bank=bank,
    )


def main(out: str | Path) -> list[Path]:
    """Write the docs pictures into ``out`` and return their paths."""
    out = Path(out)
    bank = synthetic_bank()
    print(bank.diagnostics().format())
    written = [
        plots.plot_center_heatmap(bank, out / "anchors_heatmap.png", dpi=70),
        plots.plot_projection(bank, out / "anchors_projection.png", dpi=70),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        faces = write_synthetic_faces(Path(tmp) / "faces", CLASSES, per_class=12, size=64)
        torch.manual_seed(0)  # the tiny CLIP's random weights
        encoder = OpenCLIPImageEncoder(register_tiny_clip(), pretrained=None, device="cpu", progress=False)
        chosen = AnchorBank.from_pool(read_image_folder_pool(faces), encoder, CLASSES, per_class=6, select="typical")
        written.append(
            plots.plot_contact_sheet(chosen, out / "anchors_contact_sheet.png", max_per_class=6, thumb=40, dpi=70)
        )
        write_report(synthetic_run(bank), Path(tmp) / "report")
        for name in ("loss.png", "selection_f1.png", "confusion.png", "per_class_f1.png"):
            written.append(Path(shutil.copy(Path(tmp) / "report" / name, out / f"report_{name}")))
    return written


if __name__ == "__main__":
    for path in main(sys.argv[1] if len(sys.argv) > 1 else "docs/images"):
        print(path)
