"""Exemplar pools: labelled face images read from the datasets users have, mapped to a label set.

A pool is a flat list of images (paths or PIL images) with one emotion label and one source id each
(:class:`ExemplarPool`). Readers keep each dataset's own emotion names; :func:`map_pool` then maps
them onto the target classes (e.g. IEMOCAP's), with an explicit ``{target: source}`` mapping for the
classes a face dataset does not have (``excited=happy``).

Native emotion ids per dataset (the readers translate ids to these names):

* **FER2013** (``fer2013.csv``: ``emotion,pixels,Usage``; 48×48 grayscale pixel strings):
  0 anger, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral (:data:`FER2013_EMOTIONS`).
* **FER+** (``fer2013new.csv``: ``Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,
  fear,contempt,unknown,NF``; 10 annotator votes per FER2013 row, same row order):
  :data:`FERPLUS_EMOTIONS`. The label is the majority vote over the eight emotions; a row is dropped
  when its ``Image name`` is empty, when ``unknown`` or ``NF`` (not a face) has at least as many
  votes as the best emotion, when the best emotion has fewer than ``min_votes`` votes, and — with
  ``ties="drop"`` (default) — when two emotions tie for the most votes (``ties="first"`` keeps the
  first in column order).
* **RAF-DB basic** (``EmoLabel/list_patition_label.txt``: ``train_00001.jpg 5`` per line;
  images ``Image/aligned/train_00001_aligned.jpg``): 1 surprise, 2 fear, 3 disgust, 4 happy,
  5 sad, 6 anger, 7 neutral (:data:`RAFDB_EMOTIONS`).
* **AffectNet** (a folder per expression id ``root/<id>/*.jpg``, or the annotation CSV with
  ``subDirectory_filePath`` and ``expression`` columns): 0 neutral, 1 happy, 2 sad, 3 surprise,
  4 fear, 5 disgust, 6 anger, 7 contempt (:data:`AFFECTNET_EMOTIONS`); ids 8 (none), 9 (uncertain)
  and 10 (no face) are skipped.
* **folder** (``root/<class name>/**/*.jpg``, :func:`~vega_anchors.anchors.folder.find_class_images`):
  the folder names, through :func:`~vega_anchors.labels.canonical_label`.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..images import ImageLike, list_images, load_image
from ..labels import canonical_label

__all__ = [
    "AFFECTNET_EMOTIONS",
    "FER2013_EMOTIONS",
    "FERPLUS_EMOTIONS",
    "POOL_READERS",
    "RAFDB_EMOTIONS",
    "ExemplarPool",
    "load_pool",
    "load_source_images",
    "map_pool",
    "parse_mapping",
    "read_affectnet",
    "read_fer2013",
    "read_ferplus",
    "read_image_folder_pool",
    "read_rafdb",
]

logger = logging.getLogger(__name__)

FER2013_EMOTIONS: dict[int, str] = {
    0: "anger",
    1: "disgust",
    2: "fear",
    3: "happy",
    4: "sad",
    5: "surprise",
    6: "neutral",
}
"""FER2013's ``emotion`` ids → canonical names (FER2013's own: Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral)."""

FERPLUS_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear", "contempt")
"""FER+ vote columns (``neutral, happiness, surprise, sadness, anger, disgust, fear, contempt``) as canonical names."""

RAFDB_EMOTIONS: dict[int, str] = {
    1: "surprise",
    2: "fear",
    3: "disgust",
    4: "happy",
    5: "sad",
    6: "anger",
    7: "neutral",
}
"""RAF-DB basic ids (``list_patition_label.txt``) → canonical names."""

AFFECTNET_EMOTIONS: dict[int, str] = {
    0: "neutral", 1: "happy", 2: "sad", 3: "surprise", 4: "fear", 5: "disgust", 6: "anger", 7: "contempt",
}  # fmt: skip
"""AffectNet expression ids → canonical names (8 none, 9 uncertain, 10 no-face are skipped)."""

_FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
_FER_SIZE = 48


@dataclass
class ExemplarPool:
    """Labelled candidate exemplars: ``images[i]`` has emotion ``labels[i]`` and id ``sources[i]``.

    ``images`` are paths or PIL images (FER2013/FER+ decode their pixel strings to 48×48 grayscale
    images). ``sources`` are stable ids a bank records for the images it chose: a file path, or
    ``"<csv path>#<row>"`` for a FER2013 row (row = 0-based data row). ``dataset`` names the reader.
    """

    images: list[ImageLike]
    labels: list[str]
    sources: list[str]
    dataset: str = "custom"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (len(self.images) == len(self.labels) == len(self.sources)):
            raise ValueError(
                f"pool has {len(self.images)} images, {len(self.labels)} labels and {len(self.sources)} sources; "
                "they must be the same length"
            )

    def __len__(self) -> int:
        return len(self.images)

    def counts(self) -> dict[str, int]:
        """``{label: number of images}``, labels in first-seen order."""
        return dict(Counter(self.labels))

    def subset(self, indices: Sequence[int]) -> ExemplarPool:
        """The pool restricted to ``indices`` (in that order)."""
        return ExemplarPool(
            [self.images[i] for i in indices],
            [self.labels[i] for i in indices],
            [self.sources[i] for i in indices],
            self.dataset,
            dict(self.info),
        )


# ---- readers -------------------------------------------------------------------------------------
def _pixels_to_image(pixels: str, where: str) -> Image.Image:
    values = np.array(pixels.split(), dtype=np.int64) if pixels.strip() else np.zeros(0, dtype=np.int64)
    if values.size != _FER_SIZE * _FER_SIZE or values.min() < 0 or values.max() > 255:
        raise ValueError(
            f"{where}: pixels must be {_FER_SIZE * _FER_SIZE} space-separated values in 0..255, got {values.size}"
        )
    return Image.fromarray(values.astype(np.uint8).reshape(_FER_SIZE, _FER_SIZE), mode="L")


def _read_csv(path: Path, required: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        rows = list(reader)
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {header}")
    return header, rows


def _usage_filter(usage: str | Sequence[str] | None) -> set[str] | None:
    if usage is None:
        return None
    return {usage} if isinstance(usage, str) else set(usage)


def read_fer2013(path: str | os.PathLike[str], *, usage: str | Sequence[str] | None = None) -> ExemplarPool:
    """Read ``fer2013.csv`` (``emotion,pixels,Usage``) into a pool of 48×48 grayscale PIL images.

    Args:
        path: the CSV.
        usage: keep only rows whose ``Usage`` is this (``"Training"``, ``"PublicTest"``,
            ``"PrivateTest"``) or one of these; ``None`` keeps all.

    Sources are ``"<path>#<row>"`` (0-based data row), which :func:`load_source_images` decodes again.
    """
    path = Path(path)
    header, rows = _read_csv(path, ("emotion", "pixels"))
    col_e, col_p = header.index("emotion"), header.index("pixels")
    col_u = header.index("Usage") if "Usage" in header else None
    keep = _usage_filter(usage)
    images: list[ImageLike] = []
    labels, sources = [], []
    for row_index, row in enumerate(rows):
        if not row:
            continue
        if keep is not None and (col_u is None or row[col_u].strip() not in keep):
            continue
        where = f"{path} row {row_index}"
        try:
            label = FER2013_EMOTIONS[int(row[col_e])]
        except (ValueError, KeyError) as err:
            raise ValueError(f"{where}: emotion must be an id 0..6 ({FER2013_EMOTIONS}), got {row[col_e]!r}") from err
        images.append(_pixels_to_image(row[col_p], where))
        labels.append(label)
        sources.append(f"{path}#{row_index}")
    logger.info("FER2013 %s: %d images %s", path, len(images), dict(Counter(labels)))
    return ExemplarPool(images, labels, sources, "fer2013")


def _ferplus_label(votes: Sequence[int], unknown: int, not_face: int, ties: str, min_votes: int) -> str | None:
    best = max(votes)
    if best < max(min_votes, 1) or best <= max(unknown, not_face):
        return None
    winners = [i for i, v in enumerate(votes) if v == best]
    if len(winners) > 1 and ties == "drop":
        return None
    return FERPLUS_EMOTIONS[winners[0]]


def read_ferplus(
    fer2013_csv: str | os.PathLike[str],
    ferplus_csv: str | os.PathLike[str],
    *,
    usage: str | Sequence[str] | None = None,
    ties: str = "drop",
    min_votes: int = 1,
) -> ExemplarPool:
    """FER2013 images with FER+ majority-vote labels (``fer2013new.csv``, same row order).

    Rules (see the module docstring): the label is the emotion with the most votes; rows without an
    ``Image name``, rows where ``unknown``/``NF`` get at least as many votes as the best emotion, and
    rows whose best emotion has fewer than ``min_votes`` votes are dropped; ties are dropped
    (``ties="drop"``) or resolved to the first column (``ties="first"``). ``info["dropped"]`` counts
    the dropped rows by reason.
    """
    if ties not in ("drop", "first"):
        raise ValueError(f"ties must be 'drop' or 'first', got {ties!r}")
    fer = read_fer2013(fer2013_csv)
    path = Path(ferplus_csv)
    header, rows = _read_csv(path, ("Image name", *_FERPLUS_COLUMNS, "unknown", "NF"))
    if len(rows) != len(fer):
        raise ValueError(
            f"{path} has {len(rows)} rows but {fer2013_csv} has {len(fer)}; FER+ labels follow FER2013's row "
            "order, so give the matching fer2013.csv"
        )
    keep = _usage_filter(usage)
    cols = [header.index(c) for c in _FERPLUS_COLUMNS]
    col_name, col_unknown, col_nf = header.index("Image name"), header.index("unknown"), header.index("NF")
    col_u = header.index("Usage") if "Usage" in header else None
    chosen: list[int] = []
    labels: list[str] = []
    dropped: Counter[str] = Counter()
    for i, row in enumerate(rows):
        if keep is not None and (col_u is None or row[col_u].strip() not in keep):
            continue
        if not row[col_name].strip():
            dropped["no image name"] += 1
            continue
        try:
            votes = [int(float(row[c] or 0)) for c in cols]
            unknown, not_face = int(float(row[col_unknown] or 0)), int(float(row[col_nf] or 0))
        except ValueError as err:
            raise ValueError(f"{path} row {i}: vote counts must be numbers ({err})") from err
        label = _ferplus_label(votes, unknown, not_face, ties, min_votes)
        if label is None:
            dropped["tie, unknown, not a face or too few votes"] += 1
            continue
        chosen.append(i)
        labels.append(label)
    pool = fer.subset(chosen)
    pool.labels, pool.dataset = labels, "ferplus"
    pool.info["dropped"] = dict(dropped)
    logger.info("FER+ %s: %d images kept, dropped %s", path, len(pool), dict(dropped))
    return pool


def read_rafdb(root: str | os.PathLike[str], *, split: str | None = None) -> ExemplarPool:
    """RAF-DB basic: ``root/EmoLabel/list_patition_label.txt`` + ``root/Image/aligned/<name>_aligned.jpg``.

    Args:
        root: the ``basic`` folder.
        split: ``"train"`` or ``"test"`` (file-name prefix), ``None`` = both.

    Missing images are listed in one error.
    """
    root = Path(root)
    labels_file = root / "EmoLabel" / "list_patition_label.txt"
    if not labels_file.is_file():
        raise FileNotFoundError(
            f"RAF-DB label list not found: {labels_file}; pass the RAF-DB 'basic' folder (which holds EmoLabel/ "
            "and Image/aligned/)"
        )
    images: list[ImageLike] = []
    labels, missing = [], []
    for n, line in enumerate(labels_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            name, label_id = line.split()
            label = RAFDB_EMOTIONS[int(label_id)]
        except (ValueError, KeyError) as err:
            raise ValueError(f"{labels_file} line {n}: expected '<name>.jpg <1..7>', got {line!r}") from err
        if split is not None and not name.startswith(split + "_"):
            continue
        stem, suffix = os.path.splitext(name)
        path = root / "Image" / "aligned" / f"{stem}_aligned{suffix}"
        if not path.is_file():
            missing.append(str(path))
            continue
        images.append(path)
        labels.append(label)
    if missing:
        raise FileNotFoundError(f"{len(missing)} RAF-DB image(s) missing, e.g. {missing[:3]}; unpack Image/aligned/")
    return ExemplarPool(images, labels, [str(p) for p in images], "rafdb")


def read_affectnet(path: str | os.PathLike[str], *, image_root: str | os.PathLike[str] | None = None) -> ExemplarPool:
    """AffectNet: a folder with one sub-folder per expression id (``root/0/``, ``root/1/`` ...) or the
    annotation CSV (``subDirectory_filePath``, ``expression``).

    For the CSV, image paths are ``image_root / subDirectory_filePath``; ``image_root`` defaults to
    ``Manually_Annotated_Images/`` next to the CSV when it exists, else the CSV's folder. Ids 8-10
    (none, uncertain, no face) are skipped; folders whose name is not an id 0..10 are an error.
    """
    path = Path(path)
    images: list[ImageLike] = []
    labels: list[str] = []
    if path.is_dir():
        for child in sorted(path.iterdir(), key=lambda p: p.name):
            if not child.is_dir() or child.name.startswith("."):
                continue
            if not child.name.isdigit() or int(child.name) > 10:
                raise ValueError(
                    f"{child}: AffectNet folders are expression ids 0..10; for folders named by emotion use "
                    "the 'folder' pool"
                )
            label = AFFECTNET_EMOTIONS.get(int(child.name))
            if label is None:
                continue
            found = list_images(child)
            images.extend(found)
            labels.extend([label] * len(found))
    else:
        header, rows = _read_csv(path, ("subDirectory_filePath", "expression"))
        col_f, col_e = header.index("subDirectory_filePath"), header.index("expression")
        if image_root is None:
            default = path.parent / "Manually_Annotated_Images"
            image_root = default if default.is_dir() else path.parent
        for i, row in enumerate(rows):
            try:
                label_id = int(row[col_e])
            except ValueError as err:
                raise ValueError(f"{path} row {i}: expression must be an id 0..10, got {row[col_e]!r}") from err
            label = AFFECTNET_EMOTIONS.get(label_id)
            if label is not None:
                images.append(Path(image_root) / row[col_f])
                labels.append(label)
    if not images:
        raise ValueError(f"no AffectNet images with expression ids 0..7 under {path}")
    return ExemplarPool(images, labels, [str(p) for p in images], "affectnet")


def read_image_folder_pool(root: str | os.PathLike[str], *, skip_unreadable: bool = False) -> ExemplarPool:
    """The folder-per-class layout (``root/<class>/**/*.jpg``) as a pool (labels = canonical folder names)."""
    from .folder import find_class_images

    groups = find_class_images(root, skip_unreadable=skip_unreadable)
    paths = [p for ps in groups.values() for p in ps]
    labels = [name for name, ps in groups.items() for _ in ps]
    return ExemplarPool(list(paths), labels, [str(p) for p in paths], "folder")


POOL_READERS: dict[str, Callable[..., ExemplarPool]] = {
    "fer2013": read_fer2013,
    "ferplus": read_ferplus,
    "rafdb": read_rafdb,
    "affectnet": read_affectnet,
    "folder": read_image_folder_pool,
}
"""Pool readers by name (the ``--pool`` choices of ``vega-anchors build-anchors``)."""


def load_pool(name: str, path: str | os.PathLike[str], **options: Any) -> ExemplarPool:
    """Read a pool with the reader called ``name`` (:data:`POOL_READERS`); ``ferplus`` also needs
    ``ferplus_csv=``."""
    if name not in POOL_READERS:
        raise ValueError(f"unknown pool {name!r}; choose one of {sorted(POOL_READERS)}")
    if name == "ferplus":
        if "ferplus_csv" not in options:
            raise ValueError("the ferplus pool needs the FER+ votes file (ferplus_csv=, CLI --ferplus-csv)")
        return read_ferplus(path, options.pop("ferplus_csv"), **options)
    return POOL_READERS[name](path, **options)


# ---- mapping ------------------------------------------------------------------------------------
def parse_mapping(items: Iterable[str]) -> dict[str, list[str]]:
    """``["excited=happy", "frustration=anger+disgust"]`` → ``{"excited": ["happy"], "frustration":
    ["anger", "disgust"]}`` (target class = dataset emotion(s), ``+`` joins several)."""
    mapping: dict[str, list[str]] = {}
    for item in items:
        target, sep, sources = item.partition("=")
        names = [s.strip() for s in sources.split("+") if s.strip()]
        if not sep or not target.strip() or not names:
            raise ValueError(f"mapping {item!r} must look like TARGET=SOURCE or TARGET=SOURCE+SOURCE (excited=happy)")
        mapping[target.strip()] = names
    return mapping


def map_pool(
    pool: ExemplarPool,
    classes: Sequence[str],
    mapping: Mapping[str, str | Sequence[str]] | None = None,
) -> ExemplarPool:
    """Relabel ``pool`` onto the target ``classes`` and drop the images of unused emotions.

    Each target class takes the pool images of the dataset emotion(s) ``mapping[target]`` names
    (``{"excited": "happy"}`` or ``{"frustration": ["anger", "disgust"]}``); a class not in
    ``mapping`` takes the emotion of the same name (through :func:`~vega_anchors.labels.canonical_label`).
    An image may serve several targets (it is then repeated). Labels of the result are the target
    names as given in ``classes``.

    Raises:
        ValueError: one error listing every target class left without images, the pool's emotions
            and how to map them.
    """
    mapping = dict(mapping or {})
    by_target = {canonical_label(c): c for c in classes}
    unknown = [t for t in mapping if canonical_label(t) not in by_target]
    if unknown:
        raise ValueError(f"mapping names target class(es) {unknown} that are not in classes {list(classes)}")
    sources_of: dict[str, list[str]] = {}
    for target in classes:
        value = next((v for k, v in mapping.items() if canonical_label(k) == canonical_label(target)), None)
        names = [target] if value is None else ([value] if isinstance(value, str) else list(value))
        sources_of[target] = [canonical_label(n) for n in names]
    pool_labels = [canonical_label(label) for label in pool.labels]
    available = set(pool_labels)
    unmapped = [t for t, srcs in sources_of.items() if not any(s in available for s in srcs)]
    if unmapped:
        present = sorted(available)
        raise ValueError(
            f"target class(es) {unmapped} have no images in the {pool.dataset} pool, whose emotions are {present}. "
            f"Map each to pool emotion(s): Python mapping={{{unmapped[0]!r}: 'happy'}}, "
            f"CLI --map {unmapped[0]}=happy (several: --map {unmapped[0]}=happy+surprise)"
        )
    index: list[int] = []
    labels: list[str] = []
    for target, srcs in sources_of.items():
        wanted = set(srcs)
        for i, label in enumerate(pool_labels):
            if label in wanted:
                index.append(i)
                labels.append(target)
    mapped = pool.subset(index)
    mapped.labels = labels
    mapped.info["mapping"] = {t: s for t, s in sources_of.items()}
    return mapped


# ---- source images ------------------------------------------------------------------------------
def load_source_images(sources: Sequence[str], root: str | os.PathLike[str] | None = None) -> list[Image.Image | None]:
    """Re-open the images a bank recorded (:attr:`AnchorBank.sources`): 8-bit RGB, ``None`` when missing.

    A source is a file path (relative ones are taken under ``root``; absolute ones that do not
    exist are also tried as ``root/<file name>``) or ``"<csv>#<row>"`` for a FER2013 row (the CSV is
    read once per file).
    """
    base = Path(root) if root is not None else None
    csv_rows: dict[str, dict[int, str]] = {}
    wanted_rows: dict[str, set[int]] = {}
    for source in sources:
        file, sep, row = source.rpartition("#")
        if sep and row.isdigit() and file.lower().endswith(".csv"):
            wanted_rows.setdefault(file, set()).add(int(row))
    for file, rows in wanted_rows.items():
        path = _resolve(file, base)
        if path is None:
            continue
        header, data = _read_csv(path, ("pixels",))
        col = header.index("pixels")
        csv_rows[file] = {i: data[i][col] for i in rows if i < len(data)}
    out: list[Image.Image | None] = []
    for source in sources:
        file, sep, row = source.rpartition("#")
        try:
            if sep and row.isdigit() and file.lower().endswith(".csv"):
                pixels = csv_rows.get(file, {}).get(int(row))
                out.append(None if pixels is None else _pixels_to_image(pixels, source).convert("RGB"))
                continue
            path = _resolve(source, base)
            out.append(None if path is None else load_image(path))
        except (OSError, ValueError) as err:
            logger.warning("cannot open source image %s: %s", source, err)
            out.append(None)
    return out


def _resolve(name: str, base: Path | None) -> Path | None:
    path = Path(name)
    candidates = [path] if path.is_absolute() else []
    if base is not None:
        candidates += [base / path] if not path.is_absolute() else [base / path.name]
    if not path.is_absolute():
        candidates.append(path)
    return next((c for c in candidates if c.is_file()), None)
