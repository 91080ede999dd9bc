"""A data report for a :class:`~vega_anchors.data.FeatureSet`: scales, defects, class and speaker balance.

``vega-anchors inspect-features PATH`` prints it for a feature pickle or a feature store.

Why the scale check matters: :class:`~vega_anchors.DualBranchVEGA` projects each modality with a
bias-free ``nn.Linear(D, H)`` and adds sinusoidal position embeddings (per-dim RMS ``√½ ≈ 0.707``)
and a speaker embedding (``N(0, 1)`` init, RMS ≈ 1) — together RMS ≈ :data:`CONTEXT_RMS` ≈ 1.22
per hidden dim. PyTorch's default ``Linear`` init (uniform in ``±1/√D``) maps features of per-dim
RMS ``r`` to RMS ≈ ``r/√3``. Unit-norm sentence embeddings (all-MiniLM-L6-v2: ``r = 1/√384 ≈ 0.051``)
then arrive ~40× below the context they are added to and the model does not learn from them
(MELD text: weighted F1 0.22, below the majority class). How the projection scales them after
training cannot be known from the file, so the report compares the feature RMS with
:data:`MIN_FEATURE_RMS` (projected RMS ≈ 0.12, 10× below the context) and recommends
``VEGAConfig(input_norm="standardize")``, which rescales every dimension to unit variance using
training-split statistics.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .types import FeatureSet

__all__ = [
    "CONTEXT_RMS",
    "MAX_FEATURE_RMS",
    "MIN_FEATURE_RMS",
    "FeatureReport",
    "ModalityStats",
    "SplitStats",
    "feature_report",
]

CONTEXT_RMS: float = math.sqrt(0.5 + 1.0)
"""Per-dim RMS of what DualBranchVEGA adds to the projected features: sinusoidal positions (RMS √½)
plus a speaker embedding (N(0, 1) init, RMS 1)."""

MIN_FEATURE_RMS: float = 0.2
"""Warn below this per-dim feature RMS: after a freshly initialised projection (RMS ÷ √3) the
features are > 10× smaller than :data:`CONTEXT_RMS`."""

MAX_FEATURE_RMS: float = 100.0
"""Warn above this per-dim feature RMS (unscaled raw descriptors): large inputs saturate attention
softmaxes and make the learning rate too large for the input projection."""

_SPLIT_RMS_RATIO = 3.0  # warn when a split's RMS differs from train's by more than this factor


@dataclass
class ModalityStats:
    """One modality's numbers.

    Attributes:
        name: modality name; dim: feature width ``D``.
        rms: per split, ``sqrt(mean(x²))`` over all values (the per-dim RMS).
        mean_norm: per split, the mean L2 norm of an utterance's feature vector.
        nonfinite: per split, the number of NaN/Inf values.
        constant_dims: dims with zero variance on the training split (all splits when train is empty).
        projected_ratio: :data:`CONTEXT_RMS` over the projected RMS at init (``rms/√3``), on train.
    """

    name: str
    dim: int
    rms: dict[str, float]
    mean_norm: dict[str, float]
    nonfinite: dict[str, int]
    constant_dims: list[int]
    projected_ratio: float


@dataclass
class SplitStats:
    """One split's counts: dialogues, utterances, unlabelled utterances, dialogue lengths, utterances per
    class (every class, zeros included) and per speaker id."""

    name: str
    dialogues: int
    utterances: int
    unlabelled: int
    min_length: int
    mean_length: float
    max_length: int
    class_counts: dict[str, int]
    speaker_counts: dict[str, int]


@dataclass
class FeatureReport:
    """What :func:`feature_report` found. ``warnings`` lists problems worth fixing before training."""

    source: str
    layout: str
    label_names: tuple[str, ...]
    num_speakers: int
    modalities: dict[str, ModalityStats]
    splits: dict[str, SplitStats]
    warnings: list[str] = field(default_factory=list)
    media: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Features built from clips (``extras["media"]``): modality → split → ``utterances``, ``masked``,
    ``missing_media``, ``failed`` and ``no_face_rate`` (visual) or ``silent`` (audio)."""
    zero_shot: dict[str, float] = field(default_factory=dict)
    """With ``anchors=``: split → accuracy of the visual features' nearest anchor (cosine) vs the labels."""
    speaker_cells: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per split: list-valued speaker cells (``list``), those naming several speakers (``several``), ``[]``
    (``empty``) — from the tables (``extras["speaker_cells"]``)."""
    encoder: dict[str, Any] | None = None
    """The text encoder's identity (``extras["encoder"]``), when the store records it."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable values."""
        return asdict(self)

    def format(self) -> str:
        """A readable multi-line report."""
        lines = [
            f"Features: {self.source} (layout {self.layout})",
            f"  classes ({len(self.label_names)}): {', '.join(self.label_names)}; speaker ids: {self.num_speakers}",
            "",
            "Modalities (per-dim RMS | mean L2 norm per utterance):",
        ]
        for stats in self.modalities.values():
            lines.append(f"  {stats.name} [{stats.dim}-d]")
            for split in stats.rms:
                lines.append(
                    f"    {split:<5} RMS {stats.rms[split]:.4g} | norm {stats.mean_norm[split]:.4g}"
                    + (f" | {stats.nonfinite[split]} NaN/Inf values" if stats.nonfinite[split] else "")
                )
            if stats.constant_dims:
                shown = ", ".join(map(str, stats.constant_dims[:10]))
                more = " ..." if len(stats.constant_dims) > 10 else ""
                lines.append(f"    constant dims: {len(stats.constant_dims)} ({shown}{more})")
            lines.append(f"    context/projected-feature scale at init: {stats.projected_ratio:.1f}×")
        lines.extend(_media_lines(self.media, self.zero_shot))
        for counts in self.splits.values():
            lines.append("")
            lines.append(
                f"{counts.name}: {counts.dialogues} dialogues, {counts.utterances} utterances"
                + (f" ({counts.unlabelled} unlabelled)" if counts.unlabelled else "")
                + (
                    f"; length {counts.min_length}–{counts.max_length} (mean {counts.mean_length:.1f})"
                    if counts.dialogues
                    else ""
                )
            )
            total = max(sum(counts.class_counts.values()), 1)
            lines.append(
                "  classes:  " + ", ".join(f"{k} {v} ({100 * v / total:.1f}%)" for k, v in counts.class_counts.items())
            )
            if counts.speaker_counts:
                lines.append("  speakers: " + ", ".join(f"{k} {v}" for k, v in counts.speaker_counts.items()))
            cells = self.speaker_cells.get(counts.name)
            if cells:
                lines.append(
                    f"  speaker cells: {cells.get('list', 0)} list-valued, {cells.get('several', 0)} with several "
                    f"speakers, {cells.get('empty', 0)} empty"
                )
        if self.encoder:
            lines.append("")
            lines.append("Text encoder: " + ", ".join(f"{k} {v}" for k, v in self.encoder.items()))
        lines.append("")
        if self.warnings:
            lines.append(f"WARNINGS ({len(self.warnings)}):")
            lines.extend(f"  - {w}" for w in self.warnings)
        else:
            lines.append("No warnings.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _moments(rows: torch.Tensor) -> tuple[float, float, int]:
    """(per-dim RMS, mean L2 norm per row, non-finite count) over the finite rows of ``rows [N, D]``."""
    rows = rows.double()
    finite = torch.isfinite(rows)
    bad = int((~finite).sum())
    clean = torch.where(finite, rows, torch.zeros_like(rows))
    if rows.numel() == 0:
        return math.nan, math.nan, bad
    rms = float(clean.pow(2).mean().sqrt())
    norm = float(clean.norm(dim=1).mean())
    return rms, norm, bad


def _speaker_names(features: FeatureSet) -> list[str]:
    """The speaker names to show: ``extras["speaker_names"]`` when it fits, else the ids as strings."""
    speaker_names = features.extras.get("speaker_names")
    if not (isinstance(speaker_names, list) and len(speaker_names) == features.num_speakers):
        speaker_names = [str(i) for i in range(features.num_speakers)]
    return speaker_names


def _modality_rows(dialogues: Any, modality: str, dim: int) -> torch.Tensor:
    """All utterances' ``modality`` features of ``dialogues`` as one CPU tensor ``[N, dim]``."""
    return torch.cat([d.features[modality].detach().cpu().reshape(-1, dim) for d in dialogues])


def _constant_dims(dialogues: Any, modality: str, dim: int) -> list[int]:
    """The dims of ``modality`` with zero spread (non-finite values read as 0) over ``dialogues``."""
    rows = _modality_rows(dialogues, modality, dim).double()
    rows = torch.where(torch.isfinite(rows), rows, torch.zeros_like(rows))
    spread = rows.amax(0) - rows.amin(0) if rows.shape[0] else torch.zeros(dim)
    return spread.eq(0).nonzero().flatten().tolist()


def _modality_stats(modality: str, dim: int, splits: dict[str, Any]) -> tuple[ModalityStats, str | None]:
    """One modality's :class:`ModalityStats` and its reference split (train, else the first non-empty one)."""
    rms: dict[str, float] = {}
    norm: dict[str, float] = {}
    bad: dict[str, int] = {}
    for split, dialogues in splits.items():
        rms[split], norm[split], bad[split] = _moments(_modality_rows(dialogues, modality, dim))
    reference = "train" if "train" in splits else next(iter(splits), None)
    constant = _constant_dims(splits[reference], modality, dim) if reference is not None else []
    ref_rms = rms.get(reference, math.nan) if reference else math.nan
    ratio = CONTEXT_RMS / (ref_rms / math.sqrt(3)) if ref_rms and ref_rms > 0 else math.inf
    return ModalityStats(modality, dim, rms, norm, bad, constant, ratio), reference


def _scale_warnings(stats: ModalityStats, reference: str | None, min_rms: float, max_rms: float) -> list[str]:
    """Warnings on one modality's scale: too small or large on the reference split, splits off the reference."""
    warnings: list[str] = []
    modality, rms, ratio = stats.name, stats.rms, stats.projected_ratio
    ref_rms = rms.get(reference, math.nan) if reference else math.nan
    if reference is not None and ref_rms < min_rms:
        warnings.append(
            f"{modality} features are tiny: per-dim RMS {ref_rms:.3g} (mean L2 norm {stats.mean_norm[reference]:.3g}) "
            f"< {min_rms}. DualBranchVEGA adds position + speaker embeddings of RMS ≈ {CONTEXT_RMS:.2f} "
            f"to the projected features, which at init have RMS ≈ {ref_rms / math.sqrt(3):.3g} "
            f"({ratio:.0f}× smaller): the model may not learn from them. "
            'Use VEGAConfig(input_norm="standardize") (fit_input_normalization / fit do it on the training split).'
        )
    elif reference is not None and ref_rms > max_rms:
        warnings.append(
            f"{modality} features are large: per-dim RMS {ref_rms:.3g} > {max_rms}. "
            'Use VEGAConfig(input_norm="standardize") or scale them.'
        )
    for split, value in rms.items():
        if split != reference and reference is not None and value > 0 and ref_rms > 0:
            factor = max(value / ref_rms, ref_rms / value)
            if factor > _SPLIT_RMS_RATIO:
                warnings.append(
                    f"{modality} features of {split} have RMS {value:.3g}, {factor:.1f}× off {reference}'s "
                    f"{ref_rms:.3g}: were the splits extracted or normalised differently?"
                )
    return warnings


def _defect_warnings(stats: ModalityStats, reference: str | None) -> list[str]:
    """Warnings on one modality's NaN/Inf values and constant dims."""
    warnings: list[str] = []
    modality, dim, constant = stats.name, stats.dim, stats.constant_dims
    for split, count in stats.nonfinite.items():
        if count:
            warnings.append(f"{modality} features of {split} hold {count} NaN/Inf values; clean them first")
    if constant and len(constant) < dim:
        warnings.append(
            f"{modality}: {len(constant)} of {dim} dims are constant on {reference} (e.g. {constant[:5]}); "
            "they carry no information"
        )
    elif constant:
        warnings.append(f"{modality}: every dim is constant on {reference}; these features carry no information")
    return warnings


def _split_stats(split: str, dialogues: Any, label_names: Any, speaker_names: list[str]) -> tuple[SplitStats, bool]:
    """One split's :class:`SplitStats` (dialogue lengths, class and speaker counts) and whether it has labels."""
    lengths = [d.length for d in dialogues]
    labels = torch.cat([d.labels for d in dialogues]) if dialogues else torch.zeros(0, dtype=torch.long)
    speakers = torch.cat([d.speakers for d in dialogues]) if dialogues else torch.zeros(0, dtype=torch.long)
    class_counter = Counter(labels[labels >= 0].tolist())
    speaker_counter = Counter(speakers.tolist())
    stats = SplitStats(
        name=split,
        dialogues=len(dialogues),
        utterances=sum(lengths),
        unlabelled=int((labels < 0).sum()),
        min_length=min(lengths, default=0),
        mean_length=sum(lengths) / len(lengths) if lengths else 0.0,
        max_length=max(lengths, default=0),
        class_counts={name: class_counter.get(i, 0) for i, name in enumerate(label_names)},
        speaker_counts={
            (speaker_names[i] if 0 <= i < len(speaker_names) else str(i)): c for i, c in sorted(speaker_counter.items())
        },
    )
    return stats, bool(class_counter)


def _split_warnings(stats: SplitStats, labelled: bool) -> list[str]:
    """Warnings on one split: classes that never occur in it, a train split without labels."""
    warnings: list[str] = []
    if stats.dialogues and labelled:
        absent = [name for name, c in stats.class_counts.items() if c == 0]
        if absent:
            warnings.append(
                f"class(es) {absent} never occur in {stats.name}"
                + (": the model cannot learn them" if stats.name == "train" else ": their F1 is undefined there")
            )
    if stats.dialogues and stats.unlabelled == stats.utterances and stats.name == "train":
        warnings.append("the train split has no labels")
    return warnings


def feature_report(
    features: FeatureSet,
    *,
    min_rms: float = MIN_FEATURE_RMS,
    max_rms: float = MAX_FEATURE_RMS,
    anchors: Any = None,
) -> FeatureReport:
    """Inspect ``features``: per-modality scale and defects, class/speaker balance, dialogue lengths.

    Warns when a modality's per-dim RMS is below ``min_rms`` (too small next to the model's
    position/speaker embeddings, see the module docstring) or above ``max_rms``; when a split's
    scale differs from train's by more than 3×; on NaN/Inf values and constant dimensions; when a
    class has no utterance in a (non-empty, labelled) split.

    Features built from clips (``vega-anchors build-features --audio/--visual``) also get their
    masked utterances, silent audio and no-face rate per split (:attr:`FeatureReport.media`). Given
    ``anchors`` (an :class:`~vega_anchors.AnchorBank` of the visual encoder's space), the report adds
    the zero-shot accuracy of the visual features: each utterance's nearest anchor center (cosine),
    compared with its label — a diagnostic of the shared space (:attr:`FeatureReport.zero_shot`).
    """
    splits = {name: ds for name, ds in features.splits().items() if ds}
    warnings: list[str] = []
    modalities: dict[str, ModalityStats] = {}
    for modality, dim in features.modality_dims.items():
        stats, reference = _modality_stats(modality, dim, splits)
        modalities[modality] = stats
        warnings += _scale_warnings(stats, reference, min_rms, max_rms)
        warnings += _defect_warnings(stats, reference)

    speaker_names = _speaker_names(features)
    split_stats: dict[str, SplitStats] = {}
    for split, dialogues in features.splits().items():
        split_stats[split], labelled = _split_stats(split, dialogues, features.label_names, speaker_names)
        warnings += _split_warnings(split_stats[split], labelled)

    media = _media_stats(features, warnings)
    zero_shot = _zero_shot(features, anchors, warnings) if anchors is not None else {}
    return FeatureReport(
        media=media,
        zero_shot=zero_shot,
        source=features.source,
        layout=features.layout,
        label_names=tuple(features.label_names),
        num_speakers=features.num_speakers,
        modalities=modalities,
        splits=split_stats,
        warnings=warnings,
        speaker_cells=cells if isinstance(cells := features.extras.get("speaker_cells"), dict) else {},
        encoder=encoder if isinstance(encoder := features.extras.get("encoder"), dict) else None,
    )


# ---- features built from clips (vega_anchors.media) ---------------------------------------------------
_NO_FACE_WARN = 0.5  # warn when more than half of a split's utterances show no detected face


def _media_stats(features: FeatureSet, warnings: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    record = features.extras.get("media")
    if not isinstance(record, dict) or not isinstance(record.get("stats"), dict):
        return {}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for modality, per_split in record["stats"].items():
        out[modality] = {}
        for split, counts in per_split.items():
            stats = {k: float(v) for k, v in counts.items()}
            total = max(stats.get("utterances", 0.0), 1.0)
            if "no_face" in stats:
                stats["no_face_rate"] = stats["no_face"] / total
                if stats["no_face_rate"] > _NO_FACE_WARN:
                    warnings.append(
                        f"{modality} {split}: no face found in {stats['no_face_rate']:.0%} of utterances; "
                        "check the frames (--num-frames, the face detector) before trusting visual features"
                    )
            if stats.get("silent"):
                warnings.append(f"{modality} {split}: {int(stats['silent'])} of {int(total)} utterances are silent")
            if stats.get("masked"):
                warnings.append(
                    f"{modality} {split}: {int(stats['masked'])} of {int(total)} utterances are masked "
                    f"(filled with the training mean; listed in extras['media']['masked'])"
                )
            out[modality][split] = stats
    return out


def _zero_shot(features: FeatureSet, anchors: Any, warnings: list[str], modality: str = "visual") -> dict[str, float]:
    from ..labels import canonical_label

    if modality not in features.modality_dims:
        warnings.append(
            f"zero-shot accuracy needs a {modality!r} modality; the features have {list(features.modality_dims)}"
        )
        return {}
    centers = anchors.centers.detach().float().cpu()
    dim = features.modality_dims[modality]
    if dim not in (centers.shape[1], 2 * centers.shape[1]):
        warnings.append(f"{modality} features are {dim}-d, the anchors {centers.shape[1]}-d: not the same space")
        return {}
    index = {canonical_label(n): i for i, n in enumerate(features.label_names)}
    order = [index.get(canonical_label(n), -1) for n in anchors.class_names]
    masked = features.extras.get("media", {}).get("masked", {}).get(modality, {})
    out: dict[str, float] = {}
    for split, dialogues in features.splits().items():
        listed = masked.get(split, []) if isinstance(masked, dict) else []
        skip = {(m.get("dialogue"), m.get("row")) for m in listed if isinstance(m, dict)}
        hits = total = 0
        for dialogue in dialogues:
            rows = dialogue.features[modality].detach().float().cpu()[:, : centers.shape[1]]
            predicted = (torch.nn.functional.normalize(rows, dim=-1) @ centers.T).argmax(-1).tolist()
            for t, label in enumerate(dialogue.labels.tolist()):
                if label < 0 or (dialogue.id, t) in skip:
                    continue
                hits += int(order[predicted[t]] == label)
                total += 1
        if total:
            out[split] = hits / total
    return out


def _media_lines(media: dict[str, dict[str, dict[str, float]]], zero_shot: dict[str, float]) -> list[str]:
    lines: list[str] = []
    if media:
        lines += ["", "Media (utterances | masked | no face or silent):"]
        for modality, per_split in media.items():
            for split, s in per_split.items():
                extra = (
                    f"no face {s['no_face_rate']:.1%}" if "no_face_rate" in s else f"silent {int(s.get('silent', 0))}"
                )
                lines.append(
                    f"  {modality:<6} {split:<5} {int(s.get('utterances', 0))} | {int(s.get('masked', 0))} | {extra}"
                )
    if zero_shot:
        lines += ["", "Zero-shot accuracy of visual features vs anchors (nearest center): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in zero_shot.items())]  # fmt: skip
    return lines
