"""Deprecated: an adversarial cell is run by the harness (``rmq.evaluate(spec, cell)``) now.

The family's measurement lives in :mod:`robustmq.noise.adversarial.family`.
"""

from __future__ import annotations

import warnings
from typing import Any

from robustmq.cells import ModelSpec
from robustmq.noise.adversarial.budgets import MARKERS, AdversarialCell
from robustmq.results.family import FamilyCell
from robustmq.results.record import Record

__all__ = ["run_cell"]


def run_cell(rmq: Any, spec: ModelSpec, cell: AdversarialCell) -> Record:
    """Deprecated alias of ``rmq.evaluate(spec, cell)`` for an :class:`AdversarialCell`."""
    warnings.warn(
        "run_cell(rmq, spec, cell) is deprecated; use rmq.evaluate(spec, cell)",
        DeprecationWarning,
        stacklevel=2,
    )
    record: Record = rmq.evaluate(spec, FamilyCell(cell.noise, (MARKERS[cell.attack],), cell))
    return record
