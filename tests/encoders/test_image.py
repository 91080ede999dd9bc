"""OpenCLIPImageEncoder on a tiny random-weight open_clip model (never downloads)."""

from __future__ import annotations

import copy
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vega_anchors.encoders import ImageEncoder, OpenCLIPImageEncoder

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def images(make_image) -> list[Image.Image]:
    return [make_image(seed, (40 + seed, 36)) for seed in range(7)]


def test_features_are_unit_norm_float32_and_shaped(tiny_clip_encoder: OpenCLIPImageEncoder, images) -> None:
    feats = tiny_clip_encoder(images)
    assert feats.shape == (7, 16) and tiny_clip_encoder.dim == 16
    assert feats.dtype == torch.float32 and feats.device.type == "cpu"
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(7))
    # distinct images give distinct features
    assert (feats @ feats.T - torch.eye(7)).abs().max() < 0.9999


def test_attributes_and_eval_mode(tiny_clip_encoder: OpenCLIPImageEncoder, tiny_clip_model_name: str) -> None:
    assert tiny_clip_encoder.model_name == tiny_clip_model_name
    assert tiny_clip_encoder.pretrained is None
    assert tiny_clip_encoder.device == torch.device("cpu")
    assert not tiny_clip_encoder.model.training
    assert all(not m.training for m in tiny_clip_encoder.model.modules())
    assert not any(p.requires_grad for p in tiny_clip_encoder.model.parameters())
    assert isinstance(tiny_clip_encoder, ImageEncoder)
    assert "dim=16" in repr(tiny_clip_encoder)


def test_same_image_twice_gives_identical_features(tiny_clip_encoder: OpenCLIPImageEncoder, images) -> None:
    feats = tiny_clip_encoder([images[0], images[1], images[0]])
    assert torch.equal(feats[0], feats[2])
    assert not torch.equal(feats[0], feats[1])
    # another batch composition: equal up to float rounding (BLAS blocking depends on batch size)
    torch.testing.assert_close(tiny_clip_encoder(images[:2]), feats[:2], atol=1e-5, rtol=0)


def test_path_and_pil_inputs_agree(tiny_clip_encoder: OpenCLIPImageEncoder, images, tmp_path: Path) -> None:
    paths = []
    for i, image in enumerate(images[:3]):
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    mixed = [paths[0], str(paths[1]), images[2]]
    assert torch.equal(tiny_clip_encoder(images[:3]), tiny_clip_encoder(paths))
    assert torch.equal(tiny_clip_encoder(images[:3]), tiny_clip_encoder(mixed))


def test_workers_and_batch_size_do_not_change_features(tiny_clip_encoder: OpenCLIPImageEncoder, images) -> None:
    serial = copy.copy(tiny_clip_encoder)
    serial.batch_size = 2
    parallel = copy.copy(serial)
    parallel.num_workers = 2
    assert torch.equal(serial(images), parallel(images))
    one_batch = copy.copy(tiny_clip_encoder)
    one_batch.batch_size = 64
    torch.testing.assert_close(one_batch(images), serial(images), atol=1e-5, rtol=0)


def test_bf16_agrees_with_fp32(tiny_clip_encoder: OpenCLIPImageEncoder, images) -> None:
    low = copy.copy(tiny_clip_encoder)
    low.precision = "bf16"
    reference, feats = tiny_clip_encoder(images), low(images)
    assert feats.dtype == torch.float32
    assert not torch.equal(feats, reference)  # autocast really ran in bf16
    assert F.cosine_similarity(feats, reference).min() > 0.99
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(len(images)))


def test_bf16_constructor_option(tiny_clip_model_name: str, images) -> None:
    encoder = OpenCLIPImageEncoder(tiny_clip_model_name, device="cpu", precision="bf16")
    assert encoder.precision == "bf16"
    assert encoder(images[:2]).dtype == torch.float32


def test_empty_input_and_single_image_misuse(tiny_clip_encoder: OpenCLIPImageEncoder, images) -> None:
    assert tiny_clip_encoder([]).shape == (0, 16)
    with pytest.raises(TypeError, match="list"):
        tiny_clip_encoder("face.png")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list"):
        tiny_clip_encoder(images[0])  # type: ignore[arg-type]


def test_unreadable_image_names_the_file(tiny_clip_encoder: OpenCLIPImageEncoder, tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match=re.escape("bad.png")):
        tiny_clip_encoder([tmp_path / "bad.png"])


def test_progress_bar_can_be_forced_on_and_off(
    tiny_clip_encoder: OpenCLIPImageEncoder, images, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = copy.copy(tiny_clip_encoder)
    shown.progress = True
    shown(images)
    assert "encoding images" in capsys.readouterr().err
    tiny_clip_encoder(images)  # progress=False
    assert capsys.readouterr().err == ""
    auto = copy.copy(tiny_clip_encoder)
    auto.progress = None  # stderr is captured (not a tty): off
    auto(images)
    assert capsys.readouterr().err == ""


# ---- weights -------------------------------------------------------------------------------------


def test_unknown_pretrained_tag_raises(tiny_clip_model_name: str) -> None:
    with pytest.raises(ValueError, match=r"'openai'.*known tags"):
        OpenCLIPImageEncoder(tiny_clip_model_name, pretrained="openai", device="cpu")


def test_missing_checkpoint_file_raises(tiny_clip_model_name: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("missing.pt")):
        OpenCLIPImageEncoder(tiny_clip_model_name, pretrained=str(tmp_path / "missing.pt"), device="cpu")


def test_unloadable_checkpoint_raises(tiny_clip_model_name: str, tmp_path: Path) -> None:
    (tmp_path / "garbage.pt").write_bytes(b"definitely not a checkpoint")
    with pytest.raises(RuntimeError, match=re.escape("garbage.pt")):
        OpenCLIPImageEncoder(tiny_clip_model_name, pretrained=str(tmp_path / "garbage.pt"), device="cpu")


def test_checkpoint_with_missing_keys_raises(
    tiny_clip_encoder: OpenCLIPImageEncoder, tiny_clip_model_name: str, tmp_path: Path
) -> None:
    state = tiny_clip_encoder.model.state_dict()
    del state["visual.proj"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(RuntimeError, match=re.escape("visual.proj")):
        OpenCLIPImageEncoder(tiny_clip_model_name, pretrained=str(tmp_path / "partial.pt"), device="cpu")


def test_local_checkpoint_reproduces_saved_model(
    tiny_clip_encoder: OpenCLIPImageEncoder, tiny_clip_model_name: str, images, tmp_path: Path
) -> None:
    torch.save(tiny_clip_encoder.model.state_dict(), tmp_path / "tiny.pt")
    torch.manual_seed(123)  # different random init: only the checkpoint can make the features match
    loaded = OpenCLIPImageEncoder(tiny_clip_model_name, pretrained=str(tmp_path / "tiny.pt"), device="cpu")
    assert loaded.pretrained == str(tmp_path / "tiny.pt")
    assert not loaded.model.training
    # same weights; kernels may pick another reduction order with one thread, so not bit-exact
    torch.testing.assert_close(loaded(images), tiny_clip_encoder(images), rtol=0, atol=1e-6)


def test_invalid_options_are_rejected(tiny_clip_model_name: str) -> None:
    with pytest.raises(ValueError, match="precision"):
        OpenCLIPImageEncoder(tiny_clip_model_name, precision="fp8")
    with pytest.raises(ValueError, match="batch_size"):
        OpenCLIPImageEncoder(tiny_clip_model_name, batch_size=0)
    with pytest.raises(ValueError, match="unknown open_clip model"):
        OpenCLIPImageEncoder("ViT-B-32-quickgelu-typo", pretrained="openai")
    with pytest.raises(ValueError, match="pretrained=None"):
        OpenCLIPImageEncoder("hf-hub:someone/some-clip", pretrained="openai")


def test_open_clip_root_logging_is_not_leaked(tiny_clip_model_name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        OpenCLIPImageEncoder(tiny_clip_model_name, device="cpu")
    root_records = [r for r in caplog.records if r.name == "root"]
    assert root_records == []
    assert any("initialized randomly" in r.getMessage() for r in caplog.records if r.name.startswith("vega"))


def test_plain_callable_satisfies_protocol() -> None:
    def mean_color(images):  # deliberately untyped, like user code
        return torch.zeros(len(images), 3)

    assert isinstance(mean_color, ImageEncoder)


def test_importing_the_encoder_does_not_import_open_clip() -> None:
    code = (
        "import sys, vega_anchors, vega_anchors.encoders, vega_anchors.anchors.bank, "
        "vega_anchors.anchors.folder, vega_anchors.images\n"
        "assert 'open_clip' not in sys.modules, 'open_clip was imported eagerly'\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr


def test_low_precision_casts_the_frozen_model_once(tiny_clip_model_name: str, images, monkeypatch) -> None:
    encoder = OpenCLIPImageEncoder(tiny_clip_model_name, device="cpu", precision="bf16", progress=False)
    floats = [p for p in encoder.model.parameters() if p.is_floating_point()]
    assert floats and all(p.dtype == torch.bfloat16 for p in floats)  # cast at construction
    calls: list[object] = []
    real_autocast = torch.autocast
    monkeypatch.setattr(torch, "autocast", lambda *a, **k: calls.append(a) or real_autocast(*a, **k))
    model_before = encoder.model
    feats = encoder(images[:3])
    assert feats.dtype == torch.float32 and calls == []  # no autocast per call
    assert encoder.model is model_before  # not re-cast


def test_changing_precision_on_a_copy_leaves_the_original_fp32(tiny_clip_encoder: OpenCLIPImageEncoder, images) -> None:
    low = copy.copy(tiny_clip_encoder)
    low.precision = "bf16"
    low(images[:2])
    cast_model = low.model
    assert cast_model is not tiny_clip_encoder.model
    assert next(cast_model.parameters()).dtype == torch.bfloat16
    assert next(tiny_clip_encoder.model.parameters()).dtype == torch.float32
    low(images[:2])
    assert low.model is cast_model  # cast once, reused
