"""AnchorBank: construction, selection, persistence, the official anchor file, image folders."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vega_anchors.anchors.bank import AnchorBank
from vega_anchors.encoders import OpenCLIPImageEncoder
from vega_anchors.images import load_image
from vega_anchors.labels import EMOTION_LABELS
from vega_anchors.official import anchors_to_official, load_anchors

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "iemocap_small.pt"


@pytest.fixture(scope="module")
def official() -> dict[str, Any]:
    return torch.load(GOLDEN, map_location="cpu", weights_only=True)["anchors_official_format"]


@pytest.fixture
def features() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {name: torch.randn(k, 8, generator=gen) * 3 for name, k in [("anger", 3), ("happy", 1), ("sad", 5)]}


def _assert_banks_equal(a: AnchorBank, b: AnchorBank) -> None:
    assert a.class_names == b.class_names
    assert a.encoder_name == b.encoder_name and a.pretrained == b.pretrained
    for name, buffer in a.named_buffers():
        other = dict(b.named_buffers())[name]
        assert buffer.dtype == other.dtype and torch.equal(buffer, other), name


# ---- from_features / select ----------------------------------------------------------------------


def test_from_features_normalises_and_averages(features: dict[str, torch.Tensor]) -> None:
    bank = AnchorBank.from_features(features, encoder_name="tiny", pretrained="x.pt")
    assert bank.class_names == ["anger", "happy", "sad"]
    assert bank.counts.tolist() == [3, 1, 5] and bank.num_classes == 3 and bank.dim == 8
    assert bank.exemplars.shape == (3, 5, 8)
    for i, feats in enumerate(features.values()):
        unit = F.normalize(feats, dim=-1)
        torch.testing.assert_close(bank.exemplars[i, : len(feats)], unit)
        assert (bank.exemplars[i, len(feats) :] == 0).all()  # padding stays zero
        torch.testing.assert_close(bank.center_means[i], unit.mean(0))
        torch.testing.assert_close(bank.centers[i], F.normalize(unit.mean(0), dim=0))
    torch.testing.assert_close(bank.centers.norm(dim=-1), torch.ones(3))
    assert {n for n, _ in bank.named_buffers()} == {"exemplars", "counts", "center_means", "centers"}


def test_from_features_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        AnchorBank.from_features({})
    with pytest.raises(ValueError, match="'sad'"):
        AnchorBank.from_features({"anger": torch.randn(2, 4), "sad": torch.randn(0, 4)})
    with pytest.raises(ValueError, match="same feature dim"):
        AnchorBank.from_features({"anger": torch.randn(2, 4), "sad": torch.randn(2, 5)})


def test_select_picks_one_exemplar_per_class(features: dict[str, torch.Tensor]) -> None:
    bank = AnchorBank.from_features(features)
    picked = bank.select([2, 0, 4])
    assert picked.shape == (3, 8)
    torch.testing.assert_close(picked, torch.stack([bank.exemplars[0, 2], bank.exemplars[1, 0], bank.exemplars[2, 4]]))
    many = bank.select(torch.tensor([[0, 0, 0], [1, 0, 3]]))
    assert many.shape == (2, 3, 8)
    torch.testing.assert_close(many[1, 2], bank.exemplars[2, 3])
    with pytest.raises(IndexError):
        bank.select([0, 1, 0])  # class "happy" has one exemplar
    with pytest.raises(ValueError, match="one index per class"):
        bank.select([0, 0])


# ---- save / load ---------------------------------------------------------------------------------


def test_save_load_round_trip_is_exact(features: dict[str, torch.Tensor], tmp_path: Path) -> None:
    bank = AnchorBank.from_features(features, encoder_name="ViT-B-32-quickgelu", pretrained="openai")
    path = bank.save(tmp_path / "sub" / "bank.safetensors")
    assert path == tmp_path / "sub" / "bank.safetensors" and path.is_file()
    loaded = AnchorBank.load(path)
    _assert_banks_equal(bank, loaded)
    assert loaded.counts.tolist() == [3, 1, 5]
    assert loaded.metadata() == bank.metadata()


def test_load_state_dict_adopts_stored_shapes(features: dict[str, torch.Tensor]) -> None:
    bank = AnchorBank.from_features(features)
    other = AnchorBank.from_features({"a": torch.randn(1, 8), "b": torch.randn(1, 8), "c": torch.randn(1, 8)})
    other.load_state_dict(bank.state_dict())
    assert torch.equal(other.exemplars, bank.exemplars) and torch.equal(other.centers, bank.centers)


def test_save_is_atomic(features: dict[str, torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    path = tmp_path / "bank.safetensors"
    AnchorBank.from_features(features).save(path)
    before = path.read_bytes()

    def failing_writer(tensors: dict[str, torch.Tensor], filename: str, metadata: Any = None) -> None:
        Path(filename).write_bytes(b"half a fi")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", failing_writer)
    changed = AnchorBank.from_features({"anger": torch.ones(2, 8)})
    with pytest.raises(OSError, match="disk full"):
        changed.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["bank.safetensors"]  # no temporary file left behind


def test_load_rejects_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "x.safetensors").write_bytes(b"nonsense")
    with pytest.raises(ValueError, match=r"official\.load_anchors"):
        AnchorBank.load(tmp_path / "x.safetensors")
    with pytest.raises(FileNotFoundError):
        AnchorBank.load(tmp_path / "missing.safetensors")


# ---- official format -----------------------------------------------------------------------------


def test_from_official_golden(official: dict[str, Any], tmp_path: Path) -> None:
    torch.save(official, tmp_path / "35_anchor.pt")
    for source in (official, tmp_path / "35_anchor.pt"):
        bank = load_anchors(source)
        assert bank.class_names == list(official["anchor_img_dict"]) == list(EMOTION_LABELS["iemocap"])
        torch.testing.assert_close(bank.centers, F.normalize(official["anchor_center"], dim=-1))
        torch.testing.assert_close(bank.center_means, official["anchor_center"])
        for i, name in enumerate(bank.class_names):
            feats = official["anchor_img_dict"][name]["feature"]
            assert bank.counts[i] == len(feats)
            torch.testing.assert_close(bank.exemplars[i, : len(feats)], F.normalize(feats, dim=-1))


def test_from_official_reorders_and_subsets(official: dict[str, Any]) -> None:
    bank = load_anchors(official, classes=["angry", "happiness", "sad"])
    assert bank.class_names == ["anger", "happy", "sad"]
    order = list(official["anchor_img_dict"])
    expected = official["anchor_center"][[order.index(n) for n in bank.class_names]]
    torch.testing.assert_close(bank.centers, F.normalize(expected, dim=-1))
    with pytest.raises(KeyError, match="fear"):
        load_anchors(official, classes=["fear", "sad"])


def test_to_official_round_trip(official: dict[str, Any], tmp_path: Path) -> None:
    bank = load_anchors(official)
    exported = anchors_to_official(bank)
    assert list(exported["anchor_img_dict"]) == bank.class_names
    torch.save(exported, tmp_path / "exported.pt")
    again = load_anchors(tmp_path / "exported.pt")
    _assert_banks_equal(bank, again)
    for name in bank.class_names:
        torch.testing.assert_close(
            exported["anchor_img_dict"][name]["feature"],
            F.normalize(official["anchor_img_dict"][name]["feature"], dim=-1),
        )


def test_from_official_rejects_other_layouts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="anchor_img_dict"):
        load_anchors({"anchor_center": torch.zeros(2, 4)})
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(ValueError, match="not an official anchor file"):
        load_anchors(tmp_path / "tensor.pt")


class _CreatesFile:
    """Unpickling this calls ``open(marker, "w")``: a stand-in for arbitrary code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_from_official_refuses_malicious_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    payload = {
        "anchor_center": torch.zeros(1, 4),
        "anchor_img_dict": {"anger": {"feature": _CreatesFile(marker)}},
    }
    torch.save(payload, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=re.escape("evil.pt")):
        load_anchors(tmp_path / "evil.pt")
    assert not marker.exists()
    # the payload is live: a full unpickle does create the file
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


# ---- image folders -------------------------------------------------------------------------------


def test_from_image_folder_with_open_clip_encoder(
    image_folder: Path, tiny_clip_encoder: OpenCLIPImageEncoder, tiny_clip_model_name: str
) -> None:
    bank = AnchorBank.from_image_folder(image_folder, tiny_clip_encoder, classes=["sad", "happy", "angry"])
    assert bank.class_names == ["sad", "happy", "anger"]
    assert bank.counts.tolist() == [4, 2, 3] and bank.dim == tiny_clip_encoder.dim
    assert bank.encoder_name == tiny_clip_model_name and bank.pretrained is None
    sad = sorted((image_folder / "sad").glob("*.png"))
    torch.testing.assert_close(bank.exemplars[0, :4], tiny_clip_encoder(sad), atol=1e-5, rtol=0)
    torch.testing.assert_close(bank.centers.norm(dim=-1), torch.ones(3))


def test_from_image_folder_with_plain_callable(image_folder: Path) -> None:
    seen: list[list[Any]] = []

    def mean_color(images: list[Any]) -> torch.Tensor:
        seen.append(list(images))
        return torch.stack(
            [torch.tensor(np.asarray(load_image(im)), dtype=torch.float64).mean((0, 1)) for im in images]
        )

    bank = AnchorBank.from_image_folder(image_folder, mean_color)
    assert bank.class_names == ["anger", "happy", "sad"] and bank.counts.tolist() == [3, 2, 4]
    assert len(seen) == 1 and len(seen[0]) == 9  # one call with every path, grouped by class
    assert bank.encoder_name is None and bank.dim == 3
    first = np.asarray(Image.open(image_folder / "Angry" / "img0.png"), dtype=np.float64).mean((0, 1))
    torch.testing.assert_close(bank.exemplars[0, 0], F.normalize(torch.tensor(first), dim=0).to(bank.exemplars.dtype))


def test_from_image_folder_checks_encoder_output(image_folder: Path) -> None:
    with pytest.raises(ValueError, match="returned 1 features for 9 images"):
        AnchorBank.from_image_folder(image_folder, lambda images: torch.zeros(1, 4))


def test_from_image_folder_skip_unreadable(image_folder: Path) -> None:
    (image_folder / "sad" / "broken.jpg").write_bytes(b"\xff\xd8 not really")

    def encoder(images: list[Any]) -> torch.Tensor:
        return torch.randn(len(images), 4)

    with pytest.raises(ValueError, match=re.escape("broken.jpg")):
        AnchorBank.from_image_folder(image_folder, encoder)
    with pytest.warns(UserWarning, match=re.escape("broken.jpg")):
        bank = AnchorBank.from_image_folder(image_folder, encoder, skip_unreadable=True)
    assert bank.counts.tolist() == [3, 2, 4]
