"""Curated selection: deterministic per seed, typical = nearest the class mean, diverse = k-center."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vega_anchors import AnchorBank
from vega_anchors.anchors.pools import ExemplarPool
from vega_anchors.anchors.selection import SELECT_METHODS, select_exemplars


def features(n_per_class: int = 20, dim: int = 16, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(2, dim, generator=g) * 3
    feats = torch.cat([centres[c] + torch.randn(n_per_class, dim, generator=g) for c in range(2)])
    return feats, ["a"] * n_per_class + ["b"] * n_per_class


@pytest.mark.parametrize("method", SELECT_METHODS)
def test_deterministic_per_seed(method: str) -> None:
    feats, labels = features()
    one = select_exemplars(feats, labels, per_class=5, select=method, seed=1)
    two = select_exemplars(feats, labels, per_class=5, select=method, seed=1)
    assert one.indices == two.indices
    assert [len(v) for v in one.indices.values()] == [5, 5]
    assert all(i < 20 for i in one.indices["a"]) and all(i >= 20 for i in one.indices["b"])


def test_random_depends_on_the_seed() -> None:
    feats, labels = features()
    picks = {
        tuple(select_exemplars(feats, labels, per_class=5, select="random", seed=s).indices["a"]) for s in range(4)
    }
    assert len(picks) > 1


def test_typical_picks_the_images_nearest_the_class_mean() -> None:
    feats, labels = features()
    chosen = select_exemplars(feats, labels, per_class=4, select="typical").indices
    unit = F.normalize(feats, dim=-1)
    for name, lo in (("a", 0), ("b", 20)):
        cls = unit[lo : lo + 20]
        cos = cls @ F.normalize(cls.mean(0), dim=0)
        expected = (torch.argsort(-cos)[:4] + lo).tolist()
        assert chosen[name] == expected


def test_diverse_spreads_out_more_than_typical() -> None:
    feats, labels = features(n_per_class=40)
    unit = F.normalize(feats, dim=-1)

    def mean_pairwise(idx: list[int]) -> float:
        sim = unit[idx] @ unit[idx].T
        return float((sim.sum() - sim.diagonal().sum()) / (len(idx) * (len(idx) - 1)))

    typical = select_exemplars(feats, labels, per_class=6, select="typical").indices["a"]
    diverse = select_exemplars(feats, labels, per_class=6, select="diverse").indices["a"]
    assert diverse[0] == typical[0]  # k-center starts at the most typical
    assert mean_pairwise(diverse) < mean_pairwise(typical)


def test_outlier_and_duplicate_removal() -> None:
    feats, labels = features()
    feats[3] = -feats[0:20].mean(0)  # far from class a
    feats[5] = feats[6] * 1.0001  # duplicate of 6
    sel = select_exemplars(feats, labels, per_class=30, select="typical", outlier_z=2.5, duplicate_threshold=0.999)
    assert sel.removed_outliers["a"] == [3]
    assert len(sel.removed_duplicates["a"]) == 1 and sel.removed_duplicates["a"][0] in (5, 6)
    assert 3 not in sel.indices["a"] and len(sel.indices["a"]) == 18  # fewer than per_class: all kept
    assert sel.settings["duplicate_threshold"] == 0.999


def test_bad_arguments() -> None:
    feats, labels = features()
    with pytest.raises(ValueError, match="select must be one of"):
        select_exemplars(feats, labels, select="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="N = len"):
        select_exemplars(feats[:3], labels)
    with pytest.raises(ValueError, match="no candidates"):
        select_exemplars(feats, labels, classes=["a", "c"])


def test_from_pool_records_sources_and_round_trips(tmp_path, make_image) -> None:
    images = [make_image(i, (32, 32)) for i in range(12)]
    pool = ExemplarPool(images, ["anger"] * 6 + ["happy"] * 6, [f"img{i}.png" for i in range(12)], "custom")

    def encoder(batch):  # a deterministic stand-in: the 2x2 thumbnail's pixels
        return torch.stack(
            [torch.from_numpy(np.asarray(im.resize((2, 2)), dtype=np.float32)).flatten() for im in batch]
        )

    bank = AnchorBank.from_pool(
        pool, encoder, ["anger", "happy", "excited"], per_class=3, select="typical", mapping={"excited": "happy"}
    )
    assert bank.class_names == ["anger", "happy", "excited"] and bank.counts.tolist() == [3, 3, 3]
    assert bank.sources is not None and bank.sources["excited"] == bank.sources["happy"]
    assert all(s in pool.sources[:6] for s in bank.sources["anger"])
    assert bank.provenance is not None and bank.provenance["select"] == "typical"
    assert bank.provenance["mapping"]["excited"] == ["happy"] and bank.provenance["candidates"]["anger"] == 6
    path = bank.save(tmp_path / "bank.safetensors")
    loaded = AnchorBank.load(path)
    assert loaded.sources == bank.sources and loaded.provenance == bank.provenance
    assert torch.equal(loaded.exemplars, bank.exemplars)
    limited = AnchorBank.from_pool(pool, encoder, ["anger", "happy"], per_class=2, candidates_per_class=4, seed=3)
    assert limited.provenance["candidates"] == {"anger": 4, "happy": 4}
    again = AnchorBank.from_pool(pool, encoder, ["anger", "happy"], per_class=2, candidates_per_class=4, seed=3)
    assert again.sources == limited.sources


def test_from_pool_with_the_tiny_clip_encoder(tiny_clip_encoder, make_image) -> None:
    images = [make_image(i, (40, 40)) for i in range(8)]
    pool = ExemplarPool(images, ["sad", "fear"] * 4, [f"s{i}" for i in range(8)])
    bank = AnchorBank.from_pool(pool, tiny_clip_encoder, ["sad", "fear"], per_class=2, select="diverse")
    assert bank.dim == 16 and bank.counts.tolist() == [2, 2]
    assert bank.encoder_name == tiny_clip_encoder.model_name
