"""Adversarial attacks: every model of the grid x (FGSM, PGD L-inf, PGD L2, AutoAttack) x budget,
plus the unbounded PGD sanity cell; ids such as ``resnet18-dorefa-4bit-fgsm_linf-eps0.5``.

Budgets and sample counts come from the profile (``robustmq.data.profiles.AdversarialSpec``);
the cells of one model run one after another so that its checkpoint is loaded once.
"""

from __future__ import annotations

import pytest

from robustmq.cells import ModelSpec, model_grid
from robustmq.data.profiles import get_profile
from robustmq.noise.adversarial.budgets import AdversarialCell, adversarial_cells
from robustmq.noise.adversarial.cell import run_cell

pytestmark = pytest.mark.adversarial


def _profile_name(config: pytest.Config) -> str:
    try:
        return str(config.getoption("rmq_profile"))
    except ValueError:
        return "synthetic"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per (model, cell), model-major; the budgets are the selected profile's."""
    if {"spec", "cell"} <= set(metafunc.fixturenames):
        cells = adversarial_cells(get_profile(_profile_name(metafunc.config)))
        metafunc.parametrize(
            ("spec", "cell"),
            [
                pytest.param(
                    spec,
                    cell,
                    id=f"{spec.id}-{cell.noise}",
                    marks=getattr(pytest.mark, cell.marker),
                )
                for spec in model_grid()
                for cell in cells
            ],
        )


def test_adversarial(spec: ModelSpec, cell: AdversarialCell, rmq) -> None:  # type: ignore[no-untyped-def]
    """Robust accuracy and AR of the model under the cell's attack (masking flags recorded)."""
    run_cell(rmq, spec, cell)
