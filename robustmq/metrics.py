"""Metric formulas (fractions in [0, 1]); see ../shared/reference/protocol.md for definitions."""

from __future__ import annotations

from torch import Tensor


def accuracy(correct: Tensor) -> float:
    """Fraction of ``True`` entries of a boolean per-sample correctness vector (0.0 when empty)."""
    n = int(correct.numel())
    return float(correct.sum()) / n if n else 0.0
