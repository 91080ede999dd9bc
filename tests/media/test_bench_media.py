"""bench_media runs at tiny sizes and reports every stage (numbers are measured, not asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_bench_media_reports_each_stage(tiny_clip_model_name: str) -> None:
    pytest.importorskip("opensmile")
    from vega_anchors.media.benchmark import bench_media

    records = bench_media(num_clips=2, seconds=0.5, width=256, height=160, fps=10, num_frames=2,
                          audio="opensmile:eGeMAPSv02", model_name=tiny_clip_model_name)  # fmt: skip
    stages = [(r["stage"], r.get("num_workers")) for r in records]
    assert stages == [("decode", None), ("audio", None), ("face", None), ("clip", None),
                      ("end_to_end", 0), ("end_to_end", 1)]  # fmt: skip
    assert all(r["utterances_per_s"] > 0 and r["clips"] == 2 for r in records)
    assert records[2]["face_found"] == 2 and records[-1]["slowest_stage_ratio"] > 0


def test_importing_the_library_stays_light() -> None:
    code = (
        "import sys, vega_anchors, vega_anchors.media, vega_anchors.cli; "
        "heavy = [m for m in ('av', 'cv2', 'opensmile', 'soundfile', 'transformers') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
