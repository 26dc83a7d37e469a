"""The interface every attack of the family follows: one call shape, parameters as JSON.

An attack is a frozen dataclass holding all its parameters. ``perturb(model, images, labels)``
takes float images ``[N, 3, H, W]`` in [0, 1] and int64 labels ``[N]`` on the model's device, and
returns an :class:`AttackOutput` whose ``adv`` has the images' shape, lies in [0, 1] and inside the
attack's ``eps``-ball in its ``norm``. The model normalizes its own input (no normalization is set
on torchattacks). Randomness comes from the global RNGs, which the caller seeds (see
:mod:`.seeding`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor, nn

from robustmq.exceptions import InvalidOptionError

__all__ = ["Attack", "AttackOutput", "validate_eps"]


@dataclass
class AttackOutput:
    """Adversarial images and per-attack counters (e.g. points fooled by each component)."""

    adv: Tensor
    stats: dict[str, int] = field(default_factory=dict)


def validate_eps(eps: object, option: str = "eps") -> float:
    """``eps`` as a float when it is a finite number >= 0; else :class:`InvalidOptionError`."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < float("inf"):
        raise InvalidOptionError(
            f"{option}={eps!r} ({type(eps).__name__}) is invalid; expected a finite number >= 0"
        )
    return float(eps)


@dataclass(frozen=True)
class Attack:
    """Base class: ``eps`` in the attack's ``norm`` (pixel units of [0, 1] images)."""

    #: registry name, e.g. ``pgd_linf``.
    name: ClassVar[str] = "attack"
    #: ``linf`` or ``l2``.
    norm: ClassVar[str] = "linf"

    eps: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", validate_eps(self.eps))

    def perturb(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackOutput:
        """Adversarial versions of ``images`` (see the module docstring for the contract)."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """Every parameter of the attack, with ``norm`` and ``eps``, as plain JSON."""
        return {"attack": self.name, "norm": self.norm, **dataclasses.asdict(self)}
