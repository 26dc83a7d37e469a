"""Paired tests of effects measured on the same images (the engine behind ``robustmq findings``).

A claim is tested on *units* (a quantized model against its float model, a bit-width step, one
model's ranking of corruptions...). Each unit's effect is a function of per-image sums of the
models' outcomes, signed so that a positive effect is the claim's direction. All units of a
claim are measured on one aligned sample set, so the images are resampled **once** for all of
them (:func:`~robustmq.results.paired.paired_bootstrap`): a model shared by several units (the
float model of an architecture, the middle model of two bit-width steps) and the images shared
by all architectures are resampled together, never treated as independent. A group of units
(all of a claim, or those of one architecture) is tested on the mean of its units' effects.

The test conditions on the trained models: it asks whether the difference would stand on other
images from the same distribution, not on other training runs (one checkpoint per model).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from robustmq.results.paired import Total, bootstrap_summary, mcnemar, paired_bootstrap

__all__ = ["Effect", "UnitDraws", "draw_units", "group_effect", "images_needed", "rank_effect"]

#: ``effect(total) -> array``: a unit's signed effect from resampled per-image sums.
UnitEffect = Callable[[Total], np.ndarray]


@dataclass(frozen=True)
class Effect:
    """A tested effect: its value, interval, unadjusted two-sided p-value and what it could see.

    ``value``, ``low``, ``high``, ``se`` and ``detectable`` are fractions (0.01 = 1 point);
    ``detectable`` is the smallest true effect the test finds with the stated power at the
    stated level, from the bootstrap standard error ``se``.
    """

    value: float
    low: float
    high: float
    p_value: float
    se: float
    n: int
    units: int
    test: str
    detectable: float = math.nan


@dataclass(frozen=True)
class UnitDraws:
    """Observed effects ``(U,)`` and bootstrap draws ``(n_boot, U)`` of several units."""

    observed: np.ndarray
    draws: np.ndarray
    n: int


def draw_units(effects: Sequence[UnitEffect], n: int, *, n_boot: int, seed: int) -> UnitDraws:
    """Every unit's observed effect and its draws over the same resampled images (seeded)."""

    def observed_total(x: np.ndarray) -> np.ndarray:
        return np.asarray([np.sum(np.asarray(x, dtype=np.float64))])

    def stacked(total: Total) -> np.ndarray:
        return np.stack([np.asarray(e(total), dtype=np.float64) for e in effects], axis=-1)

    with np.errstate(divide="ignore", invalid="ignore"):
        observed = stacked(observed_total)[0]
    draws = paired_bootstrap(stacked, n, n_boot=n_boot, seed=seed)
    return UnitDraws(observed, draws.reshape(n_boot, len(effects)), n)


def group_effect(
    units: UnitDraws,
    index: Sequence[int],
    *,
    level: float,
    detect_alpha: float,
    power: float = 0.8,
    pair: tuple[np.ndarray, np.ndarray] | None = None,
) -> Effect:
    """The mean effect of the units ``index``: value, percentile interval at ``level``,
    two-sided p-value (exact McNemar when ``pair`` gives the two binary outcome vectors of a
    single two-accuracy comparison, else from the paired bootstrap's standard error) and the
    effect detectable at
    ``detect_alpha`` with ``power``.
    """
    chosen = list(index)
    value = float(np.mean(units.observed[chosen]))
    draws = units.draws[:, chosen].mean(axis=1)
    summary = bootstrap_summary(draws, level)
    finite = draws[np.isfinite(draws)]
    se = float(np.std(finite)) if finite.size > 1 else math.nan
    p_value, test = _bootstrap_p(value, se, summary.p_value), "paired bootstrap"
    if pair is not None:
        right, left = (np.asarray(v, dtype=bool) for v in pair)
        p_value, test = mcnemar(int((right & ~left).sum()), int((~right & left).sum())), "McNemar"
    z = NormalDist().inv_cdf
    detectable = (z(1 - detect_alpha / 2) + z(power)) * se
    return Effect(
        value, summary.low, summary.high, p_value, se, units.n, len(chosen), test, detectable
    )


def _bootstrap_p(value: float, se: float, percentile_p: float) -> float:
    """Two-sided p-value of "no effect" from the bootstrap standard error,
    ``2 (1 - Phi(|value| / se))``: as calibrated as the percentile p-value in the simulations
    (tests/report/test_findings_calibration.py), without its floor of 2 / (B + 1), which the
    Bonferroni factors of a rank test and Holm would multiply past alpha. Without spread (every
    resample gives the same value) the percentile p-value stands."""
    if not (math.isfinite(value) and math.isfinite(se)) or se <= 0:
        return percentile_p
    return 2 * (1 - NormalDist().cdf(abs(value) / se))


def rank_effect(items: Mapping[str, Effect], needed: int, units: int) -> Effect:
    """A claim that at least ``needed`` of the ``items`` comparisons are positive, from each
    comparison's two-sided test.

    Supported needs ``needed`` comparisons significantly positive: the ``needed``-th smallest
    one-sided p-value, times the ``m - needed + 1`` comparisons that may be null when the claim
    is false (an intersection-union test when ``needed == m``, Berger 1982); contradicted needs
    ``m - needed + 1`` significantly negative, their largest p-value times ``needed``
    (Bonferroni). The p-value is twice the smaller of the two; the effect and its interval are
    those of the comparison that decides it (named in ``test``).
    """
    m = len(items)
    against = m - needed + 1
    # ordered by p-value, ties (a p-value of 0 is common) by the standardised effect
    positive = sorted((_one_sided(e, 1), -_z(e), name) for name, e in items.items())
    negative = sorted((_one_sided(e, -1), _z(e), name) for name, e in items.items())
    p_for = min(1.0, against * positive[needed - 1][0])
    p_against = min(1.0, needed * negative[against - 1][0])
    deciding = positive[needed - 1][2] if p_for <= p_against else negative[against - 1][2]
    p_value = min(1.0, 2 * min(p_for, p_against))
    test = f"rank test, {needed} of {m} comparisons; deciding: {deciding}"
    return dataclasses.replace(items[deciding], p_value=p_value, test=test, units=units)


def _z(effect: Effect) -> float:
    return effect.value / effect.se if effect.se > 0 else math.copysign(math.inf, effect.value)


def _one_sided(effect: Effect, sign: int) -> float:
    """One-sided p-value of ``sign * effect > 0`` from the two-sided one."""
    half = effect.p_value / 2
    return half if sign * effect.value > 0 else 1.0 - half


def images_needed(effect: Effect, target: float) -> float:
    """Images the same test would need to detect ``target`` (a fraction) with the power its
    ``detectable`` was computed for: the standard error shrinks as 1 / sqrt(images)."""
    if not math.isfinite(effect.detectable) or effect.detectable <= 0:
        return math.nan
    return effect.n * (effect.detectable / target) ** 2
