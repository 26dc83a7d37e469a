"""Masking flags fire on a deliberately masked model (hard rounding, no straight-through
gradient) and stay quiet on its smooth twin."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from robustmq.noise.adversarial import AutoAttackLinf, PGDLinf, masking, run_attack
from robustmq.noise.adversarial.runner import predict_labels

EPS = 0.1
CPU = torch.device("cpu")


class Staircase(nn.Module):
    """Class 0 while more than 30 % of the pixels read "high" (x > 0.25), else class 1 (of 4).

    ``hard``: the reading is ``round(x + 0.25)``, whose gradient is zero everywhere (masked);
    otherwise a steep sigmoid with useful gradients (the normal twin).
    """

    def __init__(self, hard: bool) -> None:
        super().__init__()
        self.hard = hard
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x: Tensor) -> Tensor:
        high = torch.round(x + 0.25) if self.hard else torch.sigmoid((x - 0.25) * 40)
        score = self.scale * (high.flatten(1).mean(1) - 0.3)
        low = torch.full_like(score, -20.0)
        return torch.stack([score, -score, low, low], dim=1)  # AutoAttack needs >= 4 classes


@pytest.fixture(scope="module")
def data() -> tuple[Tensor, Tensor]:
    """Eight images just above the threshold, all of class 0."""
    g = torch.Generator().manual_seed(0)
    return 0.3 + 0.02 * torch.rand(8, 3, 8, 8, generator=g), torch.zeros(8, dtype=torch.int64)


def _pgd(model: nn.Module, data: tuple[Tensor, Tensor], eps: float):  # type: ignore[no-untyped-def]
    return run_attack(model, PGDLinf(eps), *data, seed=1, batch_size=8, device=CPU)


@pytest.mark.parametrize("hard", [True, False], ids=["masked", "normal"])
class TestFlags:
    def test_zero_grad(self, hard: bool, data: tuple[Tensor, Tensor]) -> None:
        """Every sample of the masked model has a zero input gradient; none of the normal one."""
        zero = masking.zero_gradient_mask(Staircase(hard).eval(), *data, 8, CPU)
        assert bool(zero.all()) if hard else not bool(zero.any())
        flags = masking.cell_flags(zero_grad_fraction=float(zero.float().mean()))
        assert flags == ([masking.ZERO_GRAD] if hard else [])

    def test_sanity(self, hard: bool, data: tuple[Tensor, Tensor]) -> None:
        """PGD at 64/255 leaves the masked model accurate (flag) and fools the normal one."""
        run = _pgd(Staircase(hard).eval(), data, 64 / 255)
        flags = masking.cell_flags(
            zero_grad_fraction=0.0, sanity_accuracy=float(run.correct.float().mean())
        )
        assert flags == ([masking.SANITY_NOT_ZERO] if hard else [])

    def test_transfer(self, hard: bool, data: tuple[Tensor, Tensor]) -> None:
        """PGD crafted on the smooth twin fools the masked model more than its own PGD."""
        target = Staircase(hard).eval()
        whitebox = _pgd(target, data, EPS)
        source = run_attack(
            Staircase(False).eval(),
            PGDLinf(EPS),
            *data,
            seed=2,
            batch_size=8,
            device=CPU,
            attack_all=True,
            keep_images=True,
        )
        assert source.adv is not None
        transfer = predict_labels(target, source.adv, 8, CPU) == data[1]
        flags = masking.cell_flags(
            zero_grad_fraction=0.0,
            transfer_correct=int(transfer.sum()),
            whitebox_correct=int(whitebox.correct.sum()),
        )
        assert flags == ([masking.TRANSFER_BEATS_WHITEBOX] if hard else [])

    def test_square_beats_whitebox(self, hard: bool, data: tuple[Tensor, Tensor]) -> None:
        """Only Square fools the masked model; the white-box components fool the normal one."""
        attack = AutoAttackLinf(
            EPS, num_classes=4, apgd_steps=10, apgdt_steps=10, fab_steps=10, square_queries=300
        )
        run = run_attack(Staircase(hard).eval(), attack, *data, seed=3, batch_size=8, device=CPU)
        flags = masking.cell_flags(zero_grad_fraction=0.0, square_only=run.stats["square"])
        assert flags == ([masking.SQUARE_BEATS_WHITEBOX] if hard else [])
        assert not bool(run.correct.any())  # both end fooled: Square is the stronger check here


class TestBudgetMonotonicity:
    def test_rising_accuracy_is_flagged(self) -> None:
        """Robust accuracy that rises with eps is non-monotonic; falling or flat is not."""
        assert masking.budget_nonmonotonic([(0.5, 0.4), (2.0, 0.5), (8.0, 0.1)])
        assert not masking.budget_nonmonotonic([(8.0, 0.0), (0.5, 0.4), (2.0, 0.4)])
        assert not masking.budget_nonmonotonic([])
