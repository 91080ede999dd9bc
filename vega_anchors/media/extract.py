"""The extraction driver: tables + media → per-dialogue ``audio``/``visual`` feature arrays, cached.

Pipeline per run: pair table rows with media (:func:`~vega_anchors.media.sources.match_media`),
look every utterance up in the per-extractor cache, and decode only the misses — grouped by file
(each file opened once) in ``DataLoader`` workers, which also run the CPU stages (openSMILE, face
detection and cropping) — while the main process runs the model stages (CLIP, ``hf:`` speech
encoders) on ``device`` in batches. Each finished utterance is cached at once (atomic), so an
interrupted run resumes and a repeated run decodes nothing.

Masking: table rows without media, files that cannot be decoded (``missing="mask"``) and faceless
utterances (``no_face="mask"``) are filled with the training split's mean of that modality and
listed in :attr:`MediaFeatures.masked` (stored as ``FeatureSet.extras["media"]``) and counted per
split in :attr:`MediaFeatures.stats`. Nothing is zero-filled silently: with ``missing="error"`` (the
default) any of the first two is an error naming the file.
"""

from __future__ import annotations

import copy
import gc
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from ..data.tables import DialogueTable
from ..encoders.audio import AudioExtractor
from . import decode as _decode
from .cache import CacheEntry, FeatureCache
from .decode import SAMPLE_RATE, Clip, MediaDataset, MediaError
from .sources import MediaItem, Missing, match_media
from .visual import ClipFaceExtractor, FaceCrops

logger = logging.getLogger(__name__)

__all__ = ["SILENCE_RMS", "MediaFeatures", "extract_media_features"]

SILENCE_RMS = 1e-4
"""Waveform RMS (full scale 1.0) below which an utterance's audio counts as silent (≈ −80 dBFS)."""


@dataclass
class MediaFeatures:
    """What :func:`extract_media_features` returns.

    Attributes:
        features: modality → split → {dialogue id → ``[T, D]`` float32}, table row order (the
            ``features`` argument of :func:`~vega_anchors.data.build_feature_set`).
        masks: modality → split → {dialogue id → ``[T]`` bool}, ``True`` = real features.
        masked: modality → split → the filled rows, ``{"dialogue", "utterance", "row" (position in the
            dialogue), "reason"}`` each.
        stats: modality → split → counts: ``utterances``, ``masked``, ``missing_media``, ``failed``,
            ``no_face`` (visual), ``silent`` (audio).
        identities: modality → the extractor's identity (cache key).
        unmatched: media files that no table row claims (ignored, with ``missing="mask"``).
    """

    features: dict[str, dict[str, dict[str, np.ndarray]]]
    masks: dict[str, dict[str, dict[str, np.ndarray]]]
    masked: dict[str, dict[str, list[dict[str, Any]]]]
    stats: dict[str, dict[str, dict[str, int]]]
    identities: dict[str, str] = field(default_factory=dict)
    unmatched: int = 0

    def extras(self) -> dict[str, Any]:
        """JSON-ready record for ``FeatureSet.extras["media"]`` (read by ``feature_report``)."""
        return {
            "extractors": {m: i.splitlines() for m, i in self.identities.items()},
            "stats": self.stats,
            "masked": self.masked,
            "unmatched_media": self.unmatched,
            "fill": "training-split mean of the modality",
        }


class _WorkerStage:
    """Runs in decoding workers: CPU audio extractors, waveform RMS, face detection + cropping."""

    def __init__(self, audio: AudioExtractor | None, visual: ClipFaceExtractor | None) -> None:
        self.audio = audio
        self.visual = None
        if visual is not None:  # workers detect and crop only: leave the image encoder (a model) behind
            self.visual = copy.copy(visual)
            self.visual.encoder = None  # type: ignore[assignment]

    def __call__(self, clip: Clip) -> dict[str, Any]:
        out: dict[str, Any] = {"item": clip.item}
        if clip.audio is not None:
            out["silent"] = bool(np.sqrt(np.mean(np.square(clip.audio, dtype=np.float64))) < SILENCE_RMS)
            if self.audio is not None and self.audio.in_worker:
                out["audio_features"] = np.asarray(self.audio([clip.audio]), dtype=np.float32)[0]
            else:
                out["waveform"] = clip.audio
        if clip.frames is not None and self.visual is not None:
            out["crops"] = self.visual.crops(clip)
        return out


def _no_collate(batch: Any) -> Any:
    return batch


def _decode_identity(modality: str, num_frames: int) -> str:
    return f"sample_rate={SAMPLE_RATE}" if modality == "audio" else f"frames={num_frames}"


def extract_media_features(
    tables: Mapping[str, DialogueTable],
    items: Sequence[MediaItem],
    *,
    audio: AudioExtractor | None = None,
    visual: ClipFaceExtractor | None = None,
    cache_dir: str | None = None,
    num_frames: int = 8,
    num_workers: int = 0,
    missing: Missing = "error",
    batch_utterances: int = 8,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
) -> MediaFeatures | None:
    """Audio and/or visual features for every utterance of ``tables``.

    Args:
        tables: ``{"train": ..., "dev": ..., "test": ...}`` dialogue tables.
        items: the media (:func:`~vega_anchors.media.sources.discover_media` or your own list).
        audio: an :class:`~vega_anchors.encoders.AudioExtractor` (``None``: no audio modality).
        visual: a :class:`~vega_anchors.media.visual.ClipFaceExtractor` (``None``: no visual modality).
        cache_dir: per-utterance cache folder (``None``: no cache, no resume).
        num_frames: frames sampled per utterance (uniformly over its segment).
        num_workers: ``DataLoader`` workers decoding (and running CPU extractors) while the main
            process encodes; 0 = all in this process.
        missing: ``"error"``: rows without media and undecodable files raise (one error listing the
            mismatches; the file named for decoding errors); ``"mask"``: fill, mask and count them.
        batch_utterances: utterances per main-process encoder call (and per cache flush); small enough
            that the encoder starts while workers still decode (8 × 8 frames = 64 crops per CLIP batch).
        progress: a tqdm bar over utterances.
        shard: ``(rank, world)`` of an extraction shared by several processes (``cache_dir`` required, the
            same folder for all): the utterances are cut into encoder batches (whole files, as one process
            would batch them) and this process extracts batches ``rank, rank + world, ...`` into the cache,
            then returns ``None``. A call without ``shard`` afterwards reads the cache and assembles.

    Raises:
        ValueError: no extractor given; a mismatch or a :class:`~vega_anchors.media.decode.MediaError`
            under ``missing="error"``.
    """
    extractors: dict[str, Any] = {k: v for k, v in (("audio", audio), ("visual", visual)) if v is not None}
    if not extractors:
        raise ValueError("give audio= and/or visual= (--audio / --visual): there is nothing to extract")
    if batch_utterances < 1:
        raise ValueError(f"batch_utterances must be >= 1, got {batch_utterances}")
    if shard is not None and not cache_dir:
        raise ValueError("extract_media_features(shard=...) needs cache_dir: processes exchange features through it")
    match = match_media(tables, items, missing=missing)
    identities = {m: f"{ex.identity}\n{_decode_identity(m, num_frames)}" for m, ex in extractors.items()}
    caches = {m: FeatureCache(cache_dir, identities[m], ex.dim) for m, ex in extractors.items()} if cache_dir else {}

    unique: dict[int, MediaItem] = {}
    for rows in match.items.values():
        for item in rows:
            if item is not None:
                unique.setdefault(id(item), item)
    results: dict[str, dict[int, CacheEntry | MediaError]] = {m: {} for m in extractors}
    todo = _lookup(unique, caches, results)
    if shard is not None:
        mine = _shard(list(unique.values()), batch_utterances, *shard)
        todo = [item for item in todo if id(item) in mine]
    logger.info("media: %d utterances, %d cached, %d to decode%s", len(unique), len(unique) - len(todo), len(todo),
                f" (share {shard[0]} of {shard[1]})" if shard else "")  # fmt: skip

    if todo:
        _run(todo, extractors, results, caches, num_frames, num_workers, missing, batch_utterances, progress)
    if shard is not None:
        return None
    return _assemble(tables, match.items, extractors, results, identities, len(match.unmatched), missing)


def _lookup(
    unique: dict[int, MediaItem],
    caches: dict[str, FeatureCache],
    results: dict[str, dict[int, CacheEntry | MediaError]],
) -> list[MediaItem]:
    """Fill ``results`` from the caches; the items that still need decoding (all of them without a cache)."""
    todo: list[MediaItem] = []
    for key, item in unique.items():
        needed = False
        for modality, cache in caches.items():
            entry = cache.get(item)
            if entry is not None:
                results[modality][key] = entry
            else:
                needed = True
        if needed or not caches:
            todo.append(item)
    return todo


def _shard(items: list[MediaItem], batch_utterances: int, rank: int, world: int) -> set[int]:
    """The ``id``\\ s of the items of process ``rank`` of ``world``: the items, grouped by file, cut into the
    batches one process would encode (whole files until ``batch_utterances`` are reached), and every
    ``world``-th batch from ``rank`` — so each batch is encoded as one process would, and ranks never share one."""
    batches: list[list[MediaItem]] = [[]]
    for group in _decode.group_by_file(items):
        batches[-1].extend(group)
        if len(batches[-1]) >= batch_utterances:
            batches.append([])
    return {id(item) for batch in batches[rank::world] for item in batch}


def _run(
    todo: list[MediaItem],
    extractors: dict[str, Any],
    results: dict[str, dict[int, CacheEntry | MediaError]],
    caches: dict[str, FeatureCache],
    num_frames: int,
    num_workers: int,
    missing: Missing,
    batch_utterances: int,
    progress: bool,
) -> None:
    audio, visual = extractors.get("audio"), extractors.get("visual")
    need_audio = audio is not None and any(id(i) not in results["audio"] for i in todo)
    need_video = visual is not None and any(id(i) not in results["visual"] for i in todo)
    groups = _decode.group_by_file(todo)
    dataset = MediaDataset(
        groups,
        audio=need_audio,
        video=need_video,
        num_frames=num_frames,
        transform=_WorkerStage(audio if need_audio else None, visual if need_video else None),
    )
    workers = min(num_workers, len(groups))
    # Workers may run a whole encoder batch ahead (DataLoader's default is 2 items per worker), so
    # decoding keeps going while the main process encodes.
    ahead = {"prefetch_factor": max(2, -(-batch_utterances // workers))} if workers else {}
    loader = DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=workers, collate_fn=_no_collate, **ahead
    )
    if workers:
        # Forked workers must never free objects inherited from this process (an FFmpeg filter graph
        # freed there waits forever on threads that only exist here): collect now, freeze the rest.
        gc.collect()
        gc.freeze()
    try:
        _consume(loader, dataset, extractors, results, caches, missing, batch_utterances, progress, len(todo),
                 audio if need_audio else None, visual if need_video else None)  # fmt: skip
    finally:
        if workers:
            gc.unfreeze()


def _consume(
    loader: DataLoader[Any],
    dataset: MediaDataset,
    extractors: dict[str, Any],
    results: dict[str, dict[int, CacheEntry | MediaError]],
    caches: dict[str, FeatureCache],
    missing: Missing,
    batch_utterances: int,
    progress: bool,
    total: int,
    audio: Any,
    visual: ClipFaceExtractor | None,
) -> None:
    from tqdm.auto import tqdm

    pending: list[dict[str, Any]] = []

    def flush() -> None:
        _encode_and_store(pending, audio, visual, results, caches)
        pending.clear()

    with tqdm(total=total, unit="utt", desc="media features", disable=not progress) as bar:
        for index, group_out in enumerate(loader):
            for payload in group_out:
                if isinstance(payload, MediaError):
                    if missing == "error":
                        raise MediaError(
                            payload.path,
                            f"{payload} (pass --media-missing mask / missing='mask' to mask such utterances)",
                        )
                    logger.warning("masked: %s", payload)
                bar.update(1)
            for item, payload in zip(dataset.groups[index], group_out, strict=False):
                if isinstance(payload, MediaError):
                    for modality in extractors:
                        results[modality].setdefault(id(item), payload)
                else:
                    payload["item"] = item  # the caller's object (workers return pickled copies)
                    pending.append(payload)
            if len(pending) >= batch_utterances:
                flush()
        if pending:
            flush()


def _encode_and_store(
    pending: list[dict[str, Any]],
    audio: Any,
    visual: ClipFaceExtractor | None,
    results: dict[str, dict[int, CacheEntry | MediaError]],
    caches: dict[str, FeatureCache],
) -> None:
    entries: dict[str, list[tuple[MediaItem, CacheEntry]]] = {"audio": [], "visual": []}
    if audio is not None:
        todo = [p for p in pending if id(p["item"]) not in results["audio"]]
        computed = [p for p in todo if "audio_features" in p]
        waiting = [p for p in todo if "waveform" in p]
        if waiting:
            feats = np.asarray(audio([p["waveform"] for p in waiting]), dtype=np.float32)
            for p, row in zip(waiting, feats, strict=True):
                p["audio_features"] = row
        for p in (*computed, *waiting):
            entries["audio"].append((p["item"], CacheEntry(p["audio_features"], True, p["silent"])))
    if visual is not None:
        todo = [p for p in pending if id(p["item"]) not in results["visual"] and "crops" in p]
        if todo:
            crops: list[FaceCrops] = [p["crops"] for p in todo]
            feats, valid = visual.encode(crops)
            for p, row, ok, c in zip(todo, feats, valid, crops, strict=True):
                entries["visual"].append((p["item"], CacheEntry(row, bool(ok), not c.face_found)))
    for modality, pairs in entries.items():
        for item, entry in pairs:
            results[modality][id(item)] = entry
            if modality in caches:
                caches[modality].put(item, entry)


def _assemble(
    tables: Mapping[str, DialogueTable],
    rows_by_split: dict[str, list[MediaItem | None]],
    extractors: dict[str, Any],
    results: dict[str, dict[int, CacheEntry | MediaError]],
    identities: dict[str, str],
    unmatched: int,
    missing: Missing,
) -> MediaFeatures:
    out = MediaFeatures({}, {}, {}, {}, identities=dict(identities), unmatched=unmatched)
    for modality, extractor in extractors.items():
        dim = int(extractor.dim)
        flat: dict[str, np.ndarray] = {}
        valid: dict[str, np.ndarray] = {}
        reasons: dict[str, list[str]] = {}
        stats: dict[str, dict[str, int]] = {}
        for split, rows in rows_by_split.items():
            matrix = np.zeros((len(rows), dim), dtype=np.float32)
            ok = np.zeros(len(rows), dtype=bool)
            why = [""] * len(rows)
            counts = {"utterances": len(rows), "masked": 0, "missing_media": 0, "failed": 0}
            counts["silent" if modality == "audio" else "no_face"] = 0
            for r, item in enumerate(rows):
                result = results[modality].get(id(item)) if item is not None else None
                if item is None:
                    why[r] = "no media"
                    counts["missing_media"] += 1
                elif isinstance(result, MediaError) or result is None:
                    why[r] = f"undecodable: {result}" if result is not None else "not extracted"
                    counts["failed"] += 1
                else:
                    if result.flag:
                        counts["silent" if modality == "audio" else "no_face"] += 1
                    if result.valid:
                        matrix[r], ok[r] = result.features, True
                    else:
                        why[r] = "no face"
            counts["masked"] = int((~ok).sum())
            flat[split], valid[split], reasons[split], stats[split] = matrix, ok, why, counts
        reference = flat.get("train")
        if reference is not None and valid["train"].any():
            fill = reference[valid["train"]].mean(0)
        else:
            stacked = [flat[s][valid[s]] for s in flat if valid[s].any()]
            fill = np.concatenate(stacked).mean(0) if stacked else np.zeros(dim, np.float32)
        out.features[modality], out.masks[modality], out.masked[modality] = {}, {}, {}
        for split, table in tables.items():
            matrix, ok = flat[split], valid[split]
            matrix[~ok] = fill
            per_dialogue: dict[str, np.ndarray] = {}
            per_mask: dict[str, np.ndarray] = {}
            listed: list[dict[str, Any]] = []
            start = 0
            for dialogue in table.dialogues:
                stop = start + dialogue.length
                per_dialogue[dialogue.id] = matrix[start:stop]
                per_mask[dialogue.id] = ok[start:stop]
                listed.extend(
                    {"dialogue": dialogue.id, "utterance": u, "row": j, "reason": reasons[split][start + j]}
                    for j, u in enumerate(dialogue.utterance_ids)
                    if not ok[start + j]
                )
                start = stop
            out.features[modality][split] = per_dialogue
            out.masks[modality][split] = per_mask
            out.masked[modality][split] = listed
        out.stats[modality] = stats
        for split, counts in stats.items():
            if counts["masked"]:
                logger.warning(
                    "%s %s: %d of %d utterances masked", modality, split, counts["masked"], counts["utterances"]
                )
    return out
