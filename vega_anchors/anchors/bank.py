"""AnchorBank: per-class CLIP exemplar features and their class centers, as module buffers."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._io import atomic_write, read_safetensors

if TYPE_CHECKING:
    from ..encoders.image import ImageEncoder
    from .diagnostics import AnchorDiagnostics
    from .pools import ExemplarPool

__all__ = ["AnchorBank"]

logger = logging.getLogger(__name__)

_FORMAT = "vega-anchors/anchor-bank"
_FORMAT_VERSION = 1


def _unit_rows(x: Tensor) -> Tensor:
    """L2-normalise the last dim; rows already unit-norm (within rounding) are kept bit-for-bit.

    This makes normalising idempotent, so ``save``/``load`` and ``official.anchors_to_official``/
    ``official.load_anchors`` round trips are exact instead of drifting by an ulp per pass.
    """
    if not x.is_floating_point():
        x = x.float()
    tol = 16 * torch.finfo(x.dtype).eps
    is_unit = (x.norm(dim=-1, keepdim=True) - 1).abs() <= tol
    return torch.where(is_unit, x, F.normalize(x, dim=-1))


class AnchorBank(nn.Module):
    """Exemplar image features per emotion class and their class centers.

    All tensors are buffers, so ``.to()``, ``state_dict()`` and DDP broadcast handle them.

    Buffers:
        exemplars: ``[classes, max_exemplars, dim]`` L2-normalised exemplar features, zero-padded.
        counts: ``[classes]`` number of real exemplars per class.
        center_means: ``[classes, dim]`` plain mean of each class's normalised exemplars (the
            official ``anchor_center``; not unit norm).
        centers: ``[classes, dim]`` unit-norm class centers (the anchors used in evaluation).
    """

    exemplars: Tensor
    counts: Tensor
    center_means: Tensor
    centers: Tensor

    def __init__(
        self,
        class_names: Sequence[str],
        exemplars: Tensor,
        counts: Tensor,
        *,
        center_means: Tensor | None = None,
        encoder_name: str | None = None,
        pretrained: str | None = None,
        encoder_identity: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if exemplars.dim() != 3:
            raise ValueError(f"exemplars must be [classes, max_exemplars, dim], got shape {tuple(exemplars.shape)}")
        num_classes, max_count, _ = exemplars.shape
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes of exemplars")
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"class names must be unique, got {list(class_names)}")
        counts = torch.as_tensor(counts, dtype=torch.long, device=exemplars.device)
        if counts.shape != (num_classes,) or bool((counts < 1).any()) or bool((counts > max_count).any()):
            raise ValueError(
                f"counts must be [classes] with 1 <= count <= {max_count}, got {counts.tolist()}; "
                "every class needs at least one exemplar"
            )
        valid = torch.arange(max_count, device=exemplars.device) < counts[:, None]  # [C, K]
        exemplars = _unit_rows(exemplars)
        exemplars = exemplars * valid[..., None].to(exemplars.dtype)
        if center_means is None:
            center_means = exemplars.sum(1) / counts[:, None].to(exemplars.dtype)
        if center_means.shape != (num_classes, exemplars.shape[-1]):
            raise ValueError(f"center_means must be [classes, dim], got {tuple(center_means.shape)}")
        self.class_names: list[str] = list(class_names)
        self.encoder_name = encoder_name
        self.pretrained = pretrained
        # Which source images the exemplars are ({class: [source id per exemplar]}) and how they were
        # chosen; set by from_pool, kept by save/load, None when unknown.
        self.sources: dict[str, list[str]] | None = None
        self.provenance: dict[str, Any] | None = None
        # Text banks: which text encoder embedded the prompts (vega_anchors.data.text.encoder_info).
        self.encoder_identity: dict[str, Any] | None = dict(encoder_identity) if encoder_identity else None
        self.register_buffer("exemplars", exemplars)
        self.register_buffer("counts", counts)
        self.register_buffer("center_means", center_means.to(exemplars.dtype))
        # Normalised once here, not at every step.
        self.register_buffer("centers", F.normalize(self.center_means, dim=-1))

    # ------------------------------------------------------------------ properties
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def dim(self) -> int:
        return int(self.exemplars.shape[-1])

    def select(self, indices: Tensor | Sequence[int]) -> Tensor:
        """One normalised exemplar per class: ``indices [classes]`` (or ``[n, classes]``) → ``[classes, dim]``
        (or ``[n, classes, dim]``). ``indices[c]`` indexes class ``c``'s own exemplar list."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.exemplars.device)
        if idx.shape[-1] != self.num_classes:
            raise ValueError(f"select needs one index per class ({self.num_classes}), got shape {tuple(idx.shape)}")
        if bool(((idx < 0) | (idx >= self.counts)).any()):
            raise IndexError(f"exemplar indices {idx.tolist()} out of range for counts {self.counts.tolist()}")
        classes = torch.arange(self.num_classes, device=idx.device).expand_as(idx)
        return self.exemplars[classes, idx]

    def extra_repr(self) -> str:
        return f"classes={self.class_names}, dim={self.dim}, counts={self.counts.tolist()}"

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        # Exemplar padding depends on the bank: adopt the stored shapes instead of failing.
        for name in ("exemplars", "counts", "center_means", "centers"):
            key = prefix + name
            if key in state_dict and state_dict[key].shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(state_dict[key], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_features(
        cls,
        features: Mapping[str, Tensor],
        *,
        encoder_name: str | None = None,
        pretrained: str | None = None,
    ) -> AnchorBank:
        """Build from ``{class name: [K, dim] features}`` (normalised here); class order = mapping order."""
        if not features:
            raise ValueError("features is empty: give at least one class with at least one exemplar")
        names = list(features)
        tensors = [torch.as_tensor(features[n]) for n in names]
        dims = {t.shape[-1] for t in tensors}
        for name, t in zip(names, tensors, strict=True):
            if t.dim() != 2 or t.shape[0] == 0:
                raise ValueError(f"class {name!r}: features must be [K>=1, dim], got shape {tuple(t.shape)}")
        if len(dims) != 1:
            found = {name: t.shape[-1] for name, t in zip(names, tensors, strict=True)}
            raise ValueError(f"all classes need the same feature dim, got {found}")
        counts = torch.tensor([t.shape[0] for t in tensors])
        dtype = torch.promote_types(tensors[0].dtype, torch.float32)
        padded = torch.zeros(len(names), int(counts.max()), dims.pop(), dtype=dtype)
        for i, t in enumerate(tensors):
            padded[i, : t.shape[0]] = t.to(dtype)
        return cls(names, padded, counts, encoder_name=encoder_name, pretrained=pretrained)

    @classmethod
    def from_texts(
        cls,
        prompts: Mapping[str, Sequence[str]] | None,
        encoder: Any,
        *,
        class_names: Sequence[str] | None = None,
        template: str | Sequence[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> AnchorBank:
        """Text anchors: prompt sentences per class embedded by ``encoder`` (the text encoder of the
        features, e.g. :func:`~vega_anchors.data.load_text_encoder`); exemplars ``[classes, K, encoder.dim]``.

        Args:
            prompts: ``{class: [sentence, ...]}`` (e.g. :func:`~vega_anchors.anchors.prompts.read_prompts`),
                or None for :func:`~vega_anchors.anchors.prompts.default_prompts` of ``class_names``.
            encoder: a :class:`~vega_anchors.encoders.TextEncoder`; its identity is recorded
                (``encoder_identity``) so a mismatch with the features can be caught.
            class_names: class order (default: the order of ``prompts``); every class needs a sentence.
            template: with ``prompts=None``, template(s) with ``{label}`` used for every class instead
                of the built-in sentences.
            cache_dir: embedding cache folder.
        """
        from ..encoders.embed import embed_texts
        from ..encoders.text import encoder_info
        from .prompts import default_prompts

        if prompts is None:
            if class_names is None:
                raise ValueError("give prompts={class: [sentences]} or class_names=[...] for the default sentences")
            prompts = default_prompts(class_names, templates=template)
        names = list(class_names) if class_names is not None else list(prompts)
        missing = [n for n in names if not prompts.get(n)]
        if missing:
            raise ValueError(f"no prompt sentences for classes {missing}; give at least one per class")
        groups = [list(prompts[n]) for n in names]
        flat = [s for group in groups for s in group]
        vectors = torch.from_numpy(embed_texts(flat, encoder, cache_dir=cache_dir, progress=False))
        split = torch.split(vectors, [len(g) for g in groups])
        bank = cls.from_features(dict(zip(names, split, strict=True)), encoder_name="text")
        bank.encoder_identity = encoder_info(encoder)
        return bank

    @classmethod
    def from_image_folder(
        cls,
        root: str | os.PathLike[str],
        encoder: ImageEncoder,
        classes: Sequence[str] | None = None,
        *,
        skip_unreadable: bool = False,
        distributed: bool = False,
    ) -> AnchorBank:
        """Encode one sub-folder of face images per class (``root/anger/*.jpg`` ...).

        Folder names are matched to ``classes`` through :data:`~vega_anchors.labels.LABEL_ALIASES`
        (``angry`` → ``anger``, ``happiness`` → ``happy``, ``sadness`` → ``sad``). ``encoder`` is an
        :class:`~vega_anchors.encoders.OpenCLIPImageEncoder` or any callable
        ``images -> [N, D]``. Features are L2-normalised; centers are their per-class means.

        With ``distributed=True`` under ``torch.distributed``, each rank encodes every ``world``-th
        image and the features are gathered (:func:`~vega_anchors.distributed.shard_encode`): every
        rank gets the same bank as a single process would. Without an initialised process group it
        changes nothing.

        The image paths are recorded in :attr:`sources` (``{class: [path]}``), for contact sheets.
        """
        from .folder import find_class_images

        groups = find_class_images(root, classes, skip_unreadable=skip_unreadable)
        names = list(groups)
        paths = [p for n in names for p in groups[n]]
        if distributed:
            from ..distributed import shard_encode

            feats = shard_encode(encoder, paths)
        else:
            feats = torch.as_tensor(encoder(paths))
        if feats.shape[0] != len(paths):
            raise ValueError(f"encoder returned {feats.shape[0]} features for {len(paths)} images")
        split = torch.split(
            feats.float() if feats.dtype in (torch.float16, torch.bfloat16) else feats,
            [len(groups[n]) for n in names],
        )
        bank = cls.from_features(
            dict(zip(names, split, strict=True)),
            encoder_name=getattr(encoder, "model_name", None),
            pretrained=getattr(encoder, "pretrained", None),
        )
        bank.sources = {name: [str(p) for p in groups[name]] for name in names}  # for contact sheets
        return bank

    @classmethod
    def from_pool(
        cls,
        pool: ExemplarPool,
        encoder: ImageEncoder,
        classes: Sequence[str],
        *,
        per_class: int = 35,
        select: str = "typical",
        seed: int = 0,
        mapping: Mapping[str, str | Sequence[str]] | None = None,
        outlier_z: float | None = None,
        duplicate_threshold: float | None = None,
        candidates_per_class: int | None = None,
    ) -> AnchorBank:
        """Choose and encode ``per_class`` exemplars per class from an exemplar pool.

        ``pool`` comes from a reader in :mod:`vega_anchors.anchors.pools` (FER2013, FER+, RAF-DB,
        AffectNet, folders). Its emotions are mapped onto ``classes`` (:func:`~vega_anchors.anchors.pools.map_pool`;
        ``mapping={"excited": "happy"}`` fills a class the dataset lacks). The candidates are
        encoded with ``encoder`` and chosen by :func:`~vega_anchors.anchors.selection.select_exemplars`
        (``select="random" | "typical" | "diverse"``, optional ``outlier_z`` and
        ``duplicate_threshold``, seeded). ``candidates_per_class`` first samples that many candidates
        per class at random (seeded), to bound the encoding cost on large datasets.

        The bank records the chosen images in :attr:`sources` (``{class: [source id]}``, in exemplar
        order) and the settings in :attr:`provenance`; both are saved with :meth:`save`.
        """
        from .pools import map_pool
        from .selection import select_exemplars

        mapped = map_pool(pool, classes, mapping)
        if candidates_per_class is not None:
            if candidates_per_class < 1:
                raise ValueError(f"candidates_per_class must be >= 1, got {candidates_per_class}")
            gen = torch.Generator().manual_seed(seed)
            keep: list[int] = []
            for name in classes:
                idx = [i for i, label in enumerate(mapped.labels) if label == name]
                perm = torch.randperm(len(idx), generator=gen)[:candidates_per_class].sort().values
                keep += [idx[j] for j in perm.tolist()]
            mapped = mapped.subset(keep)
        feats = torch.as_tensor(encoder(mapped.images))
        if feats.shape[0] != len(mapped):
            raise ValueError(f"encoder returned {feats.shape[0]} features for {len(mapped)} images")
        feats = feats.float()
        chosen = select_exemplars(
            feats, mapped.labels, per_class=per_class, select=select, seed=seed,  # type: ignore[arg-type]
            outlier_z=outlier_z, duplicate_threshold=duplicate_threshold, classes=list(classes),
        )  # fmt: skip
        bank = cls.from_features(
            {name: feats[idx] for name, idx in chosen.indices.items()},
            encoder_name=getattr(encoder, "model_name", None),
            pretrained=getattr(encoder, "pretrained", None),
        )
        bank.sources = {name: [mapped.sources[i] for i in idx] for name, idx in chosen.indices.items()}
        bank.provenance = {
            "pool": mapped.dataset,
            "mapping": mapped.info.get("mapping"),
            "candidates": {name: mapped.labels.count(name) for name in classes},
            "removed_outliers": {k: len(v) for k, v in chosen.removed_outliers.items()},
            "removed_duplicates": {k: len(v) for k, v in chosen.removed_duplicates.items()},
            **chosen.settings,
            "candidates_per_class": candidates_per_class,
        }
        logger.info("anchor bank from the %s pool: %s", mapped.dataset, bank.counts.tolist())
        return bank

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self, **thresholds: Any) -> AnchorDiagnostics:
        """Separability and quality checks of this bank (:func:`~vega_anchors.anchors.diagnostics.anchor_diagnostics`;
        ``thresholds`` are its keyword arguments)."""
        from .diagnostics import anchor_diagnostics

        return anchor_diagnostics(self, **thresholds)

    # ------------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "class_names": self.class_names,
            "encoder_name": self.encoder_name,
            "pretrained": self.pretrained,
            "dim": self.dim,
            "counts": self.counts.tolist(),
            "encoder_identity": self.encoder_identity,
        }
        if self.sources is not None:
            meta["sources"] = self.sources
        if self.provenance is not None:
            meta["provenance"] = self.provenance
        return meta

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bank as safetensors (tensors) + JSON metadata in the header, atomically."""
        from safetensors.torch import save_file

        tensors = {
            "exemplars": self.exemplars.detach().cpu().contiguous(),
            "counts": self.counts.detach().cpu().contiguous(),
            "center_means": self.center_means.detach().cpu().contiguous(),
        }
        meta = {"vega_anchors": json.dumps(self.metadata())}
        return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> AnchorBank:
        """Read a bank written by :meth:`save` (safetensors: data only, no code is executed)."""
        tensors, meta = read_safetensors(
            path, what="anchor bank", writer="AnchorBank.save", device=str(map_location),
            hint="For the official 35_anchor.pt use vega_anchors.official.load_anchors.",
        )  # fmt: skip
        try:
            names, exemplars, counts = meta["class_names"], tensors["exemplars"], tensors["counts"]
            center_means = tensors["center_means"]
            encoder_name, pretrained = meta.get("encoder_name"), meta.get("pretrained")
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{path} is a damaged vega-anchors bank file ({type(err).__name__}: {err}); re-create it "
                "with AnchorBank.save"
            ) from err
        bank = cls(
            names, exemplars, counts, center_means=center_means, encoder_name=encoder_name, pretrained=pretrained,
            encoder_identity=meta.get("encoder_identity"),
        )  # fmt: skip
        bank.sources = meta.get("sources") if isinstance(meta.get("sources"), dict) else None
        bank.provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else None
        return bank
