"""Dialogue tables (and clips) → a feature store: the library behind ``vega-anchors build-features``.

:func:`build_features` reads the split tables with one label set, fits the speaker ids on train, embeds
the text with a sentence encoder (cached), extracts audio/visual features from the clips when
:class:`MediaOptions` are given (cached per utterance), and returns the :class:`FeatureSet`, written
atomically to ``out`` when given. :func:`~vega_anchors.runs.train_run` trains on the result.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .data.assembly import build_feature_set
from .data.speakers import SpeakerMap
from .data.tables import DialogueTable, TableColumns, load_dialogue_tables
from .data.types import FeatureSet
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
    if encoder is None and media is None:
        raise ConfigError("no text encoder and no media options: there is no modality to build",
                          python_fix="pass encoder=NAME_OR_PATH and/or media=MediaOptions(...)",
                          cli_fix="--encoder none without --audio/--visual builds nothing; give --encoder "
                          "NAME_OR_PATH, or --audio/--visual")  # fmt: skip
    speakers = SpeakerMap.fit(read["train"], top_n=top_speakers, mode=speaker_mode)
    modalities: dict[str, Splits] = {}
    extras: dict[str, Any] = {}
    truncated: dict[str, tuple[int, int | None]] = {}
    if encoder is not None:
        text_cache = cache_dir if cache_dir is not None else _default_cache(out, "text-cache")
        modalities["text"], extras["encoder"], truncated = _text_modality(
            read, encoder, layers=layers, context=context, cache_dir=text_cache, device=device,
            batch_size=batch_size, progress=progress,
        )  # fmt: skip
    if media is not None:
        media_cache = _media_cache(cache_dir, out)
        found, extras["media"] = _media_modalities(read, media, cache_dir=media_cache, device=device, progress=progress)
        modalities.update(found)
    features = build_feature_set(read, modalities, speakers)
    features.extras.update(extras)
    _record_truncated(features, truncated)
    if out is not None:
        from .data.store import save_features

        save_features(features, out)
        logger.info("wrote %s", out)
    return features


def _text_modality(
    tables: Mapping[str, DialogueTable],
    name: str | os.PathLike[str],
    *,
    layers: Sequence[int] | None,
    context: int | None,
    cache_dir: str | os.PathLike[str] | None,
    device: str | None,
    batch_size: int,
    progress: bool,
) -> tuple[Splits, dict[str, Any], dict[str, tuple[int, int | None]]]:
    """``({split: {dialogue: [T, D]}}, encoder record, {split: (truncated, token limit)})`` of the text of
    every utterance."""
    from .finetune import is_finetuned

    if is_finetuned(name):  # a finetune-text directory: its own context layout and fold encoders
        return _finetuned_text(tables, name, layers=layers, context=context, batch_size=batch_size, device=device,
                               progress=progress)  # fmt: skip
    from .data.text import embed_tables
    from .encoders.text import encoder_info, load_text_encoder

    context = context or 0
    options = {"layers": layers} if layers else {}
    encoder = load_text_encoder(name, device=device, **options)
    text = embed_tables(
        tables, encoder, batch_size=batch_size, cache_dir=cache_dir, progress=progress, context=context
    )
    truncated = {split: _truncated(encoder, table.texts()) for split, table in tables.items()}
    return text, encoder_info(encoder, context=context), truncated


def _finetuned_text(
    tables: Mapping[str, DialogueTable], name: str | os.PathLike[str], *, layers: Sequence[int] | None,
    context: int | None, batch_size: int, device: str | None, progress: bool,
) -> tuple[Splits, dict[str, Any], dict[str, tuple[int, int | None]]]:
    """:func:`_text_modality` for a ``finetune-text`` directory (:func:`~vega_anchors.finetune.embed_finetuned`:
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


def _media_cache(cache_dir: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None) -> str | None:
    if cache_dir is not None:
        return str(Path(cache_dir) / "media")
    return f"{Path(out).with_suffix('')}.media-cache" if out is not None else None


def _media_modalities(
    tables: Mapping[str, DialogueTable],
    media: MediaOptions,
    *,
    cache_dir: str | None,
    device: str | None,
    progress: bool,
) -> tuple[dict[str, Splits], dict[str, Any]]:
    """``({modality: {split: {dialogue: [T, D]}}}, media extras)`` from the clips ``media`` describes."""
    from .encoders.audio import load_audio_extractor
    from .media.extract import extract_media_features
    from .media.sources import discover_media
    from .media.visual import load_visual_extractor

    items = discover_media(media.layout, media.directory, tuple(tables))
    audio = load_audio_extractor(media.audio, device=device, layers=media.audio_layers) if media.audio else None
    visual = None
    if media.visual:
        visual = load_visual_extractor(
            media.visual, device=device, pooling=media.visual_pooling, no_face=media.no_face, margin=media.face_margin
        )
    result = extract_media_features(
        tables, items, audio=audio, visual=visual, cache_dir=cache_dir, num_frames=media.num_frames,
        num_workers=media.num_workers, missing=media.missing, progress=progress,
    )  # fmt: skip
    return result.features, result.extras()
