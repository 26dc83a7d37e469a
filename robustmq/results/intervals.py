"""Confidence intervals of the figures a run reports.

:func:`wilson` is the Wilson score interval of a proportion (k successes in n trials): unlike the
normal approximation it stays inside [0, 1] and keeps its coverage near 0 and 1 and at small n
(Wilson 1927; Brown, Cai & DasGupta 2001 recommend it for n of the sizes benchmarks use).
"""

from __future__ import annotations

import math

from torch import Tensor

__all__ = ["Z95", "share_counts", "wilson"]

#: The standard normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval ``(low, high)`` of ``k`` successes in ``n`` trials.

    ``n == 0`` gives ``(0.0, 1.0)`` (nothing is known); ``k`` must lie in ``0..n``.
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"wilson(k={k}, n={n}): expected 0 <= k <= n")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def share_counts(value: object, correct: Tensor) -> tuple[int, int] | None:
    """``(k, n)`` when ``value`` is the share of True in ``correct`` (to float32 precision, so a
    ``tensor.float().mean()`` counts), else None (the value is some other quantity)."""
    n = int(correct.numel())
    k = int(correct.sum())
    if n and isinstance(value, (int, float)) and abs(value - k / n) <= 1e-6:
        return k, n
    return None
