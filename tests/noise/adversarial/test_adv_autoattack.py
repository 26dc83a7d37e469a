"""AutoAttack: the authors' components, configured as their standard version, composed per point."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pyautoattack import AutoAttack
from pyautoattack.autopgd_base import APGDAttack_targeted
from torch import Tensor, nn

from robustmq.exceptions import InvalidOptionError
from robustmq.noise.adversarial import AttackGuardError, AutoAttackLinf, compose, seeded
from robustmq.noise.adversarial.autoattack import COMPONENTS, IMPLEMENTATION, model_device
from robustmq.noise.adversarial.guards import perturbation_norms

EPS = 0.1
#: short runs for the fast tests (the standard numbers are the defaults)
SHORT = {"apgd_steps": 5, "apgdt_steps": 5, "fab_steps": 5, "square_queries": 30}


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


def _net(classes: int, size: int = 4, seed: int = 0) -> nn.Module:
    """A tiny conv net with ``classes`` outputs on ``3 x size x size`` images (eval mode)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * size * size, classes)
    ).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _data(model: nn.Module, n: int, size: int = 4, wrong: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` random images labelled with the model's prediction, the first ``wrong`` shifted."""
    x = torch.rand(n, 3, size, size)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:wrong] = (y[:wrong] + 1) % int(model(x[:1]).shape[1])
    return x, y


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


#: (our component, the official AutoAttack attribute, attributes that must agree)
_SHARED = ("norm", "eps", "n_restarts", "n_iter", "seed")
_CONFIG: list[tuple[str, str, tuple[str, ...]]] = [
    ("apgd_ce", "apgd", (*_SHARED, "loss", "thr_decr", "eot_iter", "n_iter_2", "n_iter_min")),
    ("apgd_t", "apgd_targeted", (*_SHARED, "loss", "thr_decr", "eot_iter", "n_target_classes")),
    ("fab_t", "fab", (*_SHARED, "alpha_max", "eta", "beta", "n_target_classes")),
    ("square", "square", ("norm", "eps", "n_restarts", "seed", "n_queries", "p_init", "loss")),
]


class TestStandardAutoAttack:
    def test_defaults_are_the_standard_numbers(self) -> None:
        """The default composition is the standard one: 100 it., 9 targets, 5,000 queries."""
        params = AutoAttackLinf(8 / 255, num_classes=1000).params()
        assert params["apgd_steps"] == params["apgdt_steps"] == params["fab_steps"] == 100
        assert params["n_target_classes"] == 9
        assert params["square_queries"] == 5000
        assert params["square_p_init"] == 0.8
        assert params["apgd_rho"] == 0.75
        assert (params["fab_alpha_max"], params["fab_eta"], params["fab_beta"]) == (0.1, 1.05, 0.9)
        assert params["n_restarts"] == 1
        assert params["implementation"] == IMPLEMENTATION == "pyautoattack 0.2.0"
        assert AutoAttackLinf(8 / 255, num_classes=10).targets == 9
        assert AutoAttackLinf(8 / 255, num_classes=4).targets == 3

    def test_components_are_configured_as_the_official_standard_version(self) -> None:
        """Each official object has the numbers ``AutoAttack(version="standard")`` gives it."""
        model = _net(10)
        ours = AutoAttackLinf(8 / 255).official(model, seeds=[3] * 4)
        reference = AutoAttack(model, norm="Linf", eps=8 / 255, version="standard", seed=3)
        assert reference.attacks_to_run == [name.replace("_", "-") for name in COMPONENTS]
        assert list(ours) == list(COMPONENTS)
        for name, attribute, fields in _CONFIG:
            official = getattr(reference, attribute)
            for field in fields:
                assert getattr(ours[name], field) == getattr(official, field), (name, field)
        # set by run_standard_evaluation just before each component runs
        assert ours["apgd_ce"].loss == "ce"
        assert ours["fab_t"].targeted is True
        assert ours["square"].rescale_schedule is False
        assert ours["square"].targeted is False
        # the numbers themselves (a new pyautoattack could change both sides)
        apgd, apgdt, fab, square = (ours[name] for name in COMPONENTS)
        assert (apgd.n_iter, apgd.n_restarts, apgd.thr_decr) == (100, 1, 0.75)
        assert (apgdt.n_iter, apgdt.n_restarts, apgdt.n_target_classes) == (100, 1, 9)
        assert (fab.n_iter, fab.n_restarts, fab.n_target_classes) == (100, 1, 9)
        assert (square.n_queries, square.p_init, square.n_restarts) == (5000, 0.8, 1)

    def test_seeds_come_from_the_global_rng(self) -> None:
        """Without explicit seeds, each component gets its own, drawn from torch's RNG."""
        model, attack = _net(4), AutoAttackLinf(EPS, num_classes=4)
        drawn = []
        for seed in (1, 1, 2):
            torch.manual_seed(seed)
            drawn.append([a.seed for a in attack.official(model).values()])
        assert drawn[0] == drawn[1] != drawn[2]
        assert len(set(drawn[0])) == 4
        assert all(isinstance(s, int) for s in drawn[0])
        with pytest.raises(InvalidOptionError, match="one per component"):
            attack.official(model, seeds=[1, 2])

    def test_components_run_on_the_model_device(self) -> None:
        """The official objects put their tensors on the model's device."""
        model = _net(4)
        attacks = AutoAttackLinf(EPS, num_classes=4).official(model)
        assert {a.device for a in attacks.values()} == {torch.device("cpu")}
        assert model_device(model) == torch.device("cpu")
        assert model_device(Threshold(), torch.device("meta")) == torch.device("meta")

    def test_real_components_keep_the_per_point_worst_case(self) -> None:
        """Short real runs: every point in the eps-ball and [0, 1]; counts match the outcome."""
        model = _net(4)
        x, y = _data(model, 12, wrong=2)
        attack = AutoAttackLinf(32 / 255, num_classes=4, **SHORT)
        with seeded(0):
            out = attack.perturb(model, x, y)
        assert float(perturbation_norms(x, out.adv, "linf").max()) <= 32 / 255 + 1e-6
        assert float(out.adv.min()) >= 0
        assert float(out.adv.max()) <= 1
        assert set(out.stats) == {"clean_wrong", *COMPONENTS}
        with torch.no_grad():
            clean = model(x).argmax(1) == y
            robust = model(out.adv).argmax(1) == y
        assert out.stats["clean_wrong"] == int((~clean).sum()) == 2
        assert sum(out.stats[name] for name in COMPONENTS) == int((clean & ~robust).sum())
        assert int((clean & ~robust).sum()) > 0  # the budget fools some points here
        assert bool(robust.any())  # and leaves some robust
        untouched = robust | ~clean
        assert torch.equal(out.adv[untouched], x[untouched])  # robust points keep the clean image

    def test_seeded_runs_are_identical_and_leave_the_global_rng_alone(self) -> None:
        """One seed, one result; the components' own reseeding does not leak into the caller."""
        model = _net(4)
        x, y = _data(model, 8)
        attack = AutoAttackLinf(32 / 255, num_classes=4, **SHORT)
        runs, states = [], []
        for seed, images in ((7, x), (7, x), (8, x), (7, x[:3])):
            torch.manual_seed(seed)
            runs.append(attack.perturb(model, images, y[: images.shape[0]]))
            states.append(torch.get_rng_state())
        assert torch.equal(runs[0].adv, runs[1].adv)
        assert runs[0].stats == runs[1].stats
        assert not torch.equal(runs[0].adv, runs[2].adv)  # another seed, other random starts
        # after the run the global stream only moved by the seed draw, whatever ran
        assert torch.equal(states[0], states[3])
        torch.manual_seed(7)
        torch.randint(0, 2**31 - 1, (4,))
        assert torch.equal(states[0], torch.get_rng_state())

    def test_fewer_than_ten_classes(self) -> None:
        """5 classes: the targeted components use the 4 other classes and run without error."""
        model = _net(5)
        x, y = _data(model, 4)
        attack = AutoAttackLinf(1e-4, num_classes=5, **SHORT)  # too small to fool: all run
        official = attack.official(model)
        assert official["apgd_t"].n_target_classes == official["fab_t"].n_target_classes == 4
        with seeded(0):
            out = attack.perturb(model, x, y)
        assert out.stats == {"clean_wrong": 0, "apgd_ce": 0, "apgd_t": 0, "fab_t": 0, "square": 0}
        # the official default of 9 targets would index past the 5 classes
        uncapped = APGDAttack_targeted(model, n_iter=2, eps=1e-4, n_target_classes=9, seed=0)
        with pytest.raises(IndexError):
            uncapped.perturb(x, y)

    def test_num_classes_must_match_the_model(self) -> None:
        """A model with other than ``num_classes`` logits is refused before any component runs."""
        model = _net(5)
        x, y = _data(model, 2)
        with pytest.raises(InvalidOptionError, match="outputs 5 logits"):
            AutoAttackLinf(EPS, num_classes=10, **SHORT).perturb(model, x, y)

    @pytest.mark.parametrize(
        ("option", "value"),
        [("num_classes", 3), ("n_target_classes", 0), ("apgd_steps", 0), ("n_restarts", 0)],
    )
    def test_invalid_options(self, option: str, value: int) -> None:
        """Fewer than 4 classes, no target class, no step or no restart: InvalidOptionError."""
        kwargs: dict[str, Any] = {option: value}
        with pytest.raises(InvalidOptionError, match=option):
            AutoAttackLinf(EPS, **kwargs)

    def test_zero_budget_attacks_nothing(self) -> None:
        """At eps 0 no component runs: the images come back unchanged."""
        model = _net(4)
        x, y = _data(model, 3, wrong=1)
        out = AutoAttackLinf(0.0, num_classes=4).perturb(model, x, y)
        assert torch.equal(out.adv, x)
        assert out.stats == {"clean_wrong": 1}


@pytest.mark.autoattack
def test_matches_the_official_standard_evaluation() -> None:
    """Full standard numbers, one seed for all four components (as the official class does):
    bit-identical to ``AutoAttack(version="standard").run_standard_evaluation`` (~2-3 s)."""
    model = _net(10, size=6)
    x, y = _data(model, 10, size=6, wrong=1)
    eps = 0.01  # leaves some points robust after every component: each runs in full
    attack = AutoAttackLinf(eps)
    ours = compose(model, attack.components(model, seeds=[5] * 4), x, y, eps, "linf")
    reference = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=5, device="cpu")
    adv, _ = reference.run_standard_evaluation(x, y, batch_size=x.shape[0])
    assert torch.equal(ours.adv, adv)
    with torch.no_grad():
        robust = int((model(adv).argmax(1) == y).sum())
    assert 0 < robust < 9
    assert sum(ours.stats.values()) == x.shape[0] - robust
