"""The findings' tests, calibrated by simulation (issue 14, part 3).

Per-image outcomes are drawn for a float and a quantized model through the findings code (the
claim builders of robustmq.report.claims and judge_claims). Images differ in difficulty (a
latent per-image probability shared by both models), so the two models' outcomes are correlated
as on real data. With no true difference the two models' outcomes are exchangeable: a part may
be "supported" or "contradicted" in at most alpha = 5 % of 1,000 simulated runs. A true effect
of 10 points at 500 images must be detected at least 80 % of the time.

Measured (this file's seed, 1,000 runs, 400 resamples): decided without an effect — WCAR
(paired bootstrap of a ratio) 5.1 %, one accuracy (exact McNemar) 3.4 %, mean of three
accuracies (paired bootstrap) 4.4 %, finding 4's rank test with every variant equal 2.7 %;
supported with a 10-point effect — WCAR 90.2 %, accuracy 95.3 %. The bootstrap tests are at
alpha within Monte Carlo error (WCAR: 4.7 % in 4,000 runs at 1,000 resamples), not below it by
construction: their tests allow alpha plus three Monte Carlo standard errors, the exact and rank
tests alpha itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustmq.report.claims import finding1_claims, finding4_claims
from robustmq.report.evidence import Evidence
from robustmq.report.findings import INCONCLUSIVE, SUPPORTED, FindingRules, judge_claims
from robustmq.report.loading import ModelValues

RUNS = 1000
IMAGES = 500
ALPHA = 0.05
#: three Monte Carlo standard errors of a rejection rate of alpha over RUNS runs (2.1 points).
MC_TOLERANCE = 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)
#: 400 resamples: p-values in steps of 1/400, enough to decide at 0.05; keeps 1,000 runs fast.
RULES = FindingRules(min_checks=1, n_boot=400)
FP = ModelValues("resnet18-fp32", "resnet18", "fp32", None, None)
Q = ModelValues("resnet18-lsq-4bit", "resnet18", "lsq", 4, None)


def _difficulty(rng: np.random.Generator, mean: float) -> np.ndarray:
    """Per-image probability of being right, Beta-distributed around ``mean``."""
    return rng.beta(4 * mean, 4 * (1 - mean), IMAGES)


def _adversarial(rng: np.random.Generator, shift: float) -> Evidence:
    """Clean-correct in ~85 %, surviving every attack in ~35 % (+ ``shift`` for the quantized
    model) of the clean-correct images."""
    clean_p, robust_p = _difficulty(rng, 0.85), _difficulty(rng, 0.35)
    arrays = {}
    for model, extra in ((FP, 0.0), (Q, shift)):
        clean = rng.random(IMAGES) < clean_p
        survived = clean & (rng.random(IMAGES) < np.clip(robust_p + extra, 0, 1))
        arrays[model.model_id] = {"clean": clean.astype(float), "survived": survived.astype(float)}
    return Evidence("adversarial", IMAGES, arrays)


def _systematic(rng: np.random.Generator, shift: float, variants: tuple[str, ...]) -> Evidence:
    """Every variant right with the image's probability (minus ``shift`` for the quantized
    model): no variant differs from another."""
    p = _difficulty(rng, 0.7)
    arrays = {
        model.model_id: {
            v: (rng.random(IMAGES) < np.clip(p - extra, 0, 1)).astype(float) for v in variants
        }
        for model, extra in ((FP, 0.0), (Q, shift))
    }
    return Evidence("systematic", IMAGES, arrays)


def _verdicts(make_evidence, claim_index: int, builder=finding1_claims) -> list[str]:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2026)
    verdicts = []
    for _ in range(RUNS):
        evidence = make_evidence(rng)
        families = {"adversarial": evidence, "natural": evidence, "systematic": evidence}
        claim = builder([FP, Q], families)[claim_index]
        verdicts.append(judge_claims([claim], families, RULES)[0].verdict)
    return verdicts


def _rate(verdicts: list[str], wanted: str | None = None) -> float:
    hits = [v != INCONCLUSIVE if wanted is None else v == wanted for v in verdicts]
    return float(np.mean(hits))


@pytest.mark.slow
class TestNullCalibration:
    def test_wcar_without_effect(self) -> None:
        """WCAR(q) = WCAR(fp) in truth (paired bootstrap of a ratio): alpha within Monte Carlo
        error (see the module docstring)."""
        rate = _rate(_verdicts(lambda rng: _adversarial(rng, 0.0), 0))
        assert rate <= ALPHA + MC_TOLERANCE, f"{rate:.1%} of null runs decided"

    def test_accuracy_without_effect(self) -> None:
        """ACCs of one variant equal in truth (exact McNemar): <= 5 % decided."""
        rate = _rate(_verdicts(lambda rng: _systematic(rng, 0.0, ("decoder_pil",)), 2))
        assert rate <= ALPHA, f"{rate:.1%} of null runs decided"

    def test_mean_accuracy_without_effect(self) -> None:
        """ACCs over three variants equal in truth (paired bootstrap of a mean): alpha within
        Monte Carlo error."""
        variants = ("decoder_pil", "decoder_opencv", "resize_pil_box")
        rate = _rate(_verdicts(lambda rng: _systematic(rng, 0.0, variants), 2))
        assert rate <= ALPHA + MC_TOLERANCE, f"{rate:.1%} of null runs decided"

    def test_nearest_claim_when_every_variant_is_equal(self) -> None:
        """Finding 4's nearest part compares a mean with the minimum of 5 equal accuracies: the
        bias-corrected test decides <= 5 % (uncorrected, the minimum's bias alone made it
        "contradicted" in most runs)."""
        variants = (
            "resize_pil_nearest",
            "resize_opencv_nearest",
            "decoder_pil",
            "decoder_opencv",
            "resize_pil_box",
            "resize_pil_lanczos",
            "resize_opencv_area",
        )
        rate = _rate(
            _verdicts(lambda rng: _systematic(rng, 0.0, variants), 0, builder=finding4_claims)
        )
        assert rate <= ALPHA, f"{rate:.1%} of null runs decided"


@pytest.mark.slow
class TestPower:
    @pytest.mark.parametrize(
        ("name", "make", "index"),
        [
            ("wcar", lambda rng: _adversarial(rng, 0.10), 0),
            ("accuracy", lambda rng: _systematic(rng, 0.10, ("decoder_pil",)), 2),
        ],
    )
    def test_ten_points_at_500_images(self, name, make, index) -> None:  # type: ignore[no-untyped-def]
        """A true 10-point effect in the claim's direction is supported >= 80 % of the time."""
        rate = _rate(_verdicts(make, index), SUPPORTED)
        assert rate >= 0.8, f"{name}: {rate:.1%} of runs with a 10-point effect supported"
