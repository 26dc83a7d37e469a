"""FGSM (Goodfellow et al. 2015, arXiv 1412.6572), L-inf, through ``torchattacks.FGSM``.

One step ``x + eps * sign(grad_x CE(model(x), y))``, clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torchattacks
from torch import Tensor, nn

from robustmq.noise.adversarial.base import Attack, AttackOutput

__all__ = ["FGSM"]


@dataclass(frozen=True)
class FGSM(Attack):
    """Fast gradient sign method in L-inf at budget ``eps``."""

    name: ClassVar[str] = "fgsm_linf"
    norm: ClassVar[str] = "linf"

    def perturb(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackOutput:
        """One signed-gradient step of size ``eps``."""
        return AttackOutput(torchattacks.FGSM(model, eps=self.eps)(images, labels))
