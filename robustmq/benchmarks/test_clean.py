"""Clean accuracy: one cell per model of the grid (52), ids such as ``resnet18-lsq-4bit``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from robustmq.benchmark.harness import CellRun
    from robustmq.cells import ModelSpec
    from robustmq.results.family import FamilyCell

pytestmark = pytest.mark.clean


def test_clean(spec: ModelSpec, cell: FamilyCell, rmq: CellRun) -> None:
    """Top-1 accuracy of the model on the profile's clean evaluation set."""
    rmq.evaluate(spec, cell)
