"""Read and write the feature pickles that MERC code bases share.

.. warning::
    These files are plain Python pickles. Unpickling can run arbitrary code, so open ONLY TRUSTED
    FILES (ones you made, or downloaded from the authors' own links and checked). The loader logs
    a warning the first time it opens each path.

Three layouts are recognised, each a tuple of dicts keyed by dialogue id (plus the train/test id
lists):

``"vega"`` (7 fields, VEGA's files)
    ``(videoSpeakers, videoLabels, videoText, videoAudio, videoVisual, trainVid, testVid)``.
    IEMOCAP's text arrays carry a leading singleton axis (``[1, T, 1024]``), which is squeezed.
``"dialoguernn"`` (9 fields; MELD's files add a 10th, unused, trailing field)
    ``(videoIDs, videoSpeakers, videoLabels, videoText, videoAudio, videoVisual, videoSentence,
    trainVid, testVid)`` — the DialogueRNN/MMGCN files, often Python-2 pickles (read with
    ``encoding="latin1"``).
``"sdt"`` (12 fields; MELD: 13)
    ``(videoIDs, videoSpeakers, videoLabels, videoText, roberta2, roberta3, roberta4, videoAudio,
    videoVisual, videoSentence, trainVid, testVid)`` — SDT's merged files, where ``videoText`` is the
    first of four RoBERTa feature sets. SDT's own loader feeds only ``videoText`` to the model and
    never reads ``roberta2``–``roberta4``; :func:`load_feature_pickle` does the same by default
    (``text_field="roberta1"``) and offers ``"roberta2"``…``"roberta4"``, ``"mean"`` (average of the
    four) and ``"concat"`` (the four side by side, ``4·D`` wide).

Speakers are ``'M'``/``'F'`` strings in IEMOCAP (as in the official code: ``'M'`` → id 0, anything
else → id 1) and one-hot vectors in MELD (id = argmax; 9 speakers).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write
from ..data.types import Dialogue, FeatureSet
from ..labels import EMOTION_LABELS

logger = logging.getLogger(__name__)

__all__ = [
    "LAYOUTS",
    "TEXT_FIELDS",
    "load_feature_pickle",
    "save_feature_pickle",
]

LAYOUTS: tuple[str, ...] = ("vega", "dialoguernn", "sdt")
"""Layout names understood by :func:`load_feature_pickle` and :func:`save_feature_pickle`."""

TEXT_FIELDS: tuple[str, ...] = ("roberta1", "roberta2", "roberta3", "roberta4", "mean", "concat")
"""Choices for ``text_field`` (SDT layout): one of its four RoBERTa fields, their mean, or their concat."""

MODALITIES: tuple[str, ...] = ("text", "audio", "visual")
"""Modality names of the official layouts, in file order."""

# Field positions per (layout, tuple length). "trailing" is MELD's extra last field (kept, unused).
_FIELDS: dict[int, tuple[str, dict[str, int]]] = {
    7: ("vega", {"speakers": 0, "labels": 1, "text": 2, "audio": 3, "visual": 4, "train": 5, "test": 6}),
    9: (
        "dialoguernn",
        {"ids": 0, "speakers": 1, "labels": 2, "text": 3, "audio": 4, "visual": 5, "sentences": 6}
        | {"train": 7, "test": 8},
    ),
    12: (
        "sdt",
        {"ids": 0, "speakers": 1, "labels": 2, "text": 3, "roberta2": 4, "roberta3": 5, "roberta4": 6}
        | {"audio": 7, "visual": 8, "sentences": 9, "train": 10, "test": 11},
    ),
}
_FIELDS[10] = (_FIELDS[9][0], {**_FIELDS[9][1], "trailing": 9})
_FIELDS[13] = (_FIELDS[12][0], {**_FIELDS[12][1], "trailing": 12})

# Official feature widths that identify a dataset.
_AUDIO_DIM_HINTS: dict[int, str] = {1582: "iemocap", 300: "meld"}

_warned_paths: set[str] = set()


# ---------------------------------------------------------------------------------------------- helpers


def _describe_value(value: Any) -> str:
    """A short description of one value: type and shape, or length and first item."""
    if isinstance(value, np.ndarray | torch.Tensor):
        return f"{type(value).__name__} shape {tuple(value.shape)}"
    if isinstance(value, list | tuple):
        inner = f"; first {_describe_value(value[0])}" if value else ""
        return f"{type(value).__name__} of {len(value)}{inner}"
    return type(value).__name__


def _describe(obj: Any) -> str:
    """What a loaded pickle holds, for error messages: tuple length, field types, example dims."""
    if not isinstance(obj, tuple | list):
        if isinstance(obj, Mapping):
            return f"a {type(obj).__name__} with keys {list(obj)[:8]}"
        return f"a {type(obj).__name__}"
    parts = []
    for i, item in enumerate(obj):
        if isinstance(item, Mapping):
            if item:
                key, value = next(iter(item.items()))
                parts.append(f"field {i}: dict of {len(item)} (e.g. {key!r} → {_describe_value(value)})")
            else:
                parts.append(f"field {i}: empty dict")
        else:
            parts.append(f"field {i}: {_describe_value(item)}")
    return f"a {type(obj).__name__} of {len(obj)} fields: " + "; ".join(parts)


def _read_pickle(path: Path) -> Any:
    """Unpickle ``path`` (warning once per path), retrying Python-2 pickles with ``encoding="latin1"``."""
    key = str(path.resolve())
    if key not in _warned_paths:
        _warned_paths.add(key)
        logger.warning("unpickling %s: pickles can run arbitrary code, open only trusted files", path)
    with open(path, "rb") as fh:
        try:
            return pickle.load(fh)
        except (UnicodeError, ValueError, TypeError) as err:
            # Python-2 pickles (DialogueRNN/MMGCN files) store numpy buffers and str as bytes,
            # which only encoding="latin1" restores faithfully.
            logger.debug("%s: %s; re-reading with encoding='latin1'", path, type(err).__name__)
            fh.seek(0)
            return pickle.load(fh, encoding="latin1")


def _id_list(value: Any) -> list[Any] | None:
    """A train/test id field as a list (sets sorted by ``str``), or ``None`` when it is not a list of ids."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value.tolist()
    return None


def _detect(obj: Any) -> tuple[str, dict[str, int]] | None:
    """The layout name and field positions of ``obj``, or ``None`` when it matches none."""
    if not isinstance(obj, tuple | list) or len(obj) not in _FIELDS:
        return None
    layout, positions = _FIELDS[len(obj)]
    dict_fields = [name for name in positions if name not in ("train", "test", "trailing")]
    if not all(isinstance(obj[positions[name]], Mapping) for name in dict_fields):
        return None
    train, test = _id_list(obj[positions["train"]]), _id_list(obj[positions["test"]])
    if train is None or test is None:
        return None
    labels = obj[positions["labels"]]
    if any(vid not in labels for vid in (*train, *test)):
        return None
    return layout, positions


def _feature_array(value: Any, dialogue: str, modality: str) -> np.ndarray:
    """Features as float32 ``[T, D]`` (a leading singleton axis squeezed); raises naming dialogue and modality."""
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"dialogue {dialogue!r}: {modality} features are not a numeric array ({err})") from err
    if arr.ndim == 3 and arr.shape[0] == 1:  # VEGA's IEMOCAP text: [1, T, D]
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(
            f"dialogue {dialogue!r}: {modality} features have shape {arr.shape}, expected [T, D] (or [1, T, D])"
        )
    return arr


def _speaker_ids(value: Any, dialogue: str) -> tuple[np.ndarray, str, int]:
    """Speaker ids ``[T]``, the format (``letters``/``onehot``/``ids``) and the id count it implies."""
    items = list(value) if not isinstance(value, np.ndarray) or value.ndim > 0 else [value.item()]
    if items and all(isinstance(s, str | bytes) for s in items):
        letters = [s.decode("latin1") if isinstance(s, bytes) else s for s in items]
        return np.array([0 if s == "M" else 1 for s in letters], dtype=np.int64), "letters", 2
    arr = np.asarray(items)
    if arr.ndim == 2:
        return arr.argmax(axis=1).astype(np.int64), "onehot", int(arr.shape[1])
    if arr.ndim == 1 and arr.dtype.kind in "iub":
        ids = arr.astype(np.int64)
        return ids, "ids", int(ids.max()) + 1 if ids.size else 1
    raise ValueError(
        f"dialogue {dialogue!r}: speakers must be 'M'/'F' strings, one-hot vectors or integer ids; "
        f"got {_describe_value(arr)} of dtype {arr.dtype}"
    )


def _infer_dataset(
    *, speaker_format: str, speaker_dim: int, audio_dim: int | None, num_labels: int, trailing: bool
) -> tuple[str | None, str]:
    """Guess iemocap/meld from the file's own evidence; returns ``(name or None, reason)``."""
    if trailing:
        return "meld", "the MELD-only trailing field"
    if speaker_format == "letters":
        return "iemocap", "'M'/'F' speaker strings"
    if speaker_format == "onehot" and speaker_dim == 9:
        return "meld", "9-dim one-hot speakers"
    if audio_dim in _AUDIO_DIM_HINTS:
        return _AUDIO_DIM_HINTS[audio_dim], f"audio dim {audio_dim}"
    if num_labels == 7:
        return "meld", "7 label ids"
    return None, (f"speakers as {speaker_format} (dim {speaker_dim}), audio dim {audio_dim}, {num_labels} label ids")


def _select_text(raw: dict[str, Any], positions: dict[str, int], vid: Any, text_field: str) -> Any:
    """The text features of ``vid`` chosen by ``text_field`` (SDT: one RoBERTa field, their mean or concat)."""
    if "roberta2" not in positions or text_field == "roberta1":
        return raw["text"][vid]
    if text_field in ("roberta2", "roberta3", "roberta4"):
        return raw[text_field][vid]
    stack = [_feature_array(raw[name][vid], str(vid), name) for name in ("text", "roberta2", "roberta3", "roberta4")]
    return np.mean(stack, axis=0) if text_field == "mean" else np.concatenate(stack, axis=1)


# --------------------------------------------------------------------------------------------- loading


def _check_load_args(dataset: str | None, label_names: Sequence[str] | None, text_field: str) -> None:
    """Reject an unknown ``text_field`` or ``dataset`` before the file is opened."""
    if text_field not in TEXT_FIELDS:
        raise ValueError(f"text_field must be one of {TEXT_FIELDS}, got {text_field!r}")
    if dataset is not None and dataset not in EMOTION_LABELS and label_names is None:
        raise ValueError(f"unknown dataset {dataset!r}; use one of {sorted(EMOTION_LABELS)} or pass label_names=")


def _open_layout(path: Path, text_field: str) -> tuple[str, dict[str, int], dict[str, Any]]:
    """Unpickle ``path`` and detect its layout: ``(layout, field positions, field name → value)``."""
    if not path.is_file():
        raise FileNotFoundError(f"feature pickle not found: {path}")
    obj = _read_pickle(path)
    detected = _detect(obj)
    if detected is None:
        known = ", ".join(f"{n} fields → {layout}" for n, (layout, _) in sorted(_FIELDS.items()))
        raise ValueError(
            f"{path} matches no known feature layout ({known}; dict fields keyed by dialogue id, "
            f"train/test id lists). Found {_describe(obj)}"
        )
    layout, positions = detected
    if layout != "sdt" and text_field != "roberta1":
        logger.info(
            "text_field=%r ignored: %s is in the %s layout, which has one text field",
            text_field,
            path,
            layout,
        )
    return layout, positions, {name: obj[i] for name, i in positions.items()}


def _read_dialogue(
    raw: dict[str, Any], positions: dict[str, int], vid: Any, text_field: str, speakers: np.ndarray
) -> Dialogue:
    """Dialogue ``vid`` with the given speaker ids ``[T]``: labels ``[T]``, features ``[T, D_m]``."""
    name = str(vid)
    labels = np.asarray(raw["labels"][vid], dtype=np.int64).reshape(-1)
    features = {
        "text": _feature_array(_select_text(raw, positions, vid, text_field), name, "text"),
        "audio": _feature_array(raw["audio"][vid], name, "audio"),
        "visual": _feature_array(raw["visual"][vid], name, "visual"),
    }
    return Dialogue(
        id=name,
        features={k: torch.from_numpy(v) for k, v in features.items()},
        speakers=torch.from_numpy(speakers),
        labels=torch.from_numpy(labels),
    )


def _read_splits(
    raw: dict[str, Any], positions: dict[str, int], text_field: str
) -> tuple[dict[str, list[Dialogue]], str, int, int]:
    """The train/test dialogues, the speaker format, the speaker id count and the largest label id (-1: none)."""
    splits: dict[str, list[Dialogue]] = {"train": [], "test": []}
    speaker_format, speaker_dim = "", 0
    max_label = -1
    for split in ("train", "test"):
        for vid in _id_list(raw[split]) or []:
            name = str(vid)
            speakers, fmt, dim = _speaker_ids(raw["speakers"][vid], name)
            if speaker_format and fmt != speaker_format:
                raise ValueError(f"dialogue {name!r}: speakers given as {fmt}, earlier ones as {speaker_format}")
            speaker_format, speaker_dim = fmt, max(speaker_dim, dim)
            dialogue = _read_dialogue(raw, positions, vid, text_field, speakers)
            if dialogue.labels.numel():
                max_label = max(max_label, int(dialogue.labels.max()))
            splits[split].append(dialogue)
    return splits, speaker_format, speaker_dim, max_label


def _check_dims(path: Path, layout: str, every: list[Dialogue]) -> dict[str, int]:
    """The feature widths shared by all dialogues; raises when there are none or they differ."""
    if not every:
        raise ValueError(f"{path} ({layout} layout) lists no train or test dialogues")
    modality_dims = every[0].modality_dims
    for dialogue in every[1:]:
        if dialogue.modality_dims != modality_dims:
            raise ValueError(
                f"{path}: dialogue {dialogue.id!r} has feature dims {dialogue.modality_dims}, "
                f"dialogue {every[0].id!r} has {modality_dims}"
            )
    return modality_dims


def _label_names(
    path: Path,
    dataset: str | None,
    label_names: Sequence[str] | None,
    *,
    max_label: int,
    speaker_format: str,
    speaker_dim: int,
    audio_dim: int | None,
    trailing: bool,
) -> tuple[str, ...]:
    """The class names: ``label_names``, else those of ``dataset`` (inferred when ``None``); checks ``max_label``."""
    num_labels = max_label + 1
    if label_names is not None:
        names = tuple(label_names)
    else:
        if dataset is None:
            dataset, reason = _infer_dataset(
                speaker_format=speaker_format,
                speaker_dim=speaker_dim,
                audio_dim=audio_dim,
                num_labels=num_labels,
                trailing=trailing,
            )
            if dataset is None:
                raise ValueError(
                    f"cannot tell which dataset {path} holds ({reason}); pass dataset='iemocap' or "
                    "'meld', or label_names=[...]"
                )
            logger.info("%s: inferred dataset %s from %s", path, dataset, reason)
        names = EMOTION_LABELS[dataset]
    if num_labels > len(names):
        raise ValueError(
            f"{path} has label id {max_label}, but the label set has only {len(names)} classes {names}; "
            "pass the right dataset= or label_names="
        )
    return names


def load_feature_pickle(
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    label_names: Sequence[str] | None = None,
    text_field: str = "roberta1",
) -> FeatureSet:
    """Load a MERC feature pickle, detecting its layout (see the module docstring).

    .. warning::
        Unpickling can run arbitrary code: open ONLY TRUSTED FILES. A warning is logged the first
        time each path is opened.

    Args:
        path: the ``.pkl`` file. Python-2 pickles are re-read with ``encoding="latin1"``.
        dataset: ``"iemocap"`` or ``"meld"``; inferred when ``None`` (speaker format, MELD's trailing
            field, audio width 1582 vs 300, number of label ids).
        label_names: class names for other datasets (overrides ``dataset``).
        text_field: which text features to use in the SDT layout: ``"roberta1"`` (``videoText``, what
            SDT itself uses; the default), ``"roberta2"``…``"roberta4"``, ``"mean"`` of the four or
            their ``"concat"``. Ignored (with a log message) for the other layouts.

    Returns:
        A :class:`FeatureSet` with modalities ``text``/``audio``/``visual`` (each ``[T, D_m]`` per
        dialogue), an empty ``dev`` split and string dialogue ids (``str(key)``).

    Raises:
        ValueError: the file matches no layout (the message lists what was found), or its contents
            are inconsistent (named by dialogue and modality), or the dataset cannot be inferred.
    """
    _check_load_args(dataset, label_names, text_field)
    path = Path(path)
    layout, positions, raw = _open_layout(path, text_field)
    splits, speaker_format, speaker_dim, max_label = _read_splits(raw, positions, text_field)
    modality_dims = _check_dims(path, layout, splits["train"] + splits["test"])
    names = _label_names(
        path,
        dataset,
        label_names,
        max_label=max_label,
        speaker_format=speaker_format,
        speaker_dim=speaker_dim,
        audio_dim=modality_dims.get("audio"),
        trailing="trailing" in positions,
    )
    extras: dict[str, Any] = {}
    if "trailing" in positions:
        extras["trailing_field"] = raw["trailing"]
    result = FeatureSet(
        train=splits["train"],
        test=splits["test"],
        dev=[],
        label_names=names,
        num_speakers=max(speaker_dim, 1),
        modality_dims=dict(modality_dims),
        layout=layout,
        source=str(path),
        synthetic=False,
        extras=extras,
    )
    logger.info("loaded %s", result.summary().splitlines()[0])
    return result


# ---------------------------------------------------------------------------------------------- saving


def _save_options(
    features: FeatureSet,
    layout: str,
    speaker_format: str,
    text_singleton_axis: bool | None,
    trailing_field: bool | None,
) -> tuple[str, bool, bool]:
    """Validate the save options and resolve the ``"auto"``/``None`` ones: ``(speakers, singleton, trailing)``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if speaker_format not in ("auto", "letters", "onehot"):
        raise ValueError(f"speaker_format must be 'auto', 'letters' or 'onehot', got {speaker_format!r}")
    if set(features.modality_dims) != set(MODALITIES):
        raise ValueError(
            f"the {layout} layout stores exactly the modalities {MODALITIES}; "
            f"this feature set has {tuple(features.modality_dims)}"
        )
    if speaker_format == "auto":
        speaker_format = "letters" if features.num_speakers <= 2 else "onehot"
    if speaker_format == "letters" and features.num_speakers > 2:
        raise ValueError(f"speaker_format='letters' holds 2 speakers, the set has {features.num_speakers}")
    if text_singleton_axis is None:
        text_singleton_axis = layout == "vega" and features.dataset == "iemocap"
    if trailing_field is None:
        trailing_field = layout != "vega" and ("trailing_field" in features.extras or features.dataset == "meld")
    if trailing_field and layout == "vega":
        raise ValueError("the vega layout has no trailing field; use trailing_field=False")
    return speaker_format, text_singleton_axis, trailing_field


def _train_dialogues(features: FeatureSet, layout: str) -> list[Dialogue]:
    """The dialogues written to ``trainVid``: train, then dev (folded in, with a log message)."""
    train = list(features.train)
    if features.dev:
        logger.info(
            "folding %d dev dialogues into trainVid (the %s layout has no dev split)",
            len(features.dev),
            layout,
        )
        train += list(features.dev)
    return train


def _check_unique_ids(dialogues: list[Dialogue]) -> None:
    """Raise when a dialogue id occurs twice (the files key every field by id)."""
    ids = [d.id for d in dialogues]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"dialogue ids must be unique across splits to be written; repeated: {duplicates}")


def _field_dicts(
    dialogues: list[Dialogue], num_speakers: int, speaker_format: str, text_singleton_axis: bool
) -> dict[str, dict[str, Any]]:
    """Per-field dicts keyed by dialogue id: ids, speakers, labels, text ``[T, D]``/``[1, T, D]``, audio, visual…"""
    eye = np.eye(num_speakers, dtype=np.int64)
    fields: dict[str, dict[str, Any]] = {
        name: {} for name in ("ids", "speakers", "labels", "text", "audio", "visual", "sentences")
    }
    for d in dialogues:
        spk = d.speakers.numpy()
        if speaker_format == "letters":
            fields["speakers"][d.id] = ["M" if s == 0 else "F" for s in spk.tolist()]
        else:
            fields["speakers"][d.id] = eye[spk].tolist()
        fields["labels"][d.id] = d.labels.tolist()
        t = d.features["text"].detach().cpu().numpy().astype(np.float32)
        fields["text"][d.id] = t[None] if text_singleton_axis else t
        fields["audio"][d.id] = d.features["audio"].detach().cpu().numpy().astype(np.float32)
        fields["visual"][d.id] = d.features["visual"].detach().cpu().numpy().astype(np.float32)
        fields["ids"][d.id] = [f"{d.id}_{i}" for i in range(d.length)]
        fields["sentences"][d.id] = [""] * d.length
    return fields


def _record(
    layout: str, fields: dict[str, dict[str, Any]], train_ids: list[str], test_ids: list[str]
) -> tuple[Any, ...]:
    """The pickled tuple in ``layout``'s field order (SDT: the text dict in all four RoBERTa fields)."""
    order = {
        "vega": ("speakers", "labels", "text", "audio", "visual"),
        "dialoguernn": ("ids", "speakers", "labels", "text", "audio", "visual", "sentences"),
        "sdt": ("ids", "speakers", "labels", "text", "text", "text", "text", "audio", "visual", "sentences"),
    }[layout]
    return (*(fields[name] for name in order), train_ids, test_ids)


def _write_pickle(path: str | os.PathLike[str], record: tuple[Any, ...]) -> Path:
    """Pickle ``record`` (protocol 4) to ``path`` atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            pickle.dump(record, fh, protocol=4)

    return atomic_write(path, write)


def save_feature_pickle(
    features: FeatureSet,
    path: str | os.PathLike[str],
    layout: str = "vega",
    *,
    speaker_format: str = "auto",
    text_singleton_axis: bool | None = None,
    trailing_field: bool | None = None,
) -> Path:
    """Write ``features`` as an official-style pickle (atomically) that :func:`load_feature_pickle`
    and the official loaders can read.

    Args:
        features: must have exactly the modalities ``text``, ``audio``, ``visual``. Its ``dev``
            dialogues are folded into ``trainVid`` (the official layouts have no dev split), with a
            log message.
        path: destination ``.pkl``.
        layout: ``"vega"``, ``"dialoguernn"`` or ``"sdt"``. For ``"sdt"`` the text features are
            written to all four RoBERTa fields.
        speaker_format: ``"letters"`` (``'M'`` for id 0, ``'F'`` for id 1; at most 2 speakers),
            ``"onehot"`` (vectors of length ``num_speakers``) or ``"auto"`` (letters when
            ``num_speakers <= 2``).
        text_singleton_axis: write text as ``[1, T, D]`` like VEGA's IEMOCAP file; ``None`` = only
            for the ``"vega"`` layout with IEMOCAP labels.
        trailing_field: append MELD's extra last field (10/13-field files; not for ``"vega"``);
            ``None`` = when the set came from such a file or has MELD labels. Its stored value is
            written back when known, else an empty dict.

    Returns:
        ``Path(path)``.
    """
    speaker_format, text_singleton_axis, trailing_field = _save_options(
        features, layout, speaker_format, text_singleton_axis, trailing_field
    )
    train = _train_dialogues(features, layout)
    everything = train + list(features.test)
    _check_unique_ids(everything)
    fields = _field_dicts(everything, features.num_speakers, speaker_format, text_singleton_axis)
    record = _record(layout, fields, [d.id for d in train], [d.id for d in features.test])
    if trailing_field:
        record = (*record, features.extras.get("trailing_field", {}))
    out = _write_pickle(path, record)
    logger.info("wrote %d dialogues to %s (%s layout)", len(everything), out, layout)
    return out
