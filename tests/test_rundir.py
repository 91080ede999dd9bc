"""The one reader and writer of a run directory's files (``vega_anchors._rundir``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vega_anchors._rundir import RunFiles, read_history
from vega_anchors.metrics import compute_metrics, metrics_summary


def test_round_trip(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    names = ["a", "b", "c"]
    per_seed = [compute_metrics([0, 1, 2, 2], p, num_classes=3, class_names=names).to_dict()
                for p in ([0, 1, 2, 1], [0, 0, 2, 2])]  # fmt: skip
    metrics = {"kind": "train", "class_names": names, "test": metrics_summary(per_seed),
               "seeds": {"0": {"test": per_seed[0], "still_improving": True}}}  # fmt: skip
    files.write_config({"seeds": [0, 1], "class_names": names})
    files.write_metrics(metrics, per_seed)
    assert files.read_config() == {"seeds": [0, 1], "class_names": names}
    back = files.read_metrics()
    assert back is not None and back["seeds"]["0"]["still_improving"] is True
    assert back["test"] == pytest.approx(metrics["test"])
    rows = files.read_per_class()
    assert rows is not None and [r["class"] for r in rows] == names
    means = [(a + b) / 2 for a, b in zip(per_seed[0]["f1"], per_seed[1]["f1"], strict=True)]
    assert [r["f1"] for r in rows] == pytest.approx(means)
    assert [r["support"] for r in rows] == [1, 1, 2]
    for seed, history in ((10, [{"epoch": 1}]), (2, [{"epoch": 1}, {"epoch": 2}])):
        files.history(seed).parent.mkdir()
        files.history(seed).write_text(json.dumps(history))
    assert list(files.histories()) == ["seed 2", "seed 10"]  # seed order, not text order
    assert files.best(2) == tmp_path / "run" / "seed-2" / "best.pt"


def test_absent_and_broken_files(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    assert files.read_config() is None and files.read_metrics() is None and files.read_per_class() is None
    files.metrics.write_text("{not json")
    with pytest.raises(ValueError, match=r"metrics\.json is not valid JSON"):
        files.read_metrics()
    (tmp_path / "h.json").write_text(json.dumps({"epoch": 1}))
    with pytest.raises(ValueError, match="not a fit log"):
        read_history(tmp_path / "h.json")


def test_one_summary_for_one_or_many_seeds() -> None:
    one = compute_metrics([0, 1, 1], [0, 1, 0], num_classes=2)
    summary = metrics_summary([one])
    assert summary is not None and summary["weighted_f1"] == pytest.approx(one.weighted_f1)
    assert summary["weighted_f1_std"] == 0.0 and metrics_summary([]) is None
    two = metrics_summary([{"weighted_f1": 0.5, "accuracy": 0.5, "macro_f1": 0.4},
                           {"weighted_f1": 0.7, "accuracy": 0.5, "macro_f1": 0.4}])  # fmt: skip
    assert (
        two is not None
        and two["weighted_f1"] == pytest.approx(0.6)
        and two["weighted_f1_std"] == pytest.approx(0.1414, abs=1e-4)
    )
