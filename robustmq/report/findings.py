"""What a run measured about the four findings of the RobustMQ paper (protocol.md, last section).

This module measures; it never assumes the paper is right. Each finding is split into parts (one
claim each). A part is tested on *units*, each a comparison of models on the same images with a
signed effect (positive = the claim's direction), in fractions (0.01 = 1 point):

1. Quantized vs float, one unit per quantized model and the float model of its architecture:
   adversarial ``WCAR(q) - WCAR(fp)``; natural ``mNR(fp) - mNR(q)``; systematic
   ``ACCs(fp) - ACCs(q)`` (mNR and ACCs over the corruptions / variants both models have).
2. Bit-width, one unit per pair of neighbouring bit-widths of one (architecture, quantizer):
   adversarial ``WCAR(low) - WCAR(high)``; natural ``mNR(high) - mNR(low)``; systematic
   ``ACCs(high) - ACCs(low)``.
3. Corruptions (rank claims), per quantized model with at least ``2 * top_k + 1`` complete
   corruptions (per-corruption accuracy = mean over the five severities; the corruptions every
   such model has): impulse_noise (glass_blur) is among the ``top_k`` (default 3) that hurt most
   when at most ``top_k - 1`` others are below it, i.e. when all but ``top_k - 1`` of the
   comparisons ``accuracy(other) - accuracy(target)`` are positive; brightness is among the
   ``top_k`` that hurt least with ``accuracy(target) - accuracy(other)``. A model's shown value
   is its margin to the ``top_k``-th other.
4. Systematic noise (rank claims), per model (float and quantized), on the variants every model
   has: nearest = ``accuracy(v) - mean accuracy of the nearest-neighbour resizes`` must be
   positive for every other variant ``v`` (decoders included, the reference excluded); smooth =
   the mean accuracy of the bilinear, bicubic and area resizes other than the reference
   ``resize_pil_bilinear`` (the training and reference pipeline, not a noise) minus the mean of
   the nearest resizes, and minus the mean of the other filters (box, hamming, lanczos,
   lanczos4): both must be positive.

Every part is one paired test of the mean of its units' effects (:mod:`robustmq.report.effects`:
the images resampled once for every model, exact McNemar where a single unit compares two
accuracies); a rank claim is one such test per comparison (pooled over its models), combined by
:func:`~robustmq.report.effects.rank_effect` (intersection-union / Bonferroni); the same tests
per architecture show where the effect lives. p-values are
Holm-adjusted over the parts of the run (and, separately, over the per-architecture tests). A
part is ``supported`` when its adjusted p-value is at most ``alpha`` and the effect is positive,
``contradicted`` when it is at most ``alpha`` and negative, else ``inconclusive``; ``not enough
cells`` when it has fewer than ``min_checks`` units. A finding is contradicted when one of its
parts is, else not enough cells, else inconclusive when one of its parts is, else supported.
Models flagged ``not_converged`` are left out unless ``include_not_converged``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from robustmq.cells import FLOAT
from robustmq.exceptions import InvalidOptionError
from robustmq.hashing import sha256_json
from robustmq.report.claims import (
    REFERENCE_RESIZE,
    Claim,
    finding1_claims,
    finding2_claims,
    finding3_claims,
    finding4_claims,
    observed,
)
from robustmq.report.effects import (
    Effect,
    draw_units,
    group_effect,
    images_needed,
    rank_effect,
)
from robustmq.report.evidence import Evidence, gather_evidence
from robustmq.report.loading import ModelValues, arch_order, model_values
from robustmq.results.paired import holm
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = [
    "CLAIMS",
    "CONTRADICTED",
    "INCONCLUSIVE",
    "NOT_ENOUGH",
    "REFERENCE_RESIZE",
    "SUPPORTED",
    "Finding",
    "FindingRules",
    "FindingsReport",
    "Part",
    "Test",
    "UnitResult",
    "assess_findings",
    "judge_claims",
]

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_ENOUGH = "not enough cells"

#: The paper's findings, as protocol.md states them.
CLAIMS = {
    1: "Quantized models have higher adversarial robustness than their FP counterparts, but are "
    "more vulnerable to natural corruptions and systematic noise.",
    2: "Raising the bit-width lowers adversarial robustness and raises natural and systematic "
    "robustness.",
    3: "Impulse noise and glass blur hurt quantized models most; brightness least.",
    4: "Nearest-neighbour interpolation hurts most among systematic noises; bilinear, cubic and "
    "area interpolation least.",
}
#: The effect whose sample size the report states (2 points).
TARGET_EFFECT = 0.02


@dataclass(frozen=True)
class FindingRules:
    """The knobs of the tests (see the module docstring)."""

    alpha: float = 0.05
    min_checks: int = 3
    top_k: int = 3
    include_not_converged: bool = False
    n_boot: int = 2000
    power: float = 0.8
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0 or not 0.0 < self.power < 1.0:
            raise InvalidOptionError(
                f"alpha={self.alpha!r}, power={self.power!r} are invalid; expected fractions "
                "in (0, 1)"
            )
        if self.min_checks < 1 or self.top_k < 1 or self.n_boot < 100:
            raise InvalidOptionError(
                f"min_checks={self.min_checks!r}, top_k={self.top_k!r}, n_boot={self.n_boot!r} "
                "are invalid; expected min_checks, top_k >= 1 and n_boot >= 100"
            )


@dataclass(frozen=True)
class Test:
    """One tested group of units (a part, or its units of one architecture) and its verdict.

    ``p_adjusted`` is Holm-adjusted over the tests of its level; ``detectable`` is the effect
    found with ``rules.power`` at the strictest Holm level (``alpha`` / number of tests);
    ``per_class_for_target`` the images per class that would detect 2 points.
    """

    scope: str
    effect: Effect
    p_adjusted: float
    verdict: str
    per_class_for_target: float | None = None


@dataclass(frozen=True)
class UnitResult:
    """One unit: what it compares, the observed values and its effect."""

    label: str
    arch: str
    detail: str
    effect: float


@dataclass(frozen=True)
class Part:
    """One claim of a finding: its verdict, the pooled test, per-architecture tests, units."""

    name: str
    claim: str
    verdict: str
    summary: str
    test: Test | None = None
    architectures: list[Test] = field(default_factory=list)
    units: list[UnitResult] = field(default_factory=list)


@dataclass(frozen=True)
class Finding:
    """One of the paper's findings: its parts and the combined verdict."""

    number: int
    claim: str
    verdict: str
    parts: list[Part]


@dataclass(frozen=True)
class FindingsReport:
    """The four findings, the models left out, and the rules used."""

    findings: list[Finding]
    excluded: list[str]
    rules: FindingRules
    #: models measured on another sample set than the others, per family (left out).
    unpaired: dict[str, list[str]] = field(default_factory=dict)
    #: images per family's aligned sample set.
    images: dict[str, int] = field(default_factory=dict)


def _verdict(effect: Effect, p_adjusted: float, alpha: float) -> str:
    if p_adjusted > alpha or not math.isfinite(effect.value):
        return INCONCLUSIVE
    return SUPPORTED if effect.value > 0 else CONTRADICTED


@dataclass
class _Tested:
    claim: Claim
    pooled: Effect | None
    per_arch: list[tuple[str, Effect]]


def _test_claim(claim: Claim, evidence: Evidence, rules: FindingRules, m: int) -> _Tested:
    if len(claim.labels) < rules.min_checks:
        return _Tested(claim, None, [])
    seed = int(sha256_json((rules.seed, claim.finding, claim.name))[:15], 16)
    draws = draw_units([u.effect for u in claim.units], evidence.n, n_boot=rules.n_boot, seed=seed)
    level = 1 - rules.alpha
    archs = arch_order({u.arch for u in claim.units})

    def test(index: list[int], tests: int) -> Effect:
        def tested(own: list[int], pair: tuple[np.ndarray, np.ndarray] | None = None) -> Effect:
            return group_effect(
                draws,
                own,
                level=level,
                detect_alpha=rules.alpha / tests,
                power=rules.power,
                pair=pair,
            )

        if claim.needed is None:
            return tested(index, claim.units[index[0]].pair if len(index) == 1 else None)
        by_item: dict[str, list[int]] = {}
        for i in index:
            by_item.setdefault(claim.units[i].item, []).append(i)
        items = {item: tested(own) for item, own in by_item.items()}
        models = len({claim.units[i].label for i in index})
        return rank_effect(items, min(claim.needed, len(items)), models)

    pooled = test(list(range(len(claim.units))), m)
    per_arch = [
        (a, test([i for i, u in enumerate(claim.units) if u.arch == a], m * len(archs)))
        for a in archs
    ]
    return _Tested(claim, pooled, per_arch)


def _per_class(effect: Effect, num_classes: int | None) -> float | None:
    needed = images_needed(effect, TARGET_EFFECT)
    return None if num_classes is None or not math.isfinite(needed) else needed / num_classes


def _parts(
    tested: list[_Tested], evidence: Mapping[str, Evidence], rules: FindingRules
) -> list[Part]:
    pooled_p = holm([t.pooled.p_value for t in tested if t.pooled is not None])
    arch_p = holm([e.p_value for t in tested for _, e in t.per_arch])
    parts, i, j = [], 0, 0
    for t in tested:
        claim, ev = t.claim, evidence[t.claim.family]
        units = [UnitResult(*row) for row in claim.rows] or [
            UnitResult(u.label, u.arch, u.detail, observed(u.effect)) for u in claim.units
        ]
        if t.pooled is None:
            summary = f"{len(claim.labels)} {claim.unit_kind}; needs at least {rules.min_checks}"
            parts.append(Part(claim.name, claim.claim, NOT_ENOUGH, summary, units=units))
            continue
        verdict = _verdict(t.pooled, pooled_p[i], rules.alpha)
        test = Test("all", t.pooled, pooled_p[i], verdict, _per_class(t.pooled, ev.num_classes))
        i += 1
        archs = []
        for arch, effect in t.per_arch:
            archs.append(
                Test(
                    arch,
                    effect,
                    arch_p[j],
                    _verdict(effect, arch_p[j], rules.alpha),
                    _per_class(effect, ev.num_classes),
                )
            )
            j += 1
        agree = sum(1 for u in units if u.effect > 0)
        summary = f"{agree} of {len(units)} {claim.unit_kind} in the claim's direction"
        parts.append(Part(claim.name, claim.claim, verdict, summary, test, archs, units))
    return parts


def judge_claims(
    claims: Sequence[Claim], evidence: Mapping[str, Evidence], rules: FindingRules
) -> list[Part]:
    """Test each claim on its units (one paired test per claim and per architecture), Holm
    over the claims (and over the per-architecture tests), and give each its verdict."""
    testable = sum(len(c.labels) >= rules.min_checks for c in claims)
    tested = [_test_claim(c, evidence[c.family], rules, max(1, testable)) for c in claims]
    return _parts(tested, evidence, rules)


def _combine(number: int, parts: list[Part]) -> Finding:
    verdicts = {p.verdict for p in parts}
    for verdict in (CONTRADICTED, NOT_ENOUGH, INCONCLUSIVE):
        if verdict in verdicts:
            return Finding(number, CLAIMS[number], verdict, parts)
    return Finding(number, CLAIMS[number], SUPPORTED, parts)


def _model_order(models: dict[str, ModelValues]) -> list[ModelValues]:
    archs = arch_order({m.arch for m in models.values()})
    return sorted(
        models.values(),
        key=lambda m: (archs.index(m.arch), m.quantizer != FLOAT, m.quantizer, m.bits or 0),
    )


def assess_findings(
    records: Sequence[Record],
    summaries: dict[str, ModelSummary] | None = None,
    rules: FindingRules | None = None,
) -> FindingsReport:
    """Test the four findings on a run's records (``summaries`` may add model flags such as
    ``not_converged``; the records' own flags always count)."""
    rules = rules or FindingRules()
    values = model_values(records, {} if summaries is None else summaries)
    excluded = sorted(m for m, v in values.items() if not v.converged)
    if rules.include_not_converged:
        excluded = []
    kept = {m: v for m, v in values.items() if m not in excluded}
    models = _model_order(kept)
    evidence = gather_evidence([r for r in records if r.model_id in kept])
    claims = [
        *finding1_claims(models, evidence),
        *finding2_claims(models, evidence),
        *finding3_claims(models, evidence, rules.top_k),
        *finding4_claims(models, evidence),
    ]
    parts = judge_claims(claims, evidence, rules)
    findings = [
        _combine(number, [p for p, c in zip(parts, claims, strict=True) if c.finding == number])
        for number in CLAIMS
    ]
    unpaired = {f: e.unpaired for f, e in evidence.items() if e.unpaired}
    images = {f: e.n for f, e in evidence.items() if e.arrays}
    return FindingsReport(findings, excluded, rules, unpaired, images)
