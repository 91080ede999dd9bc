"""StochasticAnchorSampler: draw rate, eval behaviour, reproducibility, resume."""

from __future__ import annotations

import pytest
import torch

from vega_anchors import AnchorBank, StochasticAnchorSampler


@pytest.fixture
def bank() -> AnchorBank:
    g = torch.Generator().manual_seed(0)
    return AnchorBank.from_features({f"c{i}": torch.randn(i + 2, 16, generator=g) for i in range(4)})


def _is_center(anchors: torch.Tensor, bank: AnchorBank) -> bool:
    return torch.equal(anchors, bank.centers)


def test_draw_rate_matches_p(bank: AnchorBank) -> None:
    sampler = StochasticAnchorSampler(p=0.4, seed=1).train()
    draws = [not _is_center(sampler(bank), bank) for _ in range(2000)]
    assert sum(draws) / len(draws) == pytest.approx(0.4, abs=0.04)


def test_drawn_anchors_are_exemplars_of_their_own_class(bank: AnchorBank) -> None:
    sampler = StochasticAnchorSampler(p=1.0, seed=2).train()
    seen = [set() for _ in range(bank.num_classes)]
    for _ in range(300):
        anchors = sampler(bank)
        for c in range(bank.num_classes):
            matches = (bank.exemplars[c, : bank.counts[c]] == anchors[c]).all(-1).nonzero()
            assert len(matches) == 1
            seen[c].add(int(matches[0]))
    assert [len(s) for s in seen] == bank.counts.tolist()  # every exemplar gets drawn
    torch.testing.assert_close(anchors.norm(dim=-1), torch.ones(bank.num_classes))


def test_eval_always_uses_centers(bank: AnchorBank) -> None:
    sampler = StochasticAnchorSampler(p=1.0).eval()
    assert all(_is_center(sampler(bank), bank) for _ in range(20))
    assert torch.equal(StochasticAnchorSampler(p=1.0, mode="utterance").eval()(bank, 5), bank.centers.expand(5, -1, -1))


def test_seeded_draws_are_reproducible(bank: AnchorBank) -> None:
    a = [StochasticAnchorSampler(seed=7).train()(bank) for _ in range(1)]
    s1, s2 = StochasticAnchorSampler(seed=7).train(), StochasticAnchorSampler(seed=7).train()
    assert all(torch.equal(s1(bank), s2(bank)) for _ in range(50))
    assert a[0].shape == (4, 16)


def test_utterance_mode_draws_independently(bank: AnchorBank) -> None:
    sampler = StochasticAnchorSampler(p=0.5, mode="utterance", seed=3).train()
    anchors = sampler(bank, 400)
    assert anchors.shape == (400, 4, 16)
    centers = (anchors == bank.centers).all(-1).all(-1).float().mean().item()
    assert centers == pytest.approx(0.5, abs=0.08)
    with pytest.raises(ValueError, match="needs n"):
        sampler(bank)


def test_generator_state_survives_state_dict(bank: AnchorBank) -> None:
    s1 = StochasticAnchorSampler(p=0.5, seed=11).train()
    for _ in range(5):
        s1(bank)
    s2 = StochasticAnchorSampler(p=0.5, seed=0).train()
    s2.load_state_dict(s1.state_dict())
    assert all(torch.equal(s1(bank), s2(bank)) for _ in range(30))


def test_follows_bank_dtype(bank: AnchorBank) -> None:
    bank = bank.double()
    assert StochasticAnchorSampler(p=1.0).train()(bank).dtype == torch.float64


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="p must be"):
        StochasticAnchorSampler(p=1.5)
    with pytest.raises(ValueError, match="mode"):
        StochasticAnchorSampler(mode="class")  # type: ignore[arg-type]
