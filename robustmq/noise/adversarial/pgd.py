"""PGD (Madry et al. 2018, arXiv 1706.06083) in L-inf and L2, through ``torchattacks``.

RobustART's settings: 20 steps of size ``3/40 * eps``, a uniformly random start inside the ball,
cross-entropy loss, the last iterate returned (``torchattacks.PGD`` / ``torchattacks.PGDL2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torchattacks
from torch import Tensor, nn

from robustmq.exceptions import InvalidOptionError
from robustmq.noise.adversarial.base import Attack, AttackOutput

__all__ = ["PGDL2", "PGDLinf"]


@dataclass(frozen=True)
class _PGD(Attack):
    steps: int = 20
    #: step size as a fraction of eps (3/40).
    step_ratio: float = 3 / 40
    random_start: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise InvalidOptionError(
                f"steps={self.steps!r} ({type(self.steps).__name__}) is invalid; "
                "expected an integer >= 1"
            )
        if not self.step_ratio > 0:
            raise InvalidOptionError(f"step_ratio={self.step_ratio!r} is invalid; expected > 0")

    #: the torchattacks class that runs the steps (PGD or PGDL2).
    _runner: ClassVar[type[torchattacks.attack.Attack]]

    @property
    def alpha(self) -> float:
        """Step size ``step_ratio * eps``."""
        return self.step_ratio * self.eps

    def perturb(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackOutput:
        """``steps`` projected steps from a random start (the norm's own step); the last iterate."""
        attack = self._runner(
            model, eps=self.eps, alpha=self.alpha, steps=self.steps, random_start=self.random_start
        )
        return AttackOutput(attack(images, labels))


@dataclass(frozen=True)
class PGDLinf(_PGD):
    """PGD in L-inf: signed-gradient steps, projection onto the eps-cube and [0, 1]."""

    name: ClassVar[str] = "pgd_linf"
    norm: ClassVar[str] = "linf"
    _runner = torchattacks.PGD


@dataclass(frozen=True)
class PGDL2(_PGD):
    """PGD in L2: normalized-gradient steps, projection onto the eps-ball and [0, 1]."""

    name: ClassVar[str] = "pgd_l2"
    norm: ClassVar[str] = "l2"
    _runner = torchattacks.PGDL2
