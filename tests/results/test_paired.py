"""Paired statistics: exact against SciPy, calibrated by simulation (null at most alpha, power at
least 80 % for 10 points at 500 images), bootstrap coverage, Holm's adjustment."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustmq.results.paired import (
    bootstrap_summary,
    detectable_effect,
    holm,
    mcnemar,
    paired_bootstrap,
)

ALPHA = 0.05


def _discordant(rng: np.random.Generator, runs: int, n: int, pa: float, pb: float) -> np.ndarray:
    """(b, c) of ``runs`` simulated pairs of models, correct independently with pa and pb."""
    a = rng.random((runs, n)) < pa
    b = rng.random((runs, n)) < pb
    return np.stack([(a & ~b).sum(1), (~a & b).sum(1)], axis=1)


@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_is_the_exact_binomial_test(b: int, c: int) -> None:
    """The two-sided exact McNemar p equals SciPy's binomial test on the discordant samples."""
    stats = pytest.importorskip("scipy.stats")
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_under_no_effect_rejects_at_most_alpha() -> None:
    """1,000 simulated runs with no true difference (500 images, 70 % each): <= 5 % significant."""
    counts = _discordant(np.random.default_rng(0), 1000, 500, 0.7, 0.7)
    rejected = np.mean([mcnemar(int(b), int(c)) < ALPHA for b, c in counts])
    assert rejected <= ALPHA


def test_mcnemar_detects_ten_points_at_500_images() -> None:
    """A true difference of 10 points (75 % vs 65 %) at 500 images is found >= 80 % of the time."""
    counts = _discordant(np.random.default_rng(1), 1000, 500, 0.75, 0.65)
    detected = np.mean([mcnemar(int(b), int(c)) < ALPHA for b, c in counts])
    assert detected >= 0.8


def test_the_bootstrap_interval_covers_a_paired_difference() -> None:
    """The 95 % percentile interval of a mean paired difference covers the truth ~95 % of runs."""
    rng = np.random.default_rng(2)
    covered = []
    for run in range(200):
        a = rng.random(400) < 0.7
        b = rng.random(400) < 0.6
        difference = a.astype(float) - b
        draws = paired_bootstrap(lambda total, d=difference: total(d) / 400, 400, seed=run)
        summary = bootstrap_summary(draws)
        covered.append(summary.low <= 0.1 <= summary.high)
    assert 0.92 <= np.mean(covered) <= 0.98


def test_the_bootstrap_keeps_the_pairing_of_a_ratio() -> None:
    """A ratio of resampled sums (WCAR-like) uses the same images for numerator and denominator:
    a statistic identical for both models has every draw exactly zero and p = 1."""
    rng = np.random.default_rng(3)
    clean = rng.random(50) < 0.8
    robust = clean & (rng.random(50) < 0.5)
    draws = paired_bootstrap(
        lambda total: total(robust) / total(clean) - total(robust) / total(clean), 50, seed=0
    )
    assert np.all(draws[np.isfinite(draws)] == 0)
    assert bootstrap_summary(draws).p_value == 1.0
    one = paired_bootstrap(lambda total: total(robust) / total(clean), 50, n_boot=10, seed=7)
    assert np.array_equal(
        one, paired_bootstrap(lambda total: total(robust) / total(clean), 50, n_boot=10, seed=7)
    )


def test_holm_adjusts_in_step_down_order() -> None:
    """Holm's step-down values, monotone and capped at 1, in the input order."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_holm_keeps_the_family_wise_error_under_alpha() -> None:
    """Ten null McNemar checks per simulated run: any adjusted rejection in <= 5 % of 500 runs."""
    rng = np.random.default_rng(4)
    counts = _discordant(rng, 500 * 10, 200, 0.7, 0.7).reshape(500, 10, 2)
    any_rejected = [min(holm([mcnemar(int(b), int(c)) for b, c in run])) < ALPHA for run in counts]
    assert np.mean(any_rejected) <= ALPHA


def test_the_detectable_effect_has_the_stated_power() -> None:
    """At the effect detectable_effect names, a simulated paired test detects it ~80 % of runs."""
    n, pa = 500, 0.7
    sd = np.sqrt(2 * pa * (1 - pa))  # per-sample difference of two independent 70 % models
    effect = detectable_effect(float(sd), n)
    assert effect == pytest.approx((1.959964 + 0.841621) * sd / np.sqrt(n), rel=1e-5)
    counts = _discordant(np.random.default_rng(5), 1000, n, pa, pa - effect)
    power = np.mean([mcnemar(int(b), int(c)) < ALPHA for b, c in counts])
    assert 0.72 <= power <= 0.88
