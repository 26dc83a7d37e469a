"""Confidence intervals of the figures a run reports.

:func:`wilson` is the Wilson score interval of a proportion (k successes in n trials): unlike the
normal approximation it stays inside [0, 1] and keeps its coverage near 0 and 1 and at small n
(Wilson 1927; Brown, Cai & DasGupta 2001 recommend it for n of the sizes benchmarks use).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from torch import Tensor

from robustmq.hashing import sha256_json
from robustmq.results.paired import Total, bootstrap_summary, paired_bootstrap

__all__ = ["Z95", "bootstrap_interval", "mean_interval", "share_counts", "wilson"]

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


def bootstrap_interval(
    statistic: Callable[[Total], np.ndarray], n: int, key: object, n_boot: int = 2000
) -> list[float]:
    """95 % paired-bootstrap interval ``[low, high]`` of a statistic of ``n`` samples' sums (see
    :func:`~robustmq.results.paired.paired_bootstrap`), seeded from ``key`` (e.g. the run seed,
    the model and the summary's name)."""
    seed = int(sha256_json(key, default=str)[:15], 16)
    summary = bootstrap_summary(paired_bootstrap(statistic, n, n_boot=n_boot, seed=seed))
    return [summary.low, summary.high]


def mean_interval(per_sample: np.ndarray, key: object) -> list[float]:
    """95 % paired-bootstrap interval of the mean of ``per_sample`` values.

    A per-model summary that is a mean over cells of per-sample correctness (mNR, ACCs, mCE) is
    the mean of one per-sample value; resampling the images keeps every cell's pairing.
    """
    values = np.asarray(per_sample, dtype=np.float64)
    return bootstrap_interval(lambda total: total(values) / values.size, values.size, key)
