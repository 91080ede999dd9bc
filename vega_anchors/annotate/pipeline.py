"""A conversation video and its transcript → per-utterance emotions, with the features a run was trained on.

:class:`EmotionPipeline` holds a trained run (:class:`~vega_anchors.runs.Run`) and the extractors of
its feature recipe (the text encoder, layers and context; the audio extractor; the visual extractor
and frame count), loaded once and checked against what the run recorded. Called on a video and a
transcript, it cuts the video by the cues (one :class:`~vega_anchors.media.MediaItem` per cue, the
manifest layout of ``build-features``), rebuilds exactly those features through
:mod:`vega_anchors.media` and :mod:`vega_anchors.data` (cached per utterance), and runs the run's
models as :func:`~vega_anchors.runs.predict_run` does: the probabilities equal ``vega-anchors
predict`` on a store built from the same clips.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..runs import Run, load_run, predict_run
from ._recipe import AnnotateRecipe, Extractors, _run_feature_recipe, build_extractors
from ._video import VideoInfo, probe_video, thumbnails
from .transcripts import Transcript, check_cues, read_transcript

logger = logging.getLogger(__name__)

__all__ = ["Annotation", "EmotionPipeline"]

DIALOGUE_ID = "video"
"""The dialogue id of the video's one conversation (in manifests and feature sets)."""


@dataclass
class Annotation:
    """What :class:`EmotionPipeline` returns for one video.

    Attributes:
        video: the video file.
        transcript: its cues (``T`` of them), in time order.
        class_names: ``C`` classes, label order.
        probabilities: ``[T, C]`` float32, the mean over the run's seeds of the fused head's softmax.
        thumbnails: ``T`` face thumbnails (``data:`` URIs; ``None`` without frames).
        duration: the video's length in seconds (``None`` when unknown).
        timings: stage → seconds (``load`` counts the extractors' loading, once per pipeline).
        manifest: the cues as a media manifest (``dialogue, utterance, path, start, end``; build-features
            ``--media-layout manifest`` reads it).
    """

    video: Path
    transcript: Transcript
    class_names: list[str]
    probabilities: np.ndarray
    thumbnails: list[str | None]
    duration: float | None
    timings: dict[str, float] = field(default_factory=dict)
    manifest: list[dict[str, Any]] = field(default_factory=list)

    @property
    def emotions(self) -> list[str]:
        """The predicted class of each cue (argmax of its probabilities)."""
        return [self.class_names[int(i)] for i in self.probabilities.argmax(axis=1)]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per cue: ``start, end, speaker, text, emotion, prob_<class>...``."""
        out = []
        for cue, emotion, probs in zip(self.transcript.cues, self.emotions, self.probabilities, strict=True):
            row: dict[str, Any] = {"start": cue.start, "end": cue.end, "speaker": cue.speaker, "text": cue.text,
                                   "emotion": emotion}  # fmt: skip
            row.update({f"prob_{name}": float(p) for name, p in zip(self.class_names, probs, strict=True)})
            out.append(row)
        return out

    def to_csv(self) -> str:
        """``predictions.csv``: one row per cue; probabilities with 6 decimals, as ``vega-anchors predict``."""
        buffer = io.StringIO()
        names = ["start", "end", "speaker", "text", "emotion", *(f"prob_{c}" for c in self.class_names)]
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: (f"{v:.6f}" if k.startswith("prob_") else f"{v:.3f}" if k in ("start", "end") else v)
                             for k, v in row.items()})  # fmt: skip
        return buffer.getvalue()


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


class EmotionPipeline:
    """Per-utterance emotions of a conversation video, with a trained run's models and features.

    Args:
        run: a loaded run (:func:`~vega_anchors.runs.load_run`).
        recipe: its feature recipe (default: read from the run's directory).
        device: torch device of the extractors (default: CPU / the library's choice).
        cache_dir: per-utterance feature cache (``None``: no cache); a second call reuses it.
        extractors: already loaded extractors (default: loaded from ``recipe``, checked against it).

    Raises:
        ConfigError: an encoder of the recipe that is not installed or differs from the recorded one.

    Example::

        pipe = EmotionPipeline.from_run("runs/vega", cache_dir="cache/")
        result = pipe("dinner.mp4", "dinner.srt")
        result.rows()[0]   # {"start": 0.0, "end": 2.4, "speaker": "Ann", "text": ..., "emotion": "happy", ...}
    """

    def __init__(
        self,
        run: Run,
        recipe: AnnotateRecipe | None = None,
        *,
        device: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        extractors: Extractors | None = None,
    ) -> None:
        self.run = run
        self.recipe = recipe if recipe is not None else _run_feature_recipe(run.directory)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        start = time.perf_counter()
        self.extractors = extractors if extractors is not None else build_extractors(self.recipe, device=device)
        self.load_seconds = time.perf_counter() - start

    @classmethod
    def from_run(
        cls,
        run_dir: str | os.PathLike[str],
        *,
        device: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> EmotionPipeline:
        """Load the run in ``run_dir`` (:func:`~vega_anchors.runs.load_run`) and its feature recipe."""
        start = time.perf_counter()
        pipeline = cls(load_run(run_dir), _run_feature_recipe(run_dir), device=device, cache_dir=cache_dir)
        pipeline.load_seconds = time.perf_counter() - start  # the run's models too
        return pipeline

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        device: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        revision: str | None = None,
        token: str | bool | None = None,
    ) -> EmotionPipeline:
        """:meth:`from_run` for a run shared on the Hugging Face Hub: a Hub id (``owner/name``; extra
        ``vega-anchors[hub]``) or a local folder (:func:`~vega_anchors.hub.resolve_pretrained`).
        ``cache_dir`` is the feature cache, as in :meth:`from_run`.

        Raises:
            ConfigError: a Hub id that cannot be fetched (offline): the error says how to pass a folder.
        """
        folder = name_or_path
        if not Path(name_or_path).is_dir():
            from ..hub import resolve_pretrained

            folder = resolve_pretrained(name_or_path, "run", revision=revision, token=token)
        return cls.from_run(folder, device=device, cache_dir=cache_dir)

    @property
    def class_names(self) -> list[str]:
        return list(self.recipe.class_names)

    def __call__(
        self, video: str | os.PathLike[str], transcript: Transcript | str | os.PathLike[str], *, progress: bool = False
    ) -> Annotation:
        """Annotate ``video`` cue by cue (``transcript``: a file for :func:`read_transcript`, or a
        :class:`Transcript`, e.g. from speech-to-text).

        Raises:
            ConfigError: cues outside the video or overlapping; a modality the run needs that the video
                lacks (no audio or video stream); a bad transcript.
        """
        timings: dict[str, float] = {"load": self.load_seconds}
        with _timed(timings, "transcript"):
            info = probe_video(video)
            if not isinstance(transcript, Transcript):
                transcript = read_transcript(transcript)
            check_cues(transcript, info.duration, video)
            self._check_streams(info)
            table, items = self._table(transcript, info)
        features, records = self._features(table, items, timings, progress)
        with _timed(timings, "predict"):
            probabilities = self._predict(table, features, records)
        with _timed(timings, "thumbnails"):
            thumbs = self._thumbnails(items, info)
        logger.info("annotated %d cues of %s: %s", len(transcript), video,
                    ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))  # fmt: skip
        manifest = [{"dialogue": i.dialogue, "utterance": i.utterance, "path": str(i.path), "start": i.start,
                     "end": i.end} for i in items]  # fmt: skip
        return Annotation(Path(video), transcript, self.class_names, probabilities, thumbs, info.duration, timings,
                          manifest)  # fmt: skip

    # ------------------------------------------------------------------------------------------ stages

    def _check_streams(self, info: VideoInfo) -> None:
        needs = {"audio": info.has_audio, "visual": info.has_video}
        missing = [m for m in self.recipe.modalities if m in needs and not needs[m]]
        if missing:
            stream = " and ".join("an audio stream" if m == "audio" else "a video stream" for m in missing)
            raise ConfigError(
                f"the run needs {' and '.join(missing)} features, and {info.path} has no {stream.split(' ', 1)[1]}",
                python_fix=f"give a video with {stream}, or a run trained without {' and '.join(missing)}",
                cli_fix=f"give a VIDEO with {stream}, or a --model trained without {' and '.join(missing)}",
            )

    def _table(self, transcript: Transcript, info: VideoInfo) -> tuple[Any, list[Any]]:
        from ..data import DialogueTable, RawDialogue
        from ..media.sources import MediaItem

        ids = [str(i) for i in range(len(transcript))]
        cues = transcript.cues
        dialogue = RawDialogue(DIALOGUE_ID, ids, [c.speaker for c in cues], [c.text for c in cues], [-1] * len(cues))
        table = DialogueTable([dialogue], tuple(self.class_names), str(transcript.source))
        path = info.path.resolve()
        items = [MediaItem(DIALOGUE_ID, u, path, start=c.start, end=c.end) for u, c in zip(ids, cues, strict=True)]
        return table, items

    def _features(
        self, table: Any, items: list[Any], timings: dict[str, float], progress: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(modality → {dialogue id → [T, D]}, records)``: the text embeddings and the media features, and
        what made them (``FeatureSet.extras`` entries: ``encoder``, ``media``)."""
        ex = self.extractors
        out: dict[str, Any] = {}
        records: dict[str, Any] = {"encoder": self.recipe.text} if ex.text is not None else {}
        if ex.text is not None:
            from ..data import embed_tables

            with _timed(timings, "text"):
                cache = self.cache_dir / "text" if self.cache_dir is not None else None
                out["text"] = embed_tables(table, ex.text, cache_dir=cache, progress=progress, context=ex.context)
        if ex.audio is not None or ex.visual is not None:
            from ..media.extract import extract_media_features

            with _timed(timings, "media"):
                result = extract_media_features(
                    {"test": table},
                    items,
                    audio=ex.audio,
                    visual=ex.visual,
                    cache_dir=str(self.cache_dir / "media") if self.cache_dir is not None else None,
                    num_frames=ex.num_frames,
                    progress=progress,
                )
            out.update({m: by_split["test"] for m, by_split in result.features.items()})
            records["media"] = result.extras()
        return out, records

    def _predict(self, table: Any, features: dict[str, Any], records: dict[str, Any]) -> np.ndarray:
        """``[T, C]`` probabilities through :func:`~vega_anchors.runs.predict_run` (same code as ``predict``)."""
        from ..data import FeatureSet, SpeakerMap, build_dialogues

        speakers = SpeakerMap.from_dict(self.recipe.speaker_map)
        dialogues = build_dialogues(table, features, speakers)
        fs = FeatureSet(
            train=[],
            test=dialogues,
            dev=[],
            label_names=tuple(self.class_names),
            num_speakers=int(self.run.config.get("num_speakers") or speakers.num_speakers),
            modality_dims=dict(dialogues[0].modality_dims),
            layout="annotate",
            source=str(table.source),
            extras={
                **records,
                "speaker_names": speakers.id_names,
                "speaker_map": speakers.to_dict(),
                "utterance_ids": {"test": [d.utterance_ids for d in table.dialogues]},
            },
        )
        rows = predict_run(self.run, fs, split="test")
        return np.array([[row[f"prob_{c}"] for c in self.class_names] for row in rows], dtype=np.float32)

    def _thumbnails(self, items: list[Any], info: VideoInfo) -> list[str | None]:
        if not info.has_video:
            return [None] * len(items)
        visual = self.extractors.visual
        cache = self.cache_dir / "thumbnails" if self.cache_dir is not None else None
        return thumbnails(
            items,
            num_frames=self.extractors.num_frames,
            detector=getattr(visual, "detector", None),
            margin=getattr(visual, "margin", 0.2),
            cache_dir=cache,
        )
