"""Audio extractors on real (synthesised) speech: openSMILE IS10 and a tiny random-config wav2vec2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vega_anchors.encoders import OPENSMILE_SETS, HFAudioExtractor, OpenSmileExtractor, load_audio_extractor
from vega_anchors.media import synth

needs_espeak = pytest.mark.skipif(
    not synth.espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


@pytest.fixture(scope="module")
def utterances() -> list[np.ndarray]:
    if synth.espeak_available():
        return [synth.speech("I can't believe you did that!"), synth.speech("okay."), synth.tone(200, 0.05)]
    return [synth.tone(220, 1.5), synth.tone(330, 0.5), synth.tone(200, 0.05)]


@needs_espeak
def test_is10_gives_1582_finite_dims_on_speech(utterances) -> None:
    pytest.importorskip("opensmile")
    extractor = load_audio_extractor("opensmile:IS10")
    assert isinstance(extractor, OpenSmileExtractor) and extractor.dim == 1582 == OPENSMILE_SETS["IS10"]
    feats = extractor(utterances)
    assert feats.shape == (3, 1582) and feats.dtype == np.float32
    assert np.isfinite(feats).all()  # also the 50 ms clip (padded to 100 ms)
    assert not np.allclose(feats[0], feats[1])  # different speech, different features
    assert extractor.in_worker and "IS10" in extractor.identity


def test_every_listed_opensmile_set_has_its_dim() -> None:
    opensmile = pytest.importorskip("opensmile")
    for name in OPENSMILE_SETS:
        assert hasattr(opensmile.FeatureSet, name)
    feats = OpenSmileExtractor("eGeMAPSv02")([synth.tone(220, 0.5)])
    assert feats.shape == (1, 88)


def test_unknown_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown openSMILE set 'IS99'"):
        load_audio_extractor("opensmile:IS99")
    with pytest.raises(ValueError, match="opensmile:<set>"):
        load_audio_extractor("mfcc")


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, vocab_size=8,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("tiny-wav2vec2")
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True).save_pretrained(folder)
    return folder


def test_hf_audio_encoder_pools_chosen_layers(tiny_wav2vec2: Path, utterances) -> None:
    extractor = load_audio_extractor(f"hf:{tiny_wav2vec2}", device="cpu", layers=[-2, -1])
    assert isinstance(extractor, HFAudioExtractor) and extractor.dim == 32 and not extractor.in_worker
    feats = extractor(utterances)
    assert feats.shape == (3, 32) and np.isfinite(feats).all()
    last = HFAudioExtractor(tiny_wav2vec2, device="cpu")(utterances[:1])
    np.testing.assert_allclose(feats[0, 16:], last[0], rtol=1e-5, atol=1e-6)  # layer -1 is the second half
    assert extractor.identity != HFAudioExtractor(tiny_wav2vec2, device="cpu").identity
    with pytest.raises(ValueError, match="layers must pick hidden states"):
        HFAudioExtractor(tiny_wav2vec2, device="cpu", layers=[5])
