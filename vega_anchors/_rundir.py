"""The one reader and writer of a run directory's files (``vega-anchors train`` and ``baseline`` write
them, ``evaluate``, ``predict`` and ``report`` read them)::

    RUN_DIR/
      config.json                 the run's settings (train runs)
      metrics.json                scores: mean ± std over seeds, and per seed
      per_class.csv               class, support, precision, recall, f1 (test, mean over seeds)
      anchors.safetensors         the AnchorBank, when the run has anchors
      seed-<s>/history.json       fit's per-epoch log
      seed-<s>/best.pt, last.pt   fit's checkpoints
      feature_recipe.json         how the training store was built (FeatureRecipe; train runs)
      COMPLETE                    written last by train: a folder without it did not finish
      seed-<s>/model.safetensors  the selected weights alone, in a shared run (vega_anchors.hub)

JSON is written atomically (arrays via ``tolist()``); a file that is not valid JSON is an error naming it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._io import atomic_write_text

__all__ = ["RunFiles", "per_class_csv", "read_history", "read_json", "write_json"]


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=1, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; invalid JSON is a ``ValueError`` naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); re-create it or leave it out") from err


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """Read a fit log (``TrainConfig.log_path``): a JSON list of per-epoch records with an ``epoch`` key."""
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(r, dict) and "epoch" in r for r in data):
        raise ValueError(f"{path} is not a fit log: expected a JSON list of per-epoch records with an 'epoch' key")
    return data


def per_class_csv(per_seed: Sequence[Mapping[str, Any]], class_names: Sequence[str]) -> str:
    """``class, support, precision, recall, f1`` per class, mean over seeds (from ``to_dict()`` records)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "support", "precision", "recall", "f1"])
    for i, name in enumerate(class_names):
        means = (
            f"{statistics.mean(float(r[key][i]) for r in per_seed):.6f}" if per_seed else ""
            for key in ("precision", "recall", "f1")
        )
        writer.writerow([name, int(per_seed[0]["support"][i]) if per_seed else 0, *means])
    return buffer.getvalue()


class RunFiles:
    """The files of the run directory ``root``: their paths, and reading and writing them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.json"
        self.metrics = self.root / "metrics.json"
        self.per_class = self.root / "per_class.csv"
        self.anchors = self.root / "anchors.safetensors"
        self.feature_recipe = self.root / "feature_recipe.json"
        self.complete = self.root / "COMPLETE"

    def seed_dir(self, seed: int) -> Path:
        """``seed-<s>/``: the seed's history and checkpoints."""
        return self.root / f"seed-{seed}"

    def history(self, seed: int) -> Path:
        return self.seed_dir(seed) / "history.json"

    def best(self, seed: int) -> Path:
        return self.seed_dir(seed) / "best.pt"

    def weights(self, seed: int) -> Path:
        """``seed-<s>/model.safetensors``: the seed's selected weights in a shared run (no ``best.pt``)."""
        return self.seed_dir(seed) / "model.safetensors"

    def write_config(self, config: Mapping[str, Any]) -> Path:
        return write_json(self.config, dict(config))

    def read_config(self) -> dict[str, Any] | None:
        """``config.json``, or None when absent."""
        return read_json(self.config) if self.config.is_file() else None

    def write_metrics(self, metrics: Mapping[str, Any], per_class: Sequence[Mapping[str, Any]]) -> Path:
        """Write ``metrics.json`` and ``per_class.csv`` (the mean of ``per_class``, ``to_dict()`` records)."""
        write_json(self.metrics, dict(metrics))
        atomic_write_text(self.per_class, per_class_csv(per_class, list(metrics["class_names"])))
        return self.metrics

    def read_metrics(self) -> dict[str, Any] | None:
        """``metrics.json``, or None when absent."""
        return read_json(self.metrics) if self.metrics.is_file() else None

    def read_per_class(self) -> list[dict[str, Any]] | None:
        """The rows of ``per_class.csv`` (``class`` a string, the rest floats), or None when absent."""
        if not self.per_class.is_file():
            return None
        with self.per_class.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        out = []
        for row in rows:
            if "class" not in row or "f1" not in row:
                raise ValueError(
                    f"{self.per_class}: expected columns class, support, precision, recall, f1; got {list(row)}"
                )
            out.append({k: (row[k] if k == "class" else float(row[k])) for k in row if row[k] not in (None, "")})
        return out

    def histories(self) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
        """``{"seed <s>": (path, history)}`` in seed order; a lone ``history.json`` at the root is ``"run"``."""

        def seed_key(p: Path) -> tuple[int, str]:
            m = re.fullmatch(r"seed-(-?\d+)", p.parent.name)
            return (int(m.group(1)) if m else 0, p.parent.name)

        found = {
            path.parent.name.replace("-", " "): (path, read_history(path))
            for path in sorted(self.root.glob("seed-*/history.json"), key=seed_key)
        }
        if not found and (self.root / "history.json").is_file():
            found["run"] = (self.root / "history.json", read_history(self.root / "history.json"))
        return found
