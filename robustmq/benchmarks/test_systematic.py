"""Systematic noise: every model of the grid x the 14 pre-processing variants (52 x 14 cells).

Cell ids such as ``mobilenet_v2-lsq-2bit-resize_pil_nearest`` or ``resnet18-fp32-decoder_opencv``;
markers ``systematic`` and ``decoder`` or ``resize``. A variant's set is built once per run (and
cached on disk) and shared by every model; the 14 cells of a model are consecutive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from robustmq.benchmark.harness import CellRun
    from robustmq.cells import ModelSpec
    from robustmq.results.family import FamilyCell

pytestmark = pytest.mark.systematic


def test_systematic(spec: ModelSpec, cell: FamilyCell, rmq: CellRun) -> None:
    """Top-1 accuracy on the variant's set and its difference to the reference pipeline's."""
    rmq.evaluate(spec, cell)
