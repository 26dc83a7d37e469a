"""Guards: eps-ball and [0, 1] checks; eval mode and unchanged quantizer state during attacks."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from robustmq.models import create_model
from robustmq.noise.adversarial import AttackGuardError, ModelGuard, check_perturbation
from robustmq.quant import calibrate, quantize_model
from robustmq.quant.base import Quantizer


@pytest.fixture(scope="module")
def qmodel() -> nn.Module:
    """A small calibrated LSQ 4-bit ResNet18 in eval mode."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = quantize_model(create_model("resnet18", num_classes=10, width=0.25), "lsq", 4)
        calibrate(model, [torch.rand(4, 3, 16, 16)])
    return model.eval()


class TestCheckPerturbation:
    @settings(max_examples=30)
    @given(eps=st.floats(1e-3, 0.5), norm=st.sampled_from(["linf", "l2"]), seed=st.integers(0, 99))
    def test_points_on_the_sphere_pass_and_beyond_fail(
        self, eps: float, norm: str, seed: int
    ) -> None:
        """A perturbation of size exactly eps passes; 1 % more is refused with the norm named."""
        g = torch.Generator().manual_seed(seed)
        x = torch.full((2, 3, 4, 4), 0.5)
        d = torch.randn(2, 3, 4, 4, generator=g)
        size = d.flatten(1).abs().amax(1) if norm == "linf" else d.flatten(1).norm(dim=1)
        unit = d / size.reshape(-1, 1, 1, 1)
        check_perturbation(x, (x + eps * unit).clamp(0, 1), eps, norm, "t")
        if eps * 1.01 <= 0.5:  # stays inside [0, 1]
            with pytest.raises(AttackGuardError, match=f"{norm} norm"):
                check_perturbation(x, x + 1.01 * eps * unit, eps, norm, "t")

    def test_pixels_outside_unit_range_fail(self) -> None:
        """Adversarial pixels outside [0, 1] (or NaN) are refused."""
        x = torch.zeros(1, 3, 2, 2)
        with pytest.raises(AttackGuardError, match=r"expected within \[0, 1\]"):
            check_perturbation(x, x - 1e-3, 0.1, "linf", "t")
        with pytest.raises(AttackGuardError):
            check_perturbation(x, torch.full_like(x, float("nan")), 0.1, "linf", "t")

    def test_shape_and_unknown_norm(self) -> None:
        """A wrong shape or an unknown norm is an error naming what was expected."""
        x = torch.zeros(2, 3, 2, 2)
        with pytest.raises(AttackGuardError, match="shape"):
            check_perturbation(x, x[:1], 0.1, "linf", "t")
        with pytest.raises(AttackGuardError, match="linf or l2"):
            check_perturbation(x, x, 0.1, "l1", "t")


class TestModelGuard:
    def test_quiet_on_a_pure_attack_and_restores_requires_grad(self, qmodel: nn.Module) -> None:
        """Input-gradient passes change nothing; parameters are frozen inside, restored after."""
        with ModelGuard(qmodel, "t") as guard:
            assert not any(p.requires_grad for p in qmodel.parameters())
            x = torch.rand(2, 3, 16, 16, requires_grad=True)
            qmodel(x).sum().backward()
            guard.check()
        assert all(p.requires_grad for p in qmodel.parameters())

    def test_training_mode_is_refused(self, qmodel: nn.Module) -> None:
        """A model (or one module) in training mode is refused before the attack."""
        qmodel.layer1.train()
        try:
            with (
                pytest.raises(AttackGuardError, match=r"eval mode.*layer1"),
                ModelGuard(qmodel, "t"),
            ):
                pass
        finally:
            qmodel.eval()

    def test_a_changed_quantizer_is_detected(self, qmodel: nn.Module) -> None:
        """Changing a quantizer parameter during the attack raises, naming the parameter."""
        name, quantizer = next(
            (n, m)
            for n, m in qmodel.named_modules()
            if isinstance(m, Quantizer) and any(True for _ in m.parameters(recurse=False))
        )
        param = next(quantizer.parameters(recurse=False))
        saved = param.detach().clone()
        try:
            with (
                pytest.raises(AttackGuardError, match=re.escape(name)),
                ModelGuard(qmodel, "t"),
                torch.no_grad(),
            ):
                param.add_(1.0)
        finally:
            with torch.no_grad():
                param.copy_(saved)


class TestChannelsLast:
    @pytest.mark.parametrize("name", ["fgsm_linf", "pgd_linf", "pgd_l2"])
    def test_attacks_run_on_a_channels_last_model(self, name: str) -> None:
        """The benchmark's channels-last models: every attack runs, inside its budget."""
        from robustmq.noise.adversarial import make_attack, run_attack

        torch.manual_seed(0)
        model = create_model("resnet18", num_classes=10, width=0.25).eval()
        model.to(memory_format=torch.channels_last)
        x = torch.rand(6, 3, 32, 32)
        y = model(x).argmax(1)  # every point clean-correct, so every point is attacked
        attack = make_attack(name, 8 / 255 if name != "pgd_l2" else 0.5, 10)
        run = run_attack(
            model, attack, x, y, seed=0, batch_size=4, device=torch.device("cpu"), keep_images=True
        )
        assert run.adv is not None
        check_perturbation(x, run.adv, attack.eps, attack.norm, name)
        assert bool(run.clean_correct.all())
