"""Paired statistics on the same images: exact McNemar, paired bootstrap, Holm, detectable effect.

Two models evaluated on the same samples are compared sample by sample, never as two independent
proportions:

- :func:`mcnemar` — exact two-sided McNemar test of two accuracies: only the discordant samples
  (``b`` right for A and wrong for B, ``c`` the reverse) carry information; under no difference
  ``b ~ Bin(b + c, 1/2)`` (McNemar 1947; the exact binomial form, Fagerland et al. 2013);
- :func:`paired_bootstrap` — a seeded, vectorised bootstrap over samples for any statistic built
  from per-sample sums (accuracy, WCAR = correct-under-all / clean-correct, means of several
  cells): one multinomial weight matrix resamples the images once for every quantity, so the
  pairing is kept; :func:`bootstrap_summary` gives the percentile interval and a two-sided p-value;
- :func:`holm` — Holm's step-down adjustment over the checks of a run (Holm 1979);
- :func:`detectable_effect` — the smallest true difference a paired test of ``n`` samples detects
  with the given power (normal approximation with the per-sample standard deviation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = [
    "BootstrapSummary",
    "bootstrap_summary",
    "detectable_effect",
    "holm",
    "mcnemar",
    "paired_bootstrap",
]

#: ``total(x)`` is the resampled sum of a per-sample array ``x`` (one value per bootstrap draw).
Total = Callable[[np.ndarray], np.ndarray]


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value of ``b`` against ``c`` discordant samples (1.0 if none)."""
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar(b={b}, c={c}): expected counts >= 0")
    m = b + c
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(min(b, c) + 1)) / 2**m
    return min(1.0, 2 * tail)


def paired_bootstrap(
    statistic: Callable[[Total], np.ndarray], n: int, *, n_boot: int = 2000, seed: int = 0
) -> np.ndarray:
    """``n_boot`` draws of ``statistic`` over images resampled with replacement (seeded).

    ``statistic(total)`` builds its value from ``total(x)``, the resampled sum of any per-sample
    array ``x`` of length ``n``; every ``total`` call of one draw uses the same resampled images.
    """
    if n < 1 or n_boot < 1:
        raise ValueError(f"paired_bootstrap(n={n}, n_boot={n_boot}): expected both >= 1")
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)

    def total(x: np.ndarray) -> np.ndarray:
        values = np.asarray(x, dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"a per-sample array has shape {values.shape}; expected ({n},)")
        result: np.ndarray = weights @ values
        return result

    with np.errstate(divide="ignore", invalid="ignore"):
        draws = np.asarray(statistic(total), dtype=np.float64)
    return draws


@dataclass(frozen=True)
class BootstrapSummary:
    """A percentile interval of a bootstrapped effect and the two-sided p-value of "no effect"."""

    low: float
    high: float
    p_value: float


def bootstrap_summary(draws: np.ndarray, level: float = 0.95) -> BootstrapSummary:
    """Percentile interval at ``level`` and the two-sided p-value of "no effect",
    ``2 x min(#(draws <= 0) + 1, #(draws >= 0) + 1) / (B + 1)`` capped at 1 (the ``+ 1`` keeps a
    Monte Carlo p-value from being smaller than B draws can show; Davison & Hinkley 1997, 4.2).

    Draws that are not finite (a resample without any clean-correct image, say) are dropped.
    """
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return BootstrapSummary(math.nan, math.nan, 1.0)
    tail = (1.0 - level) / 2
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    below, above = int(np.sum(finite <= 0)), int(np.sum(finite >= 0))
    p = 2 * (min(below, above) + 1) / (finite.size + 1)
    return BootstrapSummary(float(low), float(high), min(1.0, p))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (monotone, at most 1)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided paired test of ``n`` samples detects with
    probability ``power`` at level ``alpha``: ``(z_{1 - alpha/2} + z_power) x sd / sqrt(n)``,
    ``sd`` being the standard deviation of the per-sample differences."""
    if n < 1:
        return math.inf
    z = NormalDist().inv_cdf
    return (z(1 - alpha / 2) + z(power)) * sd / math.sqrt(n)
