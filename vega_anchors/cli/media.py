"""``build-features`` media flags: audio and visual features from utterance clips.

``vega-anchors build-features --train T --dev D --test T2 --encoder E --out F.safetensors
--media-layout meld|iemocap|manifest --media-dir DIR --audio opensmile:IS10
--visual clip-face:ViT-B-32-quickgelu:openai`` adds ``audio`` and ``visual`` modalities to the text
ones (``--encoder none``: media features alone). Features are cached per utterance under
``--cache-dir``/media (default ``<out>.media-cache/``), so an interrupted run resumes and a repeated
run decodes nothing.
"""

from __future__ import annotations

import argparse

from ..features import MediaOptions

__all__ = ["add_media_arguments", "media_options"]


def add_media_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the media flags (``--media-layout``, ``--media-dir``, ``--audio``, ``--visual``...) to ``parser``."""
    group = parser.add_argument_group("media (audio/visual features from utterance clips; extra vega-anchors[media])")
    group.add_argument(
        "--media-layout",
        choices=["meld", "iemocap", "manifest"],
        default=None,
        help="meld: DIR/train_splits/dia{D}_utt{U}.mp4 ...; iemocap: DIR/Session*/dialog/...; "
        "manifest: DIR is a CSV/JSONL with dialogue, utterance, path[, start, end, split]",
    )
    group.add_argument("--media-dir", default=None, help="the media folder (or the manifest file)")
    group.add_argument(
        "--audio",
        default=None,
        help="audio extractor: opensmile:<set> (IS09..IS13, eGeMAPSv02, ComParE_2016, emobase; extra "
        "vega-anchors[smile], research/non-commercial licence) or hf:<local dir or hub name> (wav2vec2/HuBERT/WavLM)",
    )
    group.add_argument(
        "--audio-layers",
        type=int,
        nargs="+",
        default=None,
        help="hf: audio encoders: mean-pool these hidden layers and concatenate them (default: the last)",
    )
    group.add_argument(
        "--visual",
        default=None,
        help="visual extractor: clip-face:<open_clip model>[:<pretrained>], e.g. clip-face:ViT-B-32-quickgelu:openai "
        "(the anchors' CLIP: visual features land in the anchors' space)",
    )
    group.add_argument("--num-frames", type=int, default=8, help="frames sampled uniformly per utterance")
    group.add_argument(
        "--visual-pooling", choices=["mean", "mean+std"], default="mean", help="pooling of the frames' features"
    )
    group.add_argument("--face-margin", type=float, default=0.2, help="crop margin around a face (fraction of size)")
    group.add_argument(
        "--no-face",
        choices=["frame", "mask"],
        default="frame",
        help="an utterance without any detected face: encode its whole frames, or mask it",
    )
    group.add_argument(
        "--media-missing",
        choices=["error", "mask"],
        default="error",
        help="table rows without media, media without rows and undecodable files: one error listing them, "
        "or fill with the training mean, mask and count them (in the report)",
    )
    group.add_argument("--num-workers", type=int, default=0, help="decoding workers (0: in the main process)")


def media_options(args: argparse.Namespace) -> MediaOptions | None:
    """The :class:`~vega_anchors.features.MediaOptions` the media flags ask for; ``None`` without
    ``--audio``/``--visual``. Flag combinations that cannot work raise, naming the flags."""
    if not args.audio and not args.visual:
        if args.media_layout or args.media_dir:
            raise ValueError("--media-layout/--media-dir given without --audio or --visual: nothing to extract")
        return None
    if not args.media_layout or not args.media_dir:
        raise ValueError("--audio/--visual need --media-layout (meld, iemocap or manifest) and --media-dir")
    return MediaOptions(
        layout=args.media_layout,
        directory=args.media_dir,
        audio=args.audio,
        audio_layers=args.audio_layers,
        visual=args.visual,
        num_frames=args.num_frames,
        visual_pooling=args.visual_pooling,
        face_margin=args.face_margin,
        no_face=args.no_face,
        missing=args.media_missing,
        num_workers=args.num_workers,
    )
