"""Image encoders for anchor building: the :class:`ImageEncoder` protocol and an open_clip wrapper."""

from __future__ import annotations

import contextlib
import copy
import difflib
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ..distributed import PRECISIONS, default_device, low_precision_dtype
from ..images import ImageLike, load_image

__all__ = ["ImageEncoder", "OpenCLIPImageEncoder", "cpu_has_native"]

logger = logging.getLogger(__name__)

_SCHEMAS = ("hf-hub:", "local-dir:")


@runtime_checkable
class ImageEncoder(Protocol):
    """Anything that maps images to features: ``images (N) -> [N, dim]``.

    :class:`OpenCLIPImageEncoder` is one; a plain function works too.
    """

    def __call__(self, images: Sequence[ImageLike]) -> Tensor: ...


# ---- helpers -------------------------------------------------------------------------------------
class _ImageDataset(Dataset[Tensor]):
    """Decode + preprocess one image per item (runs in DataLoader workers when ``num_workers > 0``)."""

    def __init__(self, images: Sequence[ImageLike], transform: Callable[[Image.Image], Tensor]) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor:
        return self.transform(load_image(self.images[index]))


class _OpenCLIPLogFilter:
    """Route open_clip's root-logger records to this module's logger at DEBUG (open_clip logs to root)."""

    def __init__(self, package_dir: str) -> None:
        self.package_dir = package_dir

    def filter(self, record: logging.LogRecord) -> bool:
        if record.pathname.startswith(self.package_dir):
            logger.debug("open_clip: %s", record.getMessage())
            return False
        return True


@contextlib.contextmanager
def _quiet_open_clip(open_clip: Any) -> Iterator[None]:
    log_filter = _OpenCLIPLogFilter(os.path.dirname(open_clip.__file__))
    root = logging.getLogger()
    root.addFilter(log_filter)
    try:
        yield
    finally:
        root.removeFilter(log_filter)


def _check_weights_source(open_clip: Any, model_name: str, pretrained: str | None) -> None:
    """Reject unknown models, unknown tags and missing checkpoint files before open_clip sees them."""
    if model_name.startswith(_SCHEMAS):
        if pretrained is not None:
            raise ValueError(
                f"model_name {model_name!r} already names its weights; pass pretrained=None "
                "(open_clip would ignore pretrained=)"
            )
        return
    known = open_clip.list_models()
    if model_name not in known:
        close = difflib.get_close_matches(model_name, known, n=5)
        raise ValueError(
            f"unknown open_clip model {model_name!r}; close matches: {close}. The paper's CLIP is "
            "'ViT-B-32-quickgelu' with pretrained='openai'."
        )
    if pretrained is None or open_clip.is_pretrained_cfg(model_name, pretrained):
        return
    if os.path.isfile(pretrained):
        return
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    looks_like_path = os.sep in pretrained or os.path.splitext(pretrained)[1] != ""
    if looks_like_path:
        raise FileNotFoundError(
            f"pretrained checkpoint file not found: {pretrained} (known tags for {model_name}: {tags})"
        )
    raise ValueError(
        f"pretrained={pretrained!r} is neither a pretrained tag of {model_name} (known tags: {tags}) "
        "nor an existing checkpoint file"
    )


def cpu_has_native(precision: str) -> bool:
    """Whether this CPU has native ``precision`` matmul kernels (AVX512-BF16/AMX, AVX512-FP16)."""
    probe = {"bf16": "_is_mkldnn_bf16_supported", "fp16": "_is_mkldnn_fp16_supported"}[precision]
    try:
        return bool(getattr(torch.ops.mkldnn, probe)())
    except (AttributeError, RuntimeError):  # older torch: assume yes rather than warn wrongly
        return True


# ---- encoder -------------------------------------------------------------------------------------
class OpenCLIPImageEncoder:
    """CLIP image features from an open_clip model, L2-normalised, for building anchor banks.

    The paper's anchors use Hugging Face ``openai/clip-vit-base-patch32``, which is open_clip's
    ``ViT-B-32-quickgelu`` with ``pretrained="openai"``::

        encoder = OpenCLIPImageEncoder("ViT-B-32-quickgelu", pretrained="openai")
        features = encoder(["anger/0001.jpg", "happy/0002.png"])  # [2, 512]

    Images are decoded with :func:`~vega_anchors.images.load_image` (EXIF orientation, 8-bit RGB)
    and preprocessed with open_clip's own eval transform for the model.

    Args:
        model_name: an open_clip architecture name (see ``open_clip.list_models()``), or an
            ``hf-hub:``/``local-dir:`` name that carries its own weights.
        pretrained: an open_clip pretrained tag (``"openai"``), a local checkpoint file, or ``None`` for
            random weights (tests only). Weights that cannot be loaded raise; random weights are never
            used silently in their place.
        device: where the model runs; default CUDA when available, else CPU.
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``. The model is frozen, so for the low precisions
            its weights are cast to that dtype ONCE (at construction, or at the first ``encode`` after
            ``precision`` was changed, on a copy of the model) and each batch of pixels is cast to it
            too: no per-call ``torch.autocast``, which would re-cast every weight at every call.
            open_clip's LayerNorm computes in float32 internally; features are returned as float32 and
            agree with fp32 to a cosine of about 0.999+. On a CPU without native bf16/fp16 matmuls
            (e.g. AVX2-only) the low precisions are emulated and several times *slower* than fp32; a
            warning says so.
        batch_size: images per forward pass.
        num_workers: DataLoader workers decoding/preprocessing images while the model encodes
            (0 = in this process).
        progress: show a tqdm bar; ``None`` = when there is more than one batch and stderr is a terminal.

    Attributes:
        model_name, pretrained, device, precision, dim (feature size), model (the open_clip model, in
        eval mode), preprocess (its eval transform).
    """

    def __init__(
        self,
        model_name: str,
        pretrained: str | None = None,
        *,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        batch_size: int = 32,
        num_workers: int = 0,
        progress: bool | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        import open_clip  # lazy: importing vega_anchors must not import open_clip

        _check_weights_source(open_clip, model_name, pretrained)
        wants_weights = pretrained is not None or model_name.startswith(_SCHEMAS)
        self.device = default_device(device)
        try:
            with _quiet_open_clip(open_clip):
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name,
                    pretrained=pretrained,
                    device=self.device,
                    require_pretrained=wants_weights,
                )
        except Exception as err:
            what = f" with pretrained={pretrained!r}" if pretrained is not None else ""
            raise RuntimeError(f"could not load open_clip model {model_name!r}{what}: {err}") from err
        model.eval()
        model.requires_grad_(False)
        dtype = low_precision_dtype(precision)
        if dtype is not None:
            model.to(dtype)  # frozen: cast once, here, instead of autocasting every call
        self.model: nn.Module = model
        self.preprocess: Callable[[Image.Image], Tensor] = preprocess
        self.model_name = model_name
        self.pretrained = pretrained
        self.precision = precision
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.progress = progress
        self.dim = self._feature_dim()
        if precision != "fp32" and self.device.type == "cpu" and not cpu_has_native(precision):
            logger.warning(
                "precision=%r on a CPU without native %s matmuls (capability %s) is emulated and "
                "typically several times slower than fp32; use precision='fp32' here",
                precision,
                precision,
                torch.backends.cpu.get_cpu_capability(),
            )
        logger.info(
            "open_clip %s (%s) on %s, %s, dim %d",
            model_name,
            pretrained if pretrained is not None else "random weights",
            self.device,
            precision,
            self.dim,
        )

    def _feature_dim(self) -> int:
        visual = getattr(self.model, "visual", None)
        dim = getattr(visual, "output_dim", None)
        if isinstance(dim, int):
            return dim
        probe = self.preprocess(Image.new("RGB", (32, 32)))[None].to(self.device, self._compute_dtype())
        with torch.inference_mode():
            return int(self._encode_image(probe).shape[-1])

    def _encode_image(self, pixels: Tensor) -> Tensor:
        encode_image: Callable[[Tensor], Tensor] = self.model.encode_image  # type: ignore[assignment]
        return encode_image(pixels)

    def _compute_dtype(self) -> torch.dtype:
        return low_precision_dtype(self.precision) or torch.float32

    def _model_in_precision(self) -> nn.Module:
        """``self.model`` with its floating-point weights in ``precision``'s dtype.

        Casting happens once: when ``precision`` was changed after construction (e.g. on a
        ``copy.copy`` of an encoder, which shares the model), a cast *copy* replaces ``self.model`` on
        this encoder only, so other encoders sharing the original model are unaffected.
        """
        dtype = self._compute_dtype()
        first = next((p for p in self.model.parameters() if p.is_floating_point()), None)
        if first is None or first.dtype == dtype:
            return self.model
        logger.info("casting the frozen %s model from %s to %s (once)", self.model_name, first.dtype, dtype)
        self.model = copy.deepcopy(self.model).to(dtype)
        return self.model

    def _show_progress(self, num_batches: int) -> bool:
        if self.progress is not None:
            return self.progress
        return num_batches > 1 and sys.stderr is not None and sys.stderr.isatty()

    def encode(self, images: Sequence[ImageLike]) -> Tensor:
        """Encode ``images`` (PIL images or paths) → ``[N, dim]`` float32 unit-norm features, on CPU.

        Runs under ``torch.inference_mode()`` in batches of ``batch_size``; decoding is overlapped with
        encoding in ``num_workers`` DataLoader workers. Order follows ``images``.

        Performance: the model's matmuls dominate (ViT-B-32: ~8.8 GFLOP per 224² image; decoding and
        preprocessing a 320² JPEG costs a few ms), so throughput is set by ``batch_size`` (the default
        32 was fastest on a 2-core CPU; 64 was slower) and ``torch.get_num_threads()``. DataLoader
        workers run single-threaded (PyTorch sets 1 thread in each), so ``num_workers=1`` is enough
        to hide decoding; more workers only compete with the encoder's threads for cores. See
        docs/performance.md.
        """
        if isinstance(images, (str, os.PathLike, Image.Image)):
            raise TypeError("encode takes a sequence of images or paths; wrap a single image in a list")
        if len(images) == 0:
            return torch.empty(0, self.dim)
        from tqdm.auto import tqdm

        num_batches = math.ceil(len(images) / self.batch_size)
        loader = DataLoader(
            _ImageDataset(images, self.preprocess),
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=min(self.num_workers, num_batches),
            pin_memory=self.device.type == "cuda",
        )
        chunks: list[Tensor] = []
        model = self._model_in_precision()
        dtype = self._compute_dtype()
        encode_image: Callable[[Tensor], Tensor] = model.encode_image  # type: ignore[assignment]
        with (
            torch.inference_mode(),
            tqdm(
                total=len(images),
                unit="img",
                desc=f"encoding images ({self.model_name})",
                disable=not self._show_progress(num_batches),
            ) as bar,
        ):
            for pixels in loader:
                feats = encode_image(pixels.to(self.device, dtype=dtype, non_blocking=True))
                chunks.append(F.normalize(feats.float(), dim=-1).cpu())
                bar.update(pixels.shape[0])
        return torch.cat(chunks)

    __call__ = encode

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_name={self.model_name!r}, pretrained={self.pretrained!r}, "
            f"device={str(self.device)!r}, precision={self.precision!r}, dim={self.dim})"
        )
