"""Natural corruptions: one cell per model x ImageNet-C corruption x severity (52 x 15 x 5).

Ids such as ``resnet50-pact-4bit-impulse_noise-s3``; markers ``natural`` and the corruption's group
(``noise``, ``blur``, ``weather``, ``digital``). The corrupted sets are made once per run for every
model (see ``robustmq.noise.natural.family``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from robustmq.benchmark.harness import CellRun
    from robustmq.cells import ModelSpec
    from robustmq.results.family import FamilyCell

pytestmark = pytest.mark.natural


def test_natural(spec: ModelSpec, cell: FamilyCell, rmq: CellRun) -> None:
    """Top-1 accuracy of the model on the evaluation set under one corruption and severity."""
    rmq.evaluate(spec, cell)
