"""``vega-anchors annotate VIDEO --transcript FILE --model RUN_DIR --out DIR [--transcribe hf:MODEL]``.

Rebuilds the features the run was trained on (text encoder, layers and context; audio extractor;
visual extractor and frame count) for each cue of the video, cached per utterance under
``--cache-dir`` (default ``DIR/.cache``), predicts each utterance's emotion with the run's models and
writes ``DIR/predictions.csv`` and ``DIR/index.html`` (atomically). Prints the time of each stage.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["register"]


def _annotate(args: argparse.Namespace) -> int:
    from ..annotate import EmotionPipeline, load_asr, probe_video, transcribe, write_annotation
    from ..errors import ConfigError
    from .runs import pretrained

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if bool(args.transcript) == bool(args.transcribe):
        raise ConfigError(
            "annotate needs the cues of the video: a transcript, or speech-to-text",
            python_fix="pass a transcript, or transcribe=",
            cli_fix="give exactly one of --transcript FILE and --transcribe hf:MODEL",
        )
    wall = time.perf_counter()
    out = Path(args.out)
    cache = Path(args.cache_dir) if args.cache_dir else out / ".cache"
    pipeline = EmotionPipeline.from_run(pretrained(args.model, "run"), device=args.device, cache_dir=cache)
    transcript = args.transcript
    asr_seconds = 0.0
    if args.transcribe:
        start = time.perf_counter()
        asr = load_asr(args.transcribe, device=args.device)
        transcript = transcribe(args.video, asr, duration=probe_video(args.video).duration, source=args.transcribe)
        asr_seconds = time.perf_counter() - start
    result = pipeline(args.video, transcript, progress=not args.quiet)
    start = time.perf_counter()
    written = write_annotation(result, out, copy_video=args.copy_video, model=str(args.model))
    timings = {**({"speech-to-text": asr_seconds} if args.transcribe else {}), **result.timings}
    timings["page"] = time.perf_counter() - start
    total = time.perf_counter() - wall
    if not result.transcript.has_speakers:
        print("note: the transcript names no speakers; all cues are treated as one speaker")
    print("stage times: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()) + f"; total {total:.2f} s")
    length = f" ({total / result.duration:.2f}x the video's {result.duration:.1f} s)" if result.duration else ""
    print(f"annotated {len(result.transcript)} utterances in {total:.1f} s{length}")
    print(f"wrote {written['predictions']} and {written['page']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``annotate`` to the ``vega-anchors`` command."""
    p = sub.add_parser("annotate", help="a conversation video + transcript → per-utterance emotions and an HTML page")
    p.add_argument("video", metavar="VIDEO", help="the conversation video (any format FFmpeg reads)")
    p.add_argument("--transcript", default=None, help="cues: .srt, .vtt (<v Speaker> tags), .csv/.jsonl "
                   "(start,end,speaker,text); a 'NAME:' prefix names the speaker")  # fmt: skip
    p.add_argument(
        "--transcribe",
        default=None,
        metavar="hf:MODEL",
        help="no transcript: speech-to-text with a transformers ASR model (timestamps; one speaker)",
    )
    p.add_argument(
        "--model", required=True, metavar="RUN_DIR",
        help="a run directory from vega-anchors train, or a Hub id owner/name (vega-anchors push)",
    )  # fmt: skip
    p.add_argument("--out", required=True, metavar="DIR", help="writes DIR/predictions.csv and DIR/index.html")
    p.add_argument("--cache-dir", default=None, help="per-utterance feature cache (default DIR/.cache)")
    p.add_argument("--copy-video", action="store_true", help="copy the video into DIR (default: a relative link)")
    p.add_argument("--device", default=None, help="torch device of the encoders (default: cpu / the library's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_annotate)
