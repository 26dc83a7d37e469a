"""Registry of the family's attacks: ``make_attack("pgd_l2", eps=0.3, num_classes=10)``."""

from __future__ import annotations

from collections.abc import Callable

from robustmq.exceptions import UnknownNameError
from robustmq.noise.adversarial.autoattack import AutoAttackLinf
from robustmq.noise.adversarial.base import Attack
from robustmq.noise.adversarial.fgsm import FGSM
from robustmq.noise.adversarial.pgd import PGDL2, PGDLinf
from robustmq.registry import Registry

__all__ = ["ATTACKS", "AttackFactory", "list_attacks", "make_attack"]

#: ``factory(eps, num_classes) -> Attack`` (eps in pixel units of [0, 1] images).
AttackFactory = Callable[[float, int], Attack]

ATTACKS: Registry[AttackFactory] = Registry("attack", UnknownNameError)

ATTACKS.register(FGSM.name)(lambda eps, num_classes: FGSM(eps))
ATTACKS.register(PGDLinf.name)(lambda eps, num_classes: PGDLinf(eps))
ATTACKS.register(PGDL2.name)(lambda eps, num_classes: PGDL2(eps))
ATTACKS.register(AutoAttackLinf.name)(
    lambda eps, num_classes: AutoAttackLinf(eps, num_classes=num_classes)
)


def make_attack(name: str, eps: float, num_classes: int) -> Attack:
    """The attack registered as ``name`` with its default parameters at budget ``eps``."""
    return ATTACKS.get(name)(eps, num_classes)


def list_attacks(pattern: str = "*") -> list[str]:
    """Sorted names of the registered attacks."""
    return ATTACKS.names(pattern)
