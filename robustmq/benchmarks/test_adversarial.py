"""Adversarial attacks: every model of the grid x (FGSM, PGD L-inf, PGD L2, AutoAttack) x budget,
plus the unbounded PGD sanity cell; ids such as ``resnet18-dorefa-4bit-fgsm_linf-eps0.5``.

Budgets and sample counts come from the profile (``robustmq.data.profiles.AdversarialSpec``); the
cells of one model run one after another so that its checkpoint is loaded once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from robustmq.benchmark.harness import CellRun
    from robustmq.cells import ModelSpec
    from robustmq.results.family import FamilyCell

pytestmark = pytest.mark.adversarial


def test_adversarial(spec: ModelSpec, cell: FamilyCell, rmq: CellRun) -> None:
    """Robust accuracy and AR of the model under the cell's attack (masking flags recorded)."""
    rmq.evaluate(spec, cell)
