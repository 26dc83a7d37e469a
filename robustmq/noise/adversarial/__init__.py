"""The adversarial family: FGSM, PGD (L-inf, L2), standard AutoAttack, WCAR and masking checks.

- attacks (one module each, a common :class:`~.base.Attack` interface, registry
  :data:`~.registry.ATTACKS`): :class:`~.fgsm.FGSM`, :class:`~.pgd.PGDLinf`, :class:`~.pgd.PGDL2`,
  :class:`~.autoattack.AutoAttackLinf` (the authors' components, ``pyautoattack``);
- :mod:`.seeding` (every attack runs under an explicit seed), :mod:`.guards` (eps-ball, [0, 1],
  eval mode, unchanged quantizers), :mod:`.runner` (batched, scored attack runs);
- :mod:`.budgets` (a profile's cells), :mod:`.metrics` (robust accuracy, AR, WCAR),
  :mod:`.masking` (gradient-masking flags), :mod:`.transfer`, :mod:`.family` (the family: one cell),
  :mod:`.summary` (per-model WCAR), :mod:`.perf` (``python -m robustmq.noise.adversarial.perf``).
"""

from __future__ import annotations

from robustmq.noise.adversarial.autoattack import AutoAttackLinf, compose
from robustmq.noise.adversarial.base import Attack, AttackOutput
from robustmq.noise.adversarial.budgets import AdversarialCell, adversarial_cells
from robustmq.noise.adversarial.fgsm import FGSM
from robustmq.noise.adversarial.guards import AttackGuardError, ModelGuard, check_perturbation
from robustmq.noise.adversarial.metrics import (
    adversarial_rate,
    balanced_subset,
    robust_accuracy,
    wcar,
)
from robustmq.noise.adversarial.pgd import PGDL2, PGDLinf
from robustmq.noise.adversarial.registry import ATTACKS, list_attacks, make_attack
from robustmq.noise.adversarial.runner import AttackRun, run_attack
from robustmq.noise.adversarial.seeding import derive_seed, seeded

__all__ = [
    "ATTACKS",
    "FGSM",
    "PGDL2",
    "AdversarialCell",
    "Attack",
    "AttackGuardError",
    "AttackOutput",
    "AttackRun",
    "AutoAttackLinf",
    "ModelGuard",
    "PGDLinf",
    "adversarial_cells",
    "adversarial_rate",
    "balanced_subset",
    "check_perturbation",
    "compose",
    "derive_seed",
    "list_attacks",
    "make_attack",
    "robust_accuracy",
    "run_attack",
    "seeded",
    "wcar",
]
