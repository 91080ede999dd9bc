"""Dialogue tables (and clips) → a feature store: the library behind ``vega-anchors build-features``.

:func:`build_features` reads the split tables with one label set, fits the speaker ids on train, embeds
the text with a sentence encoder (cached), extracts audio/visual features from the clips when
:class:`MediaOptions` are given (cached per utterance), and returns the :class:`FeatureSet`, written
atomically to ``out`` when given. :func:`~vega_anchors.runs.train_run` trains on the result.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .data.assembly import build_feature_set
from .data.speakers import SpeakerMap
from .data.tables import DialogueTable, TableColumns, load_dialogue_tables
from .data.text import embed_tables
from .data.types import FeatureSet
from .distributed import default_device, rank_and_world, sync_errors, world_size
from .errors import ConfigError

__all__ = ["MediaOptions", "build_features"]

logger = logging.getLogger(__name__)

Splits = dict[str, dict[str, Any]]  # {split: {dialogue id: [T, D]}}


@dataclass(frozen=True)
class MediaOptions:
    """Audio and/or visual features from utterance clips (extra ``vega-anchors[media]``).

    Args:
        layout: ``"meld"`` (``DIR/train_splits/dia{D}_utt{U}.mp4`` ...), ``"iemocap"`` or ``"manifest"``
            (``directory`` is a CSV/JSONL with dialogue, utterance, path[, start, end, split]).
        directory: the media folder (or the manifest file).
        audio: ``"opensmile:<set>"`` or ``"hf:<model>"`` (:func:`~vega_anchors.encoders.load_audio_extractor`).
        audio_layers: hidden layers of an ``hf:`` audio model (default: the last).
        visual: ``"clip-face:<open_clip model>[:<pretrained>]"`` (:func:`~vega_anchors.media.load_visual_extractor`).
        num_frames: frames sampled uniformly per utterance.
        visual_pooling: ``"mean"`` or ``"mean+std"`` over the frames.
        face_margin: crop margin around a face (fraction of its size).
        no_face: an utterance without a face: encode its whole ``"frame"``\\ s, or ``"mask"`` it.
        missing: rows without media (and media without rows): ``"error"`` or ``"mask"`` them.
        num_workers: decoding workers (0: in the main process).
    """

    layout: Literal["meld", "iemocap", "manifest"]
    directory: str | os.PathLike[str]
    audio: str | None = None
    audio_layers: Sequence[int] | None = None
    visual: str | None = None
    num_frames: int = 8
    visual_pooling: Literal["mean", "mean+std"] = "mean"
    face_margin: float = 0.2
    no_face: Literal["frame", "mask"] = "frame"
    missing: Literal["error", "mask"] = "error"
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not self.audio and not self.visual:
            raise ConfigError("MediaOptions without audio or visual: nothing to extract",
                              python_fix="pass audio='opensmile:IS10' and/or visual='clip-face:<model>:<pretrained>'",
                              cli_fix="add --audio and/or --visual")  # fmt: skip
        if self.num_frames < 1 or self.num_workers < 0:
            raise ConfigError(f"num_frames={self.num_frames}, num_workers={self.num_workers}",
                              python_fix="pass num_frames >= 1 and num_workers >= 0",
                              cli_fix="give --num-frames >= 1 and --num-workers >= 0")  # fmt: skip


def build_features(
    tables: Mapping[str, str | os.PathLike[str] | None],
    *,
    encoder: str | os.PathLike[str] | None,
    columns: TableColumns | None = None,
    labels: str | Sequence[str] = "meld",
    label_map: Mapping[str, str] | None = None,
    encoding: str = "utf-8-sig",
    delimiter: str | None = None,
    speaker_multi: Literal["first", "joined"] = "first",
    top_speakers: int = 8,
    speaker_mode: Literal["global", "per_dialogue"] = "global",
    layers: Sequence[int] | None = None,
    context: int | None = None,
    media: MediaOptions | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    out: str | os.PathLike[str] | None = None,
) -> FeatureSet:
    """Dialogue tables → text (and media) features → a :class:`FeatureSet`.

    Args:
        tables: ``{"train": path, "dev": path, "test": path}`` (CSV/TSV/JSONL; ``None`` paths skipped).
        encoder: sentence-transformers / Hugging Face model name or path; ``None``: media features only.
        columns: the tables' column layout (default: MELD's).
        labels: ``"auto"`` (the sorted raw training labels, never merged), ``"meld"``, ``"iemocap"`` (named
            sets: aliases such as ``joy`` → ``happy`` apply) or the class names (raw labels as written).
        label_map: raw label → class (``{"joy": "happy"}``), the one way to merge labels otherwise.
        encoding, delimiter, speaker_multi: passed to :func:`~vega_anchors.data.load_dialogue_table`.
        top_speakers, speaker_mode: :meth:`~vega_anchors.data.SpeakerMap.fit` on the training table.
        layers: hidden layers to mean-pool and concatenate (transformers backend); default: the
            model's sentence embedding.
        context: preceding turns per utterance; ``None``: 0, or a ``finetune-text`` directory's own.
        media: audio/visual extraction from clips (:class:`MediaOptions`).
        cache_dir: embedding cache; media features go to ``cache_dir/media`` (default without it:
            ``<out>.text-cache`` and ``<out>.media-cache``, or no cache when ``out`` is None). An
            interrupted build keeps its encoded batches there and a re-run continues from them.
        device, batch_size, progress: for the encoders.
        out: when given, the store is written there atomically (``.safetensors``).

    Under ``torch.distributed`` (``torchrun``) every rank calls this alike and encodes its share of the
    batches into the caches (readable by all ranks; whole entries, so after a rank dies the same call
    finishes the job); rank 0 writes ``out``, bit-identical to a one-process build.

    Returns:
        The feature set; ``extras["encoder"]`` records the text encoder (:func:`~vega_anchors.encoders.encoder_info`),
        ``extras["media"]`` the media extraction and ``extras["tables"]`` what reading each table found
        (counts, turn order, raw label → class; ``counts["truncated"]``: utterances longer than the
        text encoder's token limit, ``truncation_limit``).
    """
    read = load_dialogue_tables(
        tables, columns=columns, label_names=labels, encoding=encoding, delimiter=delimiter,
        speaker_multi=speaker_multi, label_map=label_map,
    )  # fmt: skip
    rank, world, device = _start(encoder, media, device)
    speakers = SpeakerMap.fit(read["train"], top_n=top_speakers, mode=speaker_mode)
    text_encoder = _load_text_encoder(encoder, layers, device) if encoder is not None else None  # None: finetuned
    extract = _media_extractor(read, media, cache_dir=_media_cache(cache_dir, out), device=device) if media else None
    text_args = {"batch_size": batch_size, "cache_dir": _text_cache(cache_dir, out, world), "progress": progress,
                 "context": context or 0}  # fmt: skip
    if world > 1:  # every rank extracts its share into the caches; then each reads them all
        _extract_share(read, text_encoder, text_args, extract, shard=(rank, world), progress=progress)
    modalities: dict[str, Splits] = {}
    extras: dict[str, Any] = {}
    truncated: dict[str, tuple[int, int | None]] = {}
    if encoder is not None:
        modalities["text"], extras["encoder"], truncated = _text_features(
            read, encoder, text_encoder, text_args, layers=layers, context=context, device=device
        )
    if extract is not None:
        result = extract(progress=progress and world == 1)
        modalities.update(result.features)
        extras["media"] = result.extras()
    features = build_feature_set(read, modalities, speakers)
    features.extras.update(extras)
    _record_truncated(features, truncated)
    _write(features, out, rank)
    return features


def _write(features: FeatureSet, out: str | os.PathLike[str] | None, rank: int) -> None:
    """Rank 0 writes the store (atomically); under ``torch.distributed`` no rank leaves before it is written."""
    if out is not None and rank == 0:
        from .data.store import save_features

        save_features(features, out)
        logger.info("wrote %s", out)
    sync_errors(what="writing the store")


def _start(encoder: Any, media: MediaOptions | None, device: str | None) -> tuple[int, int, str | None]:
    """``(rank, world, device)``: refuse a build with no modality; several processes wait for each other
    here (and get this rank's GPU when no device is given)."""
    if encoder is None and media is None:
        raise ConfigError("no text encoder and no media options: there is no modality to build",
                          python_fix="pass encoder=NAME_OR_PATH and/or media=MediaOptions(...)",
                          cli_fix="--encoder none without --audio/--visual builds nothing; give --encoder "
                          "NAME_OR_PATH, or --audio/--visual")  # fmt: skip
    rank, world = rank_and_world()
    if world > 1:
        device = device if device is not None else str(default_device())  # LOCAL_RANK's GPU, or the CPU
        sync_errors(what="starting the build")  # all ranks here: the long-timeout CPU group is made now
    return rank, world, device


def _extract_share(
    tables: Mapping[str, DialogueTable],
    text_encoder: Any,
    text_args: Mapping[str, Any],
    extract: Callable[..., Any] | None,
    *,
    shard: tuple[int, int],
    progress: bool,
) -> None:
    """This rank's share of the text batches and media utterances, into the caches; then wait for every
    rank (an error on any rank is raised on all of them)."""
    error = None
    try:
        if text_encoder is not None:
            embed_tables(tables, text_encoder, **text_args, shard=shard)
        if extract is not None:
            extract(progress=progress, shard=shard)
    except Exception as err:  # reported on every rank, so none waits forever
        error = err
    sync_errors(error, what="feature extraction")


def _load_text_encoder(name: str | os.PathLike[str], layers: Sequence[int] | None, device: str | None) -> Any:
    """The text encoder ``name`` names; ``None`` for a ``finetune-text`` directory (:func:`_finetuned_text`
    embeds with its own fold encoders)."""
    from .encoders.text import load_text_encoder
    from .finetune import is_finetuned

    if is_finetuned(name):
        return None
    options = {"layers": layers} if layers else {}
    return load_text_encoder(name, device=device, **options)


def _text_features(
    tables: Mapping[str, DialogueTable],
    name: str | os.PathLike[str],
    text_encoder: Any,
    text_args: Mapping[str, Any],
    *,
    layers: Sequence[int] | None,
    context: int | None,
    device: str | None,
) -> tuple[Splits, dict[str, Any], dict[str, tuple[int, int | None]]]:
    """``({split: {dialogue: [T, D]}}, encoder record, {split: (truncated, token limit)})`` of the text of
    every utterance (read from the caches a shared build filled)."""
    if text_encoder is None:  # a finetune-text directory: not shared between processes, each rank embeds all
        return _finetuned_text(tables, name, layers=layers, context=context, batch_size=text_args["batch_size"],
                               device=device, progress=text_args["progress"])  # fmt: skip
    from .encoders.text import encoder_info

    text = embed_tables(tables, text_encoder, **text_args)
    truncated = {split: _truncated(text_encoder, table.texts()) for split, table in tables.items()}
    return text, encoder_info(text_encoder, context=text_args["context"]), truncated


def _finetuned_text(
    tables: Mapping[str, DialogueTable], name: str | os.PathLike[str], *, layers: Sequence[int] | None,
    context: int | None, batch_size: int, device: str | None, progress: bool,
) -> tuple[Splits, dict[str, Any], dict[str, tuple[int, int | None]]]:
    """:func:`_text_features` for a ``finetune-text`` directory (:func:`~vega_anchors.finetune.embed_finetuned`:
    its own input layout and recorded context, fold encoders for the training split)."""
    from types import SimpleNamespace

    from .finetune import embed_finetuned, load_tokenizer, read_provenance

    text, info = embed_finetuned(
        tables, name, layers=layers or (-1,), context=context, batch_size=batch_size, device=device, progress=progress
    )
    probe = SimpleNamespace(tokenizer=load_tokenizer(name), max_length=int((read_provenance(name) or {})["max_length"]))
    return text, info, {split: _truncated(probe, table.texts()) for split, table in tables.items()}




def _record_truncated(features: FeatureSet, truncated: Mapping[str, tuple[int, int | None]]) -> None:
    """Add the truncated-utterance counts to ``extras["tables"]`` (``counts["truncated"]``, ``truncation_limit``)."""
    for split, (count, limit) in truncated.items():
        features.extras["tables"][split]["counts"]["truncated"] = count
        features.extras["tables"][split]["truncation_limit"] = limit


def _truncated(encoder: Any, texts: list[str]) -> tuple[int, int | None]:
    """``(count, limit)``: utterances longer than the encoder's token limit, tokenized exactly (``(0, None)``
    when the encoder exposes no tokenizer and limit)."""
    model = getattr(encoder, "model", None)
    tokenizer = getattr(encoder, "tokenizer", None) or getattr(model, "tokenizer", None)
    limit = getattr(encoder, "max_length", None) or getattr(model, "max_seq_length", None)
    if tokenizer is None or not isinstance(limit, int):
        return 0, None
    long = [t for t in texts if len(t) > limit // 2]  # shorter texts cannot reach the limit
    if not long:
        return 0, limit
    encoded = tokenizer(long, add_special_tokens=True, truncation=False, verbose=False)  # counting only
    return sum(len(ids) > limit for ids in encoded["input_ids"]), limit


def _default_cache(out: str | os.PathLike[str] | None, suffix: str) -> str | None:
    """``<out without suffix>.<suffix>`` beside the store, or None without ``out``."""
    return f"{Path(out).with_suffix('')}.{suffix}" if out is not None else None


def _text_cache(
    cache_dir: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None, world: int
) -> str | os.PathLike[str] | None:
    """The text embedding cache: ``cache_dir``, else ``<out>.text-cache``; a build shared by processes
    without either is refused (they exchange embeddings through it)."""
    text_cache = cache_dir if cache_dir is not None else _default_cache(out, "text-cache")
    if text_cache is None and world > 1:
        raise ConfigError(
            f"a build shared by {world} processes exchanges features through a cache folder, and there is none",
            python_fix="pass cache_dir= a folder every process can read (a shared file system across machines)",
            cli_fix="give --cache-dir DIR (on a shared file system across machines)",
        )
    return text_cache


def _media_cache(cache_dir: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None) -> str | None:
    if cache_dir is not None:
        return str(Path(cache_dir) / "media")
    return f"{Path(out).with_suffix('')}.media-cache" if out is not None else None


def _media_extractor(
    tables: Mapping[str, DialogueTable],
    media: MediaOptions,
    *,
    cache_dir: str | None,
    device: str | None,
) -> Callable[..., Any]:
    """The loaded extractors of ``media``, as ``extract(progress=..., shard=None)`` →
    :func:`~vega_anchors.media.extract_media_features` over the clips ``media`` describes."""
    from .encoders.audio import load_audio_extractor
    from .media.extract import extract_media_features
    from .media.sources import discover_media
    from .media.visual import load_visual_extractor

    if cache_dir is None and world_size() > 1:
        raise ConfigError("a shared build needs a media cache folder", python_fix="pass cache_dir= or out=",
                          cli_fix="give --cache-dir DIR")  # fmt: skip
    items = discover_media(media.layout, media.directory, tuple(tables))
    audio = load_audio_extractor(media.audio, device=device, layers=media.audio_layers) if media.audio else None
    visual = None
    if media.visual:
        visual = load_visual_extractor(
            media.visual, device=device, pooling=media.visual_pooling, no_face=media.no_face, margin=media.face_margin
        )
    return functools.partial(
        extract_media_features, tables, items, audio=audio, visual=visual, cache_dir=cache_dir,
        num_frames=media.num_frames, num_workers=media.num_workers, missing=media.missing,
    )  # fmt: skip
