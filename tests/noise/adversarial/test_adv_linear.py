"""FGSM and PGD on a linear two-class classifier, where the worst case is known in closed form."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from robustmq.noise.adversarial import FGSM, PGDL2, PGDLinf, seeded

SHAPE = (3, 4, 4)


def _linear(seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small linear classifier, inputs inside [0.3, 0.7], labels, and w_label - w_other."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 2)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(2, 48, generator=g) * 0.1)
        model[1].bias.zero_()
    x = 0.3 + 0.4 * torch.rand(5, *SHAPE, generator=g)
    y = torch.randint(0, 2, (5,), generator=g)
    w = model[1].weight.detach()
    d = (w[y] - w[1 - y]).reshape(5, *SHAPE)
    return model, x, y, d


seeds = st.integers(0, 2**16)
budgets = st.floats(0.01, 0.2)


class TestFGSM:
    @settings(max_examples=15)
    @given(seed=seeds, eps=budgets)
    def test_moves_every_pixel_by_eps_against_the_margin(self, seed: int, eps: float) -> None:
        """FGSM on a linear model returns x - eps * sign(w_y - w_other)."""
        model, x, y, d = _linear(seed)
        adv = FGSM(eps).perturb(model, x, y).adv
        torch.testing.assert_close(adv, x - eps * d.sign(), rtol=0, atol=1e-6)


class TestPGDLinf:
    @settings(max_examples=15)
    @given(seed=seeds, eps=budgets)
    def test_without_random_start_reaches_the_optimal_corner(self, seed: int, eps: float) -> None:
        """20 steps of 3/40 eps from x end at the L-inf optimum x - eps * sign(w_y - w_other)."""
        model, x, y, d = _linear(seed)
        adv = PGDLinf(eps, random_start=False).perturb(model, x, y).adv
        torch.testing.assert_close(adv, x - eps * d.sign(), rtol=0, atol=1e-6)

    @settings(max_examples=15)
    @given(seed=seeds, eps=budgets, start=seeds)
    def test_from_a_random_start_follows_the_closed_form(
        self, seed: int, eps: float, start: int
    ) -> None:
        """From start z0, each pixel moves 20 * 3/40 * eps against the margin, capped at eps."""
        model, x, y, d = _linear(seed)
        with seeded(start):
            adv = PGDLinf(eps).perturb(model, x, y).adv
        with seeded(start):
            z0 = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        expected = torch.where(
            d > 0,
            torch.maximum(z0 - 1.5 * eps, x - eps),
            torch.minimum(z0 + 1.5 * eps, x + eps),
        )
        torch.testing.assert_close(adv, expected, rtol=0, atol=1e-5)


class TestPGDL2:
    @settings(max_examples=15)
    @given(seed=seeds, eps=st.floats(0.01, 0.5))
    def test_without_random_start_reaches_the_l2_optimum(self, seed: int, eps: float) -> None:
        """PGD L2 from x ends at x - eps * (w_y - w_other) / ||w_y - w_other||."""
        model, x, y, d = _linear(seed)
        adv = PGDL2(eps, random_start=False).perturb(model, x, y).adv
        unit = d / d.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
        torch.testing.assert_close(adv, x - eps * unit, rtol=0, atol=1e-5)

    @settings(max_examples=15)
    @given(seed=seeds, eps=st.floats(0.01, 0.5))
    def test_never_beats_the_l2_optimum_from_a_random_start(self, seed: int, eps: float) -> None:
        """From a random start the margin drops, by at most eps * ||w_y - w_other||."""
        model, x, y, d = _linear(seed)
        with seeded(seed):
            adv = PGDL2(eps).perturb(model, x, y).adv
        drop = ((x - adv) * d).flatten(1).sum(1)
        optimum = eps * d.flatten(1).norm(dim=1)
        assert bool((drop <= optimum * (1 + 1e-4) + 1e-6).all())
        assert bool((drop > 0).all())
