"""``python -m vega_anchors.bench``: the benchmark command line. Only this module prints."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..distributed import PRECISIONS
from ._measure import Record, environment, gemm_peak
from .workloads import IEMOCAP_LENGTHS, ModelShape, bench_anchors, bench_epoch, bench_overhead, bench_train_step

__all__ = ["main"]

_DESCRIPTION = (
    "Benchmarks: python -m vega_anchors.bench "
    "{train-step,overhead,epoch,anchors,media,features,compare,finetune,annotate,all}."
)


# ---- CLI -----------------------------------------------------------------------------------------
def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per mode (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before timing")


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden-dim", type=int, default=768)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--anchors-per-class", type=int, default=35)


def _anchor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", default=None, help="root/<class>/*.jpg; default: synthetic 320² JPEGs")
    parser.add_argument("--model-name", default="ViT-B-32", help="open_clip architecture (random weights)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=35, help="synthetic images per class")
    parser.add_argument("--image-size", type=int, default=320, help="synthetic image side")
    parser.add_argument("--max-images", type=int, default=None, help="time encoder(first N images) instead")


def _features_parser(sub: Any) -> None:
    """``features``: build_features shared by N processes vs one."""
    p = sub.add_parser("features", help="build_features shared by N processes (gloo) vs one: wall time")
    p.add_argument("--ranks", type=_ints, default=[1, 2], help="comma list of process counts, e.g. 1,2")
    p.add_argument("--dialogues", type=int, default=4, help="generated dialogues per split")
    p.add_argument("--utterances", type=int, default=3, help="clips per dialogue")
    p.add_argument("--encoder", default=None, help="text encoder path (default: none, media only)")
    p.add_argument("--audio", default="opensmile:IS09")
    p.add_argument("--visual", default="clip-face:ViT-B-32-quickgelu", help="random weights; 'none': no visual")
    p.add_argument("--num-frames", type=int, default=4)
    _common(p)  # --threads: torch threads per process (default 1 here)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vega_anchors.bench", description=_DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train-step", help="one AdamW step, IEMOCAP shapes")
    p.add_argument("--mode", choices=PRECISIONS, action="append", help="repeatable; default fp32")
    p.add_argument("--padded", action="store_true", help="the padded baseline path")
    p.add_argument("--compare", action="store_true", help="also time the other path (speedup_vs_padded)")
    p.add_argument("--lengths", type=_ints, default=list(IEMOCAP_LENGTHS))
    _model_options(p)
    _common(p)

    p = sub.add_parser("overhead", help="anchor branch + its losses vs the backbone alone; predict vs forward")
    p.add_argument("--mode", choices=PRECISIONS, default="fp32")
    p.add_argument("--lengths", type=_ints, default=list(IEMOCAP_LENGTHS))
    _model_options(p)
    _common(p)

    p = sub.add_parser("epoch", help="a training epoch on synthetic IEMOCAP")
    p.add_argument("--mode", choices=PRECISIONS, action="append", help="repeatable; default fp32, bf16")
    p.add_argument("--bucketed", action="store_true", help="also time fp32 with length-bucketed batches")
    p.add_argument("--padded", action="store_true", help="the padded baseline path")
    p.add_argument("--max-batches", type=int, default=None, help="time only the first N batches, extrapolate")
    p.add_argument("--num-dialogues", type=int, default=None, help="default 120 (the IEMOCAP train split)")
    p.add_argument("--batch-size", type=int, default=9)
    _model_options(p)
    _common(p)

    p = sub.add_parser("anchors", help="AnchorBank.from_image_folder with open_clip")
    p.add_argument(
        "--precision", choices=PRECISIONS, action="append",
        help="repeatable; default fp32. A low precision alone is compared with fp32 (images/s ratio, min cosine)",
    )  # fmt: skip
    p.add_argument("--num-workers", type=_ints, default=[0], help="comma list, e.g. 0,2")
    _anchor_options(p)
    _common(p)

    p = sub.add_parser("media", help="clips → audio/visual features: utterances/s per stage and end to end")
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--num-workers", type=_ints, default=[0, 1], help="comma list, e.g. 0,1")
    _common(p)

    _features_parser(sub)

    p = sub.add_parser("compare", help="compare's statistics on a MELD-test-sized synthetic split (seconds)")
    p.add_argument("--resamples", type=int, default=1000)
    _common(p)

    p = sub.add_parser("finetune", help="finetune-text: length-bucketed dynamic padding vs fixed-length padding")
    p.add_argument("--encoder", default=None, help="HF encoder directory; default: the offline all-MiniLM-L6-v2")
    p.add_argument("--train", default=None, help="a MELD-layout table for real utterances; default: generated")
    p.add_argument("--utterances", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--context", type=int, default=2)
    p.add_argument("--max-length", type=int, default=128)
    _common(p)
    p.set_defaults(repeats=3)

    p = sub.add_parser("annotate", help="vega-anchors annotate on a generated 60 s conversation (a subprocess)")
    p.add_argument("--clip", default="tiny", help="tiny (the test CLIP) or an open_clip architecture, e.g. ViT-B-32")
    p.add_argument("--turns", type=int, default=12, help="cues (5 s each; default 12 = a 60 s clip)")
    p.add_argument("--size", default="1280x720", help="video frame size WxH (default 1280x720)")
    p.add_argument("--audio", default="opensmile:IS10")
    p.add_argument("--encoder", default=None, help="text model directory (default: the offline all-MiniLM-L6-v2)")
    _common(p)

    p = sub.add_parser("all", help="every workload, side by side")
    p.add_argument("--lengths", type=_ints, default=list(IEMOCAP_LENGTHS))
    p.add_argument("--max-batches", type=int, default=None, help="epoch: time only the first N batches")
    p.add_argument("--num-dialogues", type=int, default=None)
    p.add_argument("--num-workers", type=_ints, default=[0, 2], help="anchors: comma list")
    p.add_argument("--skip", type=lambda s: s.split(","), default=[], help="e.g. epoch,anchors")
    _model_options(p)
    _anchor_options(p)
    _common(p)
    return parser


def _run(args: argparse.Namespace) -> Iterator[Record]:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    timing = {"repeats": args.repeats, "warmup": args.warmup, "device": device}
    model: dict[str, Any] = {}
    if hasattr(args, "hidden_dim"):
        model["shape"] = ModelShape(
            hidden_dim=args.hidden_dim, num_heads=args.num_heads, anchors_per_class=args.anchors_per_class
        )
    yield environment(device)
    cmd = args.command
    if cmd == "train-step":
        precisions = args.mode or ["fp32"]
        paths = ["-padded"] if args.padded else [""]
        if args.compare:
            paths = ["", "-padded"]
        modes = [p + s for p in precisions for s in paths]
        yield from bench_train_step(modes, lengths=args.lengths, **model, **timing)
    elif cmd == "overhead":
        yield from bench_overhead(precision=args.mode, lengths=args.lengths, **model, **timing)
    elif cmd == "epoch":
        modes = list(args.mode or ["fp32", "bf16"])
        if args.bucketed:
            modes.append("fp32-bucketed")
        yield from bench_epoch(
            modes, max_batches=args.max_batches, num_dialogues=args.num_dialogues, batch_size=args.batch_size,
            padded=args.padded, **model, **timing,
        )  # fmt: skip
    elif cmd == "anchors":
        yield from bench_anchors(
            args.images, precisions=args.precision or ["fp32"], num_workers=args.num_workers,
            model_name=args.model_name, batch_size=args.batch_size, per_class=args.per_class,
            image_size=args.image_size, max_images=args.max_images, **timing,
        )  # fmt: skip
    elif cmd == "media":
        from ..media.benchmark import bench_media  # needs vega-anchors[media]

        yield from bench_media(num_clips=args.clips, num_workers=args.num_workers, device=args.device)
    elif cmd == "features":
        from .parallel import bench_features

        yield from bench_features(
            ranks=args.ranks, dialogues=args.dialogues, utterances=args.utterances, encoder=args.encoder,
            audio=args.audio, visual=None if args.visual == "none" else args.visual, num_frames=args.num_frames,
            threads=args.threads or 1,
        )  # fmt: skip
    elif cmd == "compare":
        from ._compare import bench_compare

        yield from bench_compare(resamples=args.resamples, repeats=args.repeats)
    elif cmd == "finetune":
        from ._finetune import bench_finetune  # needs vega-anchors[text]

        yield from bench_finetune(
            args.encoder, train=args.train, num_utterances=args.utterances, batch_size=args.batch_size,
            context=args.context, max_length=args.max_length, **timing,
        )  # fmt: skip
    elif cmd == "annotate":
        from ..annotate.benchmark import bench_annotate  # needs vega-anchors[media,smile,text]

        width, height = (int(v) for v in args.size.lower().split("x"))
        yield from bench_annotate(turns=args.turns, width=width, height=height, clip=args.clip, audio=args.audio,
                                  threads=args.threads, encoder=args.encoder)  # fmt: skip
    elif cmd == "all":
        yield gemm_peak("fp32", device=device, repeats=args.repeats)
        yield gemm_peak("bf16", device=device, repeats=args.repeats)
        if "train-step" not in args.skip:
            yield from bench_train_step(("fp32", "fp32-padded", "bf16"), lengths=args.lengths, **model, **timing)
        if "overhead" not in args.skip:
            yield from bench_overhead(lengths=args.lengths, **model, **timing)
        if "epoch" not in args.skip:
            yield from bench_epoch(
                ("fp32", "bf16", "fp32-bucketed"), max_batches=args.max_batches, num_dialogues=args.num_dialogues,
                **model, **timing,
            )  # fmt: skip
        if "anchors" not in args.skip:
            yield from bench_anchors(
                args.images, precisions=("fp32", "bf16"), num_workers=args.num_workers, model_name=args.model_name,
                batch_size=args.batch_size, per_class=args.per_class, image_size=args.image_size,
                max_images=args.max_images, **timing,
            )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: prints one JSON line per result record."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    for record in _run(args):
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    return 0
