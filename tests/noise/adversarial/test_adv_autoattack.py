"""AutoAttack's composition: components run on the points still robust; per-point worst case."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from robustmq.noise.adversarial import AttackGuardError, AutoAttackLinf, compose, seeded
from robustmq.noise.adversarial.guards import perturbation_norms

EPS = 0.1


class Threshold(nn.Module):
    """Class 1 when channel 0 exceeds 0.5, else class 0; channel 1 carries the point's id."""

    def forward(self, x: Tensor) -> Tensor:
        v = x[:, 0, 0, 0]
        return torch.stack([0.5 - v, v - 0.5], dim=1)


def _images(n: int) -> tuple[Tensor, Tensor]:
    x = torch.zeros(n, 2, 1, 1)
    x[:, 0] = 0.45
    x[:, 1] = torch.arange(n).float().reshape(n, 1, 1) / 1000
    return x, torch.zeros(n, dtype=torch.int64)


def _fake(k: int, fools: set[int], seen: list[set[int]]):  # type: ignore[no-untyped-def]
    """Component k: pushes the points in ``fools`` to 0.5 + 0.01 k (fooled), others barely."""

    def component(x: Tensor, y: Tensor) -> Tensor:
        ids = {round(float(v) * 1000) for v in x[:, 1].flatten()}
        seen.append(ids)
        out = x.clone()
        for i, point in enumerate(x[:, 1].flatten().tolist()):
            out[i, 0] = 0.5 + 0.01 * k if round(point * 1000) in fools else 0.45 + 0.001 * k
        return out

    return component


class TestCompose:
    @settings(max_examples=40)
    @given(
        n=st.integers(1, 12),
        wrong=st.sets(st.integers(0, 11)),
        fools=st.lists(st.sets(st.integers(0, 11)), min_size=1, max_size=4),
    )
    def test_keeps_the_first_success_per_point(
        self, n: int, wrong: set[int], fools: list[set[int]]
    ) -> None:
        """A point keeps the first component's fooling image; later ones never see it."""
        x, y = _images(n)
        wrong = {i for i in wrong if i < n}
        y[list(wrong)] = 1  # misclassified from the start
        seen: list[set[int]] = []
        components = [(f"c{k}", _fake(k + 1, f, seen)) for k, f in enumerate(fools)]
        out = compose(Threshold(), components, x, y, EPS, "linf")
        robust = set(range(n)) - wrong
        for k, f in enumerate(fools):
            if not robust:
                assert out.stats[f"c{k}"] == 0
                continue
            assert seen.pop(0) == robust  # ran on exactly the points still robust
            hit = robust & f
            assert out.stats[f"c{k}"] == len(hit)
            for i in hit:
                assert float(out.adv[i, 0]) == pytest.approx(0.5 + 0.01 * (k + 1))
            robust -= hit
        for i in robust | wrong:
            torch.testing.assert_close(out.adv[i], x[i])  # unfooled points keep the clean image
        assert out.stats["clean_wrong"] == len(wrong)
        fooled_after = Threshold()(out.adv).argmax(1) != y
        assert {i for i in range(n) if fooled_after[i]} == set(range(n)) - robust

    def test_a_component_leaving_the_ball_is_refused(self) -> None:
        """A component returning a point outside the eps-ball raises AttackGuardError."""
        x, y = _images(3)

        def bad(x: Tensor, y: Tensor) -> Tensor:
            return (x + 2 * EPS).clamp(0, 1)

        with pytest.raises(AttackGuardError, match=r"autoattack/bad.*eps=0\.1"):
            compose(Threshold(), [("bad", bad)], x, y, EPS, "linf")


class TestStandardAutoAttack:
    def test_parameters_are_the_standard_ones(self) -> None:
        """The default composition is the standard one: 100 it., 9 targets, 5,000 queries."""
        params = AutoAttackLinf(8 / 255, num_classes=1000).params()
        assert params["apgd_steps"] == params["apgdt_steps"] == params["fab_steps"] == 100
        assert params["n_target_classes"] == 9
        assert params["square_queries"] == 5000
        assert params["n_restarts"] == 1
        assert AutoAttackLinf(8 / 255, num_classes=10).targets == 9
        assert AutoAttackLinf(8 / 255, num_classes=4).targets == 3

    def test_real_components_stay_in_the_ball(self) -> None:
        """The torchattacks components (short runs) keep every point in the eps-ball and [0, 1]."""
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 4)
        ).eval()
        x = torch.rand(6, 3, 4, 4)
        y = model(x).argmax(1)  # all clean-correct
        attack = AutoAttackLinf(
            4 / 255, num_classes=4, apgd_steps=5, apgdt_steps=5, fab_steps=5, square_queries=30
        )
        with seeded(0):
            out = attack.perturb(model, x, y)
        assert float(perturbation_norms(x, out.adv, "linf").max()) <= 4 / 255 + 1e-6
        assert float(out.adv.min()) >= 0
        assert float(out.adv.max()) <= 1
        assert set(out.stats) == {"clean_wrong", "apgd_ce", "apgd_t", "fab_t", "square"}
