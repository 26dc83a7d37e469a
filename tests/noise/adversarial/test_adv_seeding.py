"""Seeding: the same seed gives identical adversarial images; global RNG state is restored."""

from __future__ import annotations

import random

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from robustmq.noise.adversarial import (
    PGDL2,
    AutoAttackLinf,
    PGDLinf,
    derive_seed,
    run_attack,
    seeded,
)

CPU = torch.device("cpu")


def _setup() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 4)
    ).eval()
    x = torch.rand(6, 3, 4, 4)
    return model, x, model(x).argmax(1).detach()


class TestSameSeed:
    @settings(max_examples=10)
    @given(seed=st.integers(0, 2**62), l2=st.booleans())
    def test_pgd_images_are_identical(self, seed: int, l2: bool) -> None:
        """Two runs with one seed give bit-identical images; another seed gives other images."""
        model, x, y = _setup()
        attack = PGDL2(0.3) if l2 else PGDLinf(8 / 255)
        runs = [
            run_attack(model, attack, x, y, seed=s, batch_size=4, device=CPU, keep_images=True)
            for s in (seed, seed, seed + 1)
        ]
        assert torch.equal(runs[0].adv, runs[1].adv)  # type: ignore[arg-type]
        assert not torch.equal(runs[0].adv, runs[2].adv)  # type: ignore[arg-type]

    def test_autoattack_images_are_identical(self) -> None:
        """The composed AutoAttack (short runs) is reproducible under one seed."""
        model, x, y = _setup()
        attack = AutoAttackLinf(
            16 / 255, num_classes=4, apgd_steps=5, apgdt_steps=5, fab_steps=5, square_queries=20
        )
        a, b = (
            run_attack(model, attack, x, y, seed=7, batch_size=6, device=CPU, keep_images=True)
            for _ in range(2)
        )
        assert torch.equal(a.adv, b.adv)  # type: ignore[arg-type]
        assert a.stats == b.stats

    def test_unaffected_by_what_ran_before(self) -> None:
        """A run's result does not depend on the global RNG state left by earlier code."""
        model, x, y = _setup()
        first = run_attack(
            model, PGDLinf(0.05), x, y, seed=3, batch_size=6, device=CPU, keep_images=True
        )
        torch.rand(100)
        np.random.rand(5)
        again = run_attack(
            model, PGDLinf(0.05), x, y, seed=3, batch_size=6, device=CPU, keep_images=True
        )
        assert torch.equal(first.adv, again.adv)  # type: ignore[arg-type]


class TestSeeded:
    def test_restores_every_global_generator(self) -> None:
        """Draws after a seeded block equal the draws without it (torch, NumPy, random)."""
        torch.manual_seed(1), np.random.seed(1), random.seed(1)
        expected = (torch.rand(3), np.random.rand(3), random.random())
        torch.manual_seed(1), np.random.seed(1), random.seed(1)
        with seeded(123):
            torch.manual_seed(999)  # as AutoAttack's components do
            torch.rand(10), np.random.rand(10), random.random()
        got = (torch.rand(3), np.random.rand(3), random.random())
        assert torch.equal(got[0], expected[0])
        assert np.array_equal(got[1], expected[1])
        assert got[2] == expected[2]

    @given(seed=st.integers(0, 2**31), cell=st.text(max_size=20))
    def test_derive_seed_is_stable_and_separates_keys(self, seed: int, cell: str) -> None:
        """derive_seed depends on the run seed and keys only, and differs between cells."""
        s = derive_seed(seed, cell)
        assert s == derive_seed(seed, cell)
        assert 0 <= s < 2**63
        assert s != derive_seed(seed, cell + "x")
        assert s != derive_seed(seed + 1, cell)
