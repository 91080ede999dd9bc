"""The benchmark workloads: a training step, VEGA's overhead over its backbone, an epoch, and
anchor building. Each returns a list of JSON-ready records (see :func:`~._measure.record`).

Training steps are the engine's own :func:`~vega_anchors.training.train_step` (the step ``fit``
runs: autocast, loss, backward, the fp16 gradient scaler, AdamW), so benchmark numbers time the
code that trains.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..distributed import PRECISIONS, autocast
from ._measure import Record, Timing, _paired_ratio, _sig, count_flops, record, time_modes

if TYPE_CHECKING:
    from ..data import DialogueBatch
    from ..models import DualBranchVEGA

__all__ = [
    "IEMOCAP_LENGTHS",
    "IEMOCAP_MODALITIES",
    "ModelShape",
    "bench_anchors",
    "bench_epoch",
    "bench_overhead",
    "bench_train_step",
]

IEMOCAP_LENGTHS: tuple[int, ...] = (64, 48, 96, 30, 72, 55, 40, 88, 60)
"""Dialogue lengths of the benchmark batch (9 dialogues, the official batch size)."""

IEMOCAP_MODALITIES: dict[str, int] = {"text": 1024, "audio": 1582, "visual": 342}
"""Feature widths of the official IEMOCAP files."""


@dataclass(frozen=True)
class ModelShape:
    """The benchmarked model's sizes (default: the paper's IEMOCAP model).

    Every model workload takes ``shape=ModelShape(...)`` or these fields as keyword arguments
    (``bench_train_step(hidden_dim=32)`` = ``bench_train_step(shape=ModelShape(hidden_dim=32))``).
    ``modalities``: name → feature width (default :data:`IEMOCAP_MODALITIES`); the epoch workload
    takes modalities and classes from its synthetic data instead.
    """

    hidden_dim: int = 768
    num_heads: int = 4
    anchors_per_class: int = 35
    anchor_dim: int = 512
    num_classes: int = 6
    modalities: Mapping[str, int] | None = None

    @property
    def feature_dims(self) -> dict[str, int]:
        """``modalities``, or :data:`IEMOCAP_MODALITIES` when unset."""
        return dict(self.modalities or IEMOCAP_MODALITIES)


# ---- shared pieces of the model workloads ---------------------------------------------------------
def _resolve(shape: ModelShape | None, shape_fields: Mapping[str, Any]) -> ModelShape:
    """``shape`` (default :class:`ModelShape`) with ``shape_fields`` replaced; unknown names raise
    ``TypeError``."""
    return dataclasses.replace(shape or ModelShape(), **shape_fields)


def _parse_mode(mode: str, suffix: str = "padded") -> tuple[str, bool]:
    """``"bf16-padded"`` → ("bf16", True): the precision and whether the ``suffix`` is present."""
    precision, _, rest = mode.partition("-")
    if precision not in PRECISIONS or rest not in ("", suffix):
        raise ValueError(f"unknown mode {mode!r}; use fp32, bf16 or fp16, optionally with '-{suffix}'")
    return precision, rest == suffix


def _random_batch(lengths: Sequence[int], shape: ModelShape, num_speakers: int, seed: int) -> DialogueBatch:
    from ..data import Dialogue, collate_dialogues

    gen = torch.Generator().manual_seed(seed)
    dialogues = [
        Dialogue(
            id=f"bench_{i}",
            features={m: torch.randn(n, d, generator=gen) for m, d in shape.feature_dims.items()},
            speakers=torch.randint(num_speakers, (n,), generator=gen),
            labels=torch.randint(shape.num_classes, (n,), generator=gen),
        )
        for i, n in enumerate(lengths)
    ]
    return collate_dialogues(dialogues)


def _build_model(
    shape: ModelShape, *, with_anchors: bool, max_utterances: int, device: torch.device, seed: int
) -> DualBranchVEGA:
    from ..anchors.bank import AnchorBank
    from ..models import DualBranchVEGA, VEGAConfig

    torch.manual_seed(seed)
    config = VEGAConfig.iemocap(
        modalities=shape.feature_dims,
        hidden_dim=shape.hidden_dim,
        num_heads=shape.num_heads,
        num_classes=shape.num_classes,
        anchor_dim=shape.anchor_dim,
        max_utterances=max(512, max_utterances),
        class_weights=None,
    )
    bank = None
    if with_anchors:
        gen = torch.Generator().manual_seed(seed)
        bank = AnchorBank.from_features(
            {f"class_{c}": torch.randn(shape.anchors_per_class, shape.anchor_dim, generator=gen)
             for c in range(shape.num_classes)}
        )  # fmt: skip
    else:
        config = config.model_copy(
            update={"losses": config.losses.model_copy(update={"anchor": False, "anchor_kl": False})}
        )
    # validate_inputs=False: the checks' host syncs are not part of the model's cost
    model = DualBranchVEGA(config, bank, validate_inputs=False).to(device)
    model.train()  # dropout on, like the official training (dropout 0.53)
    return model


class _Trainer:
    """A model with the engine's optimizer and gradient scaler: ``step_fn(batch, precision)`` is
    one :func:`~vega_anchors.training.train_step`, as ``fit`` runs it."""

    def __init__(self, model: DualBranchVEGA, device: torch.device) -> None:
        from ..training import make_optimizer

        self.model, self.device = model, device
        self.optimizer = make_optimizer(model, lr=1e-5, weight_decay=0.01, device=device)
        self.scalers: dict[str, torch.amp.GradScaler] = {}

    def step_fn(self, batches: Sequence[DialogueBatch], precision: str, *, packed: bool = True) -> Callable[[], None]:
        """One training step per batch of ``batches`` (on ``packed`` or the padded path)."""
        from ..training import make_scaler, train_step

        scaler = self.scalers.setdefault(precision, make_scaler(self.device, precision))  # type: ignore[arg-type]

        def run() -> None:
            if hasattr(self.model, "packed"):
                setattr(self.model, "packed", packed)  # noqa: B010 - the attribute is not on nn.Module
            for batch in batches:
                train_step(self.model, batch, self.optimizer, scaler=scaler, precision=precision)  # type: ignore[arg-type]

        return run


# ---- workloads ------------------------------------------------------------------------------------
def bench_train_step(
    modes: Sequence[str] = ("fp32", "fp32-padded", "bf16"),
    *,
    lengths: Sequence[int] = IEMOCAP_LENGTHS,
    shape: ModelShape | None = None,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **shape_fields: Any,
) -> list[Record]:
    """One training step of DualBranchVEGA (all four loss families, training mode) per mode.

    ``modes``: ``"fp32"``/``"bf16"``/``"fp16"`` run the packed (padding-free) path, ``"-padded"``
    the padded baseline (``model.packed = False``). All modes share one model and one batch
    ``[len(lengths), max(lengths)]`` and are timed interleaved. Records carry ``median_ms``,
    ``min_ms``, FLOPs of the step (forward + backward), achieved GFLOP/s, the same-run GEMM peak
    and ``ratio_to_peak``, ``peak_memory_mb``, ``speedup_vs_padded`` (vs the padded mode of the
    same precision, when it is among ``modes``) and ``speedup_vs_fp32``. ``shape_fields``: fields of
    :class:`ModelShape` overriding ``shape``.
    """
    device, shape = torch.device(device), _resolve(shape, shape_fields)
    parsed = {mode: _parse_mode(mode) for mode in modes}
    trainer = _Trainer(
        _build_model(shape, with_anchors=True, max_utterances=max(lengths), device=device, seed=seed), device
    )
    batch = _random_batch(lengths, shape, trainer.model.config.num_speakers, seed).to(device)
    fns = {mode: trainer.step_fn([batch], p, packed=not padded) for mode, (p, padded) in parsed.items()}
    flops = {mode: count_flops(fn) for mode, fn in fns.items()}
    timing = time_modes(fns, {m: p for m, (p, _) in parsed.items()}, repeats=repeats, warmup=warmup, device=device)
    records = []
    for mode, (precision, padded) in parsed.items():
        out = record(
            "train_step", mode, timing, flops=flops[mode], precision=precision,
            path="padded" if padded else "packed", packed_path_available=hasattr(trainer.model, "packed"),
            batch=[len(lengths), max(lengths)], utterances=sum(lengths), hidden_dim=shape.hidden_dim,
        )  # fmt: skip
        if not padded and f"{precision}-padded" in parsed:
            out["speedup_vs_padded"] = timing.ratio(f"{precision}-padded", mode)
        fp32 = "fp32-padded" if padded else "fp32"
        if precision != "fp32" and fp32 in parsed:
            out["speedup_vs_fp32"] = timing.ratio(fp32, mode)
        records.append(out)
    return records


def bench_overhead(
    *,
    precision: str = "fp32",
    lengths: Sequence[int] = IEMOCAP_LENGTHS,
    shape: ModelShape | None = None,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **shape_fields: Any,
) -> list[Record]:
    """What VEGA costs on top of its backbone, timed interleaved.

    * train step: the full model (anchor branch + four loss families) vs a backbone-only model
      (``DualBranchVEGA(config, None)``, ``losses.anchor``/``anchor_kl`` off), same sizes.
    * inference: ``predict`` of the full model vs a plain forward of the backbone-only model
      (eval mode, no grad).

    Records carry ``median_ms`` etc. per mode and ``overhead`` = time / backbone time - 1.
    """
    device, shape = torch.device(device), _resolve(shape, shape_fields)
    full, backbone = (
        _Trainer(_build_model(shape, with_anchors=a, max_utterances=max(lengths), device=device, seed=seed), device)
        for a in (True, False)
    )
    batch = _random_batch(lengths, shape, full.model.config.num_speakers, seed).to(device)
    inputs = batch.model_inputs()

    def inference(model: DualBranchVEGA, predict: bool) -> Callable[[], None]:
        def run() -> None:
            model.eval()
            with torch.no_grad(), autocast(device, precision):
                if predict:
                    model.predict(**inputs)
                else:
                    model(**inputs)
            model.train()

        return run

    train = {
        "train_step_vega": full.step_fn([batch], precision),
        "train_step_backbone": backbone.step_fn([batch], precision),
    }
    infer = {"predict": inference(full.model, True), "forward_backbone": inference(backbone.model, False)}
    groups = ((train, "train_step_backbone"), (infer, "forward_backbone"))
    records = []
    for fns, base in groups:
        flops = {mode: count_flops(fn) for mode, fn in fns.items()}
        timing = time_modes(fns, dict.fromkeys(fns, precision), repeats=repeats, warmup=warmup, device=device)
        for mode in fns:
            out = record(
                "overhead", mode, timing, flops=flops[mode], precision=precision,
                batch=[len(lengths), max(lengths)], hidden_dim=shape.hidden_dim,
            )  # fmt: skip
            if mode != base:
                out["baseline"] = base
                out["overhead"] = round(timing.ratio(mode, base) - 1, 4)
            records.append(out)
    return records


def bench_epoch(
    modes: Sequence[str] = ("fp32", "bf16", "fp32-bucketed"),
    *,
    max_batches: int | None = None,
    num_dialogues: int | None = None,
    batch_size: int = 9,
    padded: bool = False,
    shape: ModelShape | None = None,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **shape_fields: Any,
) -> list[Record]:
    """Training throughput over ``synthetic_dialogues("iemocap")`` (120 dialogues), batch 9.

    ``modes``: ``fp32``/``bf16``, optionally ``-bucketed`` (length-bucketed batches,
    :func:`~vega_anchors.training.iterate_batches` with ``bucket_by_length=True``). One repeat is
    one pass over the epoch's batches — or over its first ``max_batches`` batches, in which case
    ``epoch_s`` is extrapolated from the utterance rate (``extrapolated: true``). Batches are
    collated once, outside timing. ``padded=True`` runs the padded path. Modalities and classes
    come from the synthetic data (``shape``'s are ignored).
    """
    from ..data.synthetic import synthetic_dialogues
    from ..training import iterate_batches

    device = torch.device(device)
    data = synthetic_dialogues("iemocap", seed=seed, num_train=num_dialogues, num_test=0)
    dialogues = data.train
    total_utterances = sum(d.length for d in dialogues)
    shape = dataclasses.replace(
        _resolve(shape, shape_fields), modalities=data.modality_dims, num_classes=len(data.label_names)
    )
    max_length = max(d.length for d in dialogues)
    trainer = _Trainer(
        _build_model(shape, with_anchors=True, max_utterances=max_length, device=device, seed=seed), device
    )
    parsed = {mode: _parse_mode(mode, "bucketed") for mode in modes}
    plans: dict[str, tuple[int, list[DialogueBatch]]] = {}
    for mode, (_, bucketed) in parsed.items():
        batches = list(iterate_batches(dialogues, batch_size, shuffle=True, seed=seed, bucket_by_length=bucketed))
        plans[mode] = (len(batches), [b.to(device) for b in batches[: max_batches or None]])
    fns = {mode: trainer.step_fn(plans[mode][1], p, packed=not padded) for mode, (p, _) in parsed.items()}
    timing = time_modes(fns, {m: p for m, (p, _) in parsed.items()}, repeats=repeats, warmup=warmup, device=device)

    def rates(mode: str) -> list[float]:  # utterances per second of each timed repeat
        return [sum(b.num_utterances for b in plans[mode][1]) / s for s in timing.seconds[mode]]

    records = []
    for mode, (precision, bucketed) in parsed.items():
        total_batches, timed = plans[mode]
        utterances = sum(b.num_utterances for b in timed)
        padded_slots = sum(b.batch_size * b.utterance_mask.shape[1] for b in timed)
        out = record(
            "epoch", mode, timing, unit="s", precision=precision, bucketed=bucketed,
            path="padded" if padded else "packed", packed_path_available=hasattr(trainer.model, "packed"),
            dialogues=len(dialogues), batch_size=batch_size, batches_timed=len(timed), batches_total=total_batches,
            extrapolated=len(timed) < total_batches, utterances_timed=utterances,
            padding_fraction=round(1 - utterances / padded_slots, 4),
            utterances_per_s=round(statistics.median(rates(mode)), 2), utterances_per_s_max=round(max(rates(mode)), 2),
            epoch_s=round(total_utterances / statistics.median(rates(mode)), 2),
        )  # fmt: skip
        if mode != "fp32" and "fp32" in parsed:
            # per round: this mode's utterance rate / fp32's (the modes may time different batches)
            out["speedup_vs_fp32"] = _paired_ratio(rates(mode), rates("fp32"))
        records.append(out)
    return records


# ---- anchor building ------------------------------------------------------------------------------
@contextlib.contextmanager
def _synthetic_folder(per_class: int, size: int, seed: int = 0) -> Iterator[Path]:
    from ..labels import EMOTION_LABELS
    from ..toy import write_synthetic_faces

    with tempfile.TemporaryDirectory(prefix="vega_bench_faces_") as tmp:
        yield write_synthetic_faces(tmp, EMOTION_LABELS["iemocap"], per_class, size=size, seed=seed, fmt="jpg")


def _anchor_encoders(
    model_name: str, precisions: Sequence[str], num_workers: Sequence[int], batch_size: int, device: torch.device
) -> dict[str, Any]:
    """One open_clip encoder per ``"<precision>-w<workers>"`` mode, all sharing the first one's weights."""
    from ..encoders.image import OpenCLIPImageEncoder

    torch.manual_seed(0)
    encoders: dict[str, OpenCLIPImageEncoder] = {}
    base: OpenCLIPImageEncoder | None = None
    for precision in precisions:
        for workers in num_workers:
            if base is None:
                base = OpenCLIPImageEncoder(
                    model_name, None, device=device, precision=precision, batch_size=batch_size,
                    num_workers=workers, progress=False,
                )  # fmt: skip
                enc = base
            else:  # same weights, other settings
                enc = copy.copy(base)
                enc.precision, enc.num_workers = precision, workers
            encoders[f"{precision}-w{workers}"] = enc
    if base is None:
        raise ValueError("precisions and num_workers must not be empty")
    return encoders


def bench_anchors(
    images: str | os.PathLike[str] | None = None,
    *,
    precisions: Sequence[str] = ("fp32", "bf16"),
    num_workers: Sequence[int] = (0,),
    model_name: str = "ViT-B-32",
    batch_size: int = 32,
    per_class: int = 35,
    image_size: int = 320,
    max_images: int | None = None,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
) -> list[Record]:
    """Anchor building: encoding a folder of JPEGs with an open_clip image encoder (random weights).

    ``images``: a ``root/<class>/*.jpg`` folder; ``None`` writes 6 classes × ``per_class``
    synthetic ``image_size``² JPEGs. One mode per (precision, workers) pair, timed interleaved;
    each timed call is ``AnchorBank.from_image_folder`` (folder scan, decode, preprocess, encode) —
    or, with ``max_images``, ``encoder(paths[:max_images])`` (``subset: true``). Records carry
    ``images_per_s``, FLOPs per image (FlopCounterMode), achieved GFLOP/s and ``ratio_to_peak``
    (vs the same-run GEMM of the same precision), ``speedup_vs_fp32`` (vs the first fp32 mode),
    ``min_cosine_vs_fp32`` (low-precision modes: features of the same images), and
    ``decode_ms_per_image`` (decode + preprocess alone, which ``num_workers > 0`` overlaps with
    encoding). A low precision without ``"fp32"`` in ``precisions`` adds the fp32 reference mode
    first. Low-precision encoders cast the frozen model and inputs once (no autocast); on a CPU,
    ``cpu_native_low_precision`` says whether the CPU has native kernels for it (without them the
    low precision is emulated and slower, and no speed-up is to be expected).
    """
    from ..anchors.folder import find_class_images
    from ..toy import TINY_CLIP_MODEL, register_tiny_clip

    if any(p != "fp32" for p in precisions) and "fp32" not in precisions:
        precisions = ("fp32", *precisions)  # the reference for speedup_vs_fp32 and min_cosine_vs_fp32
    if model_name == TINY_CLIP_MODEL:
        register_tiny_clip()
    device = torch.device(device)
    with contextlib.ExitStack() as stack:
        root = Path(images) if images is not None else stack.enter_context(_synthetic_folder(per_class, image_size))
        paths = [p for ps in find_class_images(root).values() for p in ps]
        subset = max_images is not None and max_images < len(paths)
        timed_paths = paths[:max_images] if subset else paths
        encoders = _anchor_encoders(model_name, precisions, num_workers, batch_size, device)
        flops_per_image, decode_ms = _anchor_costs(next(iter(encoders.values())), timed_paths, device)
        timing, reference, low, features = _time_anchor_modes(
            encoders, root, timed_paths, subset, repeats=repeats, warmup=warmup, device=device
        )

    n = len(timed_paths)
    records = []
    for mode, enc in encoders.items():
        rate = [n / s for s in timing.seconds[mode]]
        out = record(
            "anchors", mode, timing, flops=flops_per_image * n, unit="s", precision=enc.precision,
            num_workers=enc.num_workers, model=model_name, images=n, images_total=len(paths), subset=subset,
            image_size=image_size if images is None else None, batch_size=batch_size,
            images_per_s=round(statistics.median(rate), 3), images_per_s_max=round(max(rate), 3),
            gflop_per_image=_sig(flops_per_image / 1e9), decode_ms_per_image=round(decode_ms, 3),
            decode_overlapped=enc.num_workers > 0,
        )  # fmt: skip
        out.update(_anchor_comparisons(mode, enc.precision, timing, reference, low, features, device))
        records.append(out)
    return records


def _anchor_costs(base: Any, paths: Sequence[Path], device: torch.device) -> tuple[int, float]:
    """FLOPs of encoding one image with ``base``, and its decode + preprocess time per image (ms)."""
    from ..images import load_image

    pixels = base.preprocess(load_image(paths[0]))[None].to(device, base._compute_dtype())
    flops_per_image = count_flops(lambda: base.model.encode_image(pixels))
    sample = paths[: min(16, len(paths))]
    start = time.perf_counter()
    for p in sample:
        base.preprocess(load_image(p))
    return flops_per_image, (time.perf_counter() - start) / len(sample) * 1000


def _time_anchor_modes(
    encoders: Mapping[str, Any],
    root: Path,
    paths: Sequence[Path],
    subset: bool,
    *,
    repeats: int,
    warmup: int,
    device: torch.device,
) -> tuple[Timing, str | None, list[str], dict[str, torch.Tensor]]:
    """Time the modes interleaved; then the fp32 reference mode, the low-precision modes and, when
    both exist, their features of ``paths`` (for the agreement check)."""
    from ..anchors.bank import AnchorBank

    def call(enc: Any) -> Callable[[], Any]:
        return (lambda: enc(paths)) if subset else (lambda: AnchorBank.from_image_folder(root, enc))

    fns = {mode: call(enc) for mode, enc in encoders.items()}
    precision_of = {mode: enc.precision for mode, enc in encoders.items()}
    timing = time_modes(fns, precision_of, repeats=repeats, warmup=warmup, device=device)
    reference = next((m for m, p in precision_of.items() if p == "fp32"), None)
    low = [m for m, p in precision_of.items() if p != "fp32"]
    features = {m: encoders[m](paths) for m in ([reference, *low] if reference and low else [])}
    return timing, reference, low, features


def _anchor_comparisons(
    mode: str,
    precision: str,
    timing: Timing,
    reference: str | None,
    low: Sequence[str],
    features: Mapping[str, torch.Tensor],
    device: torch.device,
) -> dict[str, Any]:
    """The record fields comparing ``mode`` with the fp32 reference, and the low-precision notes."""
    out: dict[str, Any] = {}
    if reference is not None and mode != reference:
        out["speedup_vs_fp32"] = timing.ratio(reference, mode)
    if mode in low and reference in features:
        cos = F.cosine_similarity(features[mode], features[reference], dim=-1)
        out["min_cosine_vs_fp32"] = round(float(cos.min()), 6)
    if precision != "fp32":
        out["cast_once"] = True  # weights and inputs cast to the low dtype once, no autocast
        if device.type == "cpu":
            out["cpu_native_low_precision"] = _cpu_native(precision)
    return out


def _cpu_native(precision: str) -> bool:
    from ..encoders.image import cpu_has_native

    return cpu_has_native(precision)
