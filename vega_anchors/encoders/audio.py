"""Audio extractors: one utterance's 16 kHz mono waveform → one feature vector.

``opensmile:<set>``
    openSMILE functionals (``pip install "vega-anchors[smile]"``; openSMILE's licence is for research
    and non-commercial use — read it before using these features commercially). The sets are those
    the ``opensmile`` Python package (>= 2.6) ships: ``IS09`` (384-d), ``IS10`` (1582-d, the IS10
    paralinguistics set: the audio feature of the official IEMOCAP pickles), ``IS11`` (4368-d),
    ``IS12`` (6125-d), ``IS13`` (6373-d), ``eGeMAPSv02`` (88-d), ``ComParE_2016`` (6373-d),
    ``emobase`` (988-d).
``hf:<local dir or hub name>``
    A ``transformers`` speech encoder (wav2vec2, HuBERT, WavLM...) with its feature extractor; the
    chosen hidden layers are mean-pooled over time and concatenated, like
    :class:`~vega_anchors.encoders.HFTextEncoder`'s ``layers=``.

Any object with ``identity``, ``dim`` and ``__call__(waveforms) -> [N, D]`` is an
:class:`AudioExtractor`; ``identity`` keys the feature cache (change it when outputs change).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..distributed import default_device
from ._common import check_hidden_layers, model_identity

logger = logging.getLogger(__name__)

__all__ = [
    "OPENSMILE_SETS",
    "SAMPLE_RATE",
    "AudioExtractor",
    "HFAudioExtractor",
    "OpenSmileExtractor",
    "load_audio_extractor",
]

SAMPLE_RATE = 16_000
"""Audio is decoded to, and the extractors read, mono float32 at this rate (Hz)."""

OPENSMILE_SETS: dict[str, int] = {
    "IS09": 384,
    "IS10": 1582,
    "IS11": 4368,
    "IS12": 6125,
    "IS13": 6373,
    "eGeMAPSv02": 88,
    "ComParE_2016": 6373,
    "emobase": 988,
}
"""openSMILE functional sets by name → feature dimension (as shipped by ``opensmile`` 2.6)."""

_MIN_SAMPLES = SAMPLE_RATE // 10  # openSMILE's functionals need a few frames: pad shorter clips with silence


@runtime_checkable
class AudioExtractor(Protocol):
    """``waveforms`` (each ``[S_i]`` float32 mono at 16 kHz) → ``[N, dim]`` float32.

    ``identity`` names the extractor and its settings (the cache key); ``in_worker`` says whether it
    is cheap and stateless enough to run in ``DataLoader`` workers (openSMILE) or should run in the
    main process on the model's device (neural encoders).
    """

    identity: str
    dim: int
    in_worker: bool

    def __call__(self, waveforms: Sequence[np.ndarray]) -> np.ndarray: ...


class OpenSmileExtractor:
    """openSMILE functionals of a named set (:data:`OPENSMILE_SETS`).

    Args:
        feature_set: e.g. ``"IS10"`` or ``"eGeMAPSv02"``.

    Attributes:
        identity, dim, in_worker (``True``: runs in decoding workers).
    """

    in_worker = True

    def __init__(self, feature_set: str = "IS10") -> None:
        if feature_set not in OPENSMILE_SETS:
            raise ValueError(f"unknown openSMILE set {feature_set!r}; use one of {list(OPENSMILE_SETS)}")
        try:
            import opensmile
        except ImportError as err:
            raise ImportError(
                'opensmile features need the smile extra: pip install "vega-anchors[smile]" '
                "(openSMILE's licence: research and non-commercial use)"
            ) from err
        self.feature_set = feature_set
        self.dim = OPENSMILE_SETS[feature_set]
        self.identity = f"opensmile-{opensmile.__version__}\n{feature_set}\nfunctionals\nmin_samples={_MIN_SAMPLES}"
        self._smile: Any = None

    def _get(self) -> Any:
        if self._smile is None:
            import opensmile

            self._smile = opensmile.Smile(
                feature_set=getattr(opensmile.FeatureSet, self.feature_set),
                feature_level=opensmile.FeatureLevel.Functionals,
            )
        return self._smile

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_smile": None}

    def __call__(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """``[N, dim]`` float32 functionals, one row per waveform."""
        smile = self._get()
        rows = []
        for wave in waveforms:
            wave = np.asarray(wave, dtype=np.float32).reshape(-1)
            if wave.size < _MIN_SAMPLES:
                wave = np.pad(wave, (0, _MIN_SAMPLES - wave.size))
            values = smile.process_signal(wave, SAMPLE_RATE).to_numpy(dtype=np.float32).reshape(-1)
            if values.size != self.dim:
                raise ValueError(f"openSMILE {self.feature_set} gave {values.size} values, expected {self.dim}")
            rows.append(values)
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)

    def __repr__(self) -> str:
        return f"OpenSmileExtractor({self.feature_set!r}, dim={self.dim})"


class HFAudioExtractor:
    """A ``transformers`` speech encoder, mean-pooled over time.

    Args:
        name_or_path: local directory (or hub name) with the model and its feature extractor
            (``preprocessor_config.json``); wav2vec2, HuBERT, WavLM, data2vec-audio...
        layers: hidden states to pool, concatenated in this order (``-1`` = last layer, ``0`` = the
            feature projection / embeddings); output dim = ``hidden_size × len(layers)``.
        device: torch device (``None``: CUDA when available, else CPU).
        max_seconds: longer utterances are cut to this many seconds (memory).
        **kwargs: passed to ``from_pretrained`` (e.g. ``local_files_only=True``, ``revision=``).

    Attributes:
        identity, dim, in_worker (``False``: runs in the main process on ``device``).
    """

    in_worker = False

    def __init__(
        self,
        name_or_path: str | os.PathLike[str],
        *,
        layers: Sequence[int] = (-1,),
        device: str | None = None,
        max_seconds: float = 30.0,
        **kwargs: Any,
    ) -> None:
        try:
            import torch
            from transformers import AutoFeatureExtractor, AutoModel
        except ImportError as err:
            raise ImportError('hf: audio encoders need transformers: pip install "vega-anchors[text]"') from err
        self.name = str(name_or_path)
        self.device = default_device(device)
        self.feature_extractor = AutoFeatureExtractor.from_pretrained(self.name, **kwargs)
        rate = getattr(self.feature_extractor, "sampling_rate", SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{self.name} expects {rate} Hz audio; audio is decoded at {SAMPLE_RATE} Hz")
        self.model = AutoModel.from_pretrained(self.name, **kwargs).to(self.device).eval()
        depth = int(self.model.config.num_hidden_layers)
        self.layers = check_hidden_layers(self.name, depth, layers)
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.dim = int(self.model.config.hidden_size) * len(self.layers)
        base = model_identity(self.name, kwargs.get("revision"))
        self.identity = f"transformers-audio\n{base}\nlayers={','.join(map(str, self.layers))}\nmax={self.max_samples}"
        self._torch = torch

    def __call__(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """``[N, dim]`` float32; each waveform runs alone (no padding, so no padding leaks into the mean)."""
        torch = self._torch
        rows = []
        for wave in waveforms:
            wave = np.asarray(wave, dtype=np.float32).reshape(-1)[: self.max_samples]
            if wave.size < 400:  # the conv front end needs 25 ms
                wave = np.pad(wave, (0, 400 - wave.size))
            inputs = self.feature_extractor(wave, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_values", "input_features")}
            with torch.inference_mode():
                states = self.model(**inputs, output_hidden_states=True).hidden_states  # depth+1 × [1, L, H]
            rows.append(torch.cat([states[i].mean(dim=1) for i in self.layers], dim=-1).float().cpu().numpy()[0])
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)

    def __repr__(self) -> str:
        return f"HFAudioExtractor({self.name!r}, layers={list(self.layers)}, dim={self.dim})"


def load_audio_extractor(
    spec: str, *, device: str | None = None, layers: Sequence[int] | None = None
) -> OpenSmileExtractor | HFAudioExtractor:
    """Build an extractor from ``"opensmile:<set>"`` or ``"hf:<local dir or hub name>"``.

    ``layers`` applies to ``hf:`` only (default: the last layer).
    """
    kind, _, value = spec.partition(":")
    if kind == "opensmile" and value:
        return OpenSmileExtractor(value)
    if kind == "hf" and value:
        return HFAudioExtractor(value, device=device, layers=tuple(layers) if layers else (-1,))
    raise ValueError(
        f"audio extractor {spec!r} not understood; use opensmile:<set> (sets {list(OPENSMILE_SETS)}) "
        "or hf:<local model dir or hub name>"
    )
