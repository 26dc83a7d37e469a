"""What a run measured about the four findings of the RobustMQ paper (protocol.md, last section).

This module measures; it never assumes the paper is right. Each finding is split into parts (one
claim each); each part is a list of *checks*, one per comparison unit, and each check agrees with
the claim, ties or disagrees. The verdict of a part:

- ``not enough cells``: fewer than ``min_checks`` checks (default 3) could be made;
- ``supported``: more than half of the checks agree;
- ``contradicted``: otherwise (the claim does not hold in a majority of the checks; ties count
  against it, since a claimed effect that is not there is not supported).

A finding is ``contradicted`` when one of its parts is, else ``not enough cells`` when one of its
parts is, else ``supported``. Models flagged ``not_converged`` are left out (their robustness says
nothing about quantization), unless ``include_not_converged``.

Checks, with ``tol`` = ``tolerance`` (default 0.5 percentage points); a signed difference ``d``
(positive = the paper's direction) agrees when ``d > tol``, disagrees when ``d < -tol``, ties
otherwise:

1. Quantized vs float, per quantized model and the float model of its architecture:
   adversarial ``d = WCAR(q) - WCAR(fp)``; natural ``d = mNR(fp) - mNR(q)``;
   systematic ``d = ACCs(fp) - ACCs(q)``.
2. Bit-width, per pair of neighbouring bit-widths measured for one (architecture, quantizer)
   (e.g. 2 -> 4 bit): adversarial ``d = WCAR(low) - WCAR(high)``; natural
   ``d = mNR(high) - mNR(low)``; systematic ``d = ACCs(high) - ACCs(low)``.
3. Corruptions, per quantized model with at least ``2 * top_k + 1`` complete corruptions (all five
   severities; per-corruption accuracy = mean over them): impulse_noise and glass_blur each agree
   when among the model's ``top_k`` (default 3) lowest per-corruption accuracies; brightness
   agrees when among its ``top_k`` highest. Rank = 1 + the number of corruptions strictly worse
   (better), so ties rank in the claim's favour.
4. Systematic noise, per model (float and quantized: the finding does not restrict it):
   nearest ``d = min accuracy of the non-nearest variants - min accuracy of the nearest-neighbour
   variants`` (nearest hurts most among all variants, decoders included); smooth
   ``d = mean accuracy of the bilinear, bicubic and area resize variants - the higher of the mean
   of the nearest variants and the mean of the other resize filters (box, hamming, lanczos,
   lanczos4)``.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from robustmq.cells import FLOAT
from robustmq.exceptions import InvalidOptionError
from robustmq.report.loading import (
    ModelValues,
    arch_order,
    corruption_accuracy,
    model_values,
    variant_accuracy,
)
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = [
    "CLAIMS",
    "CONTRADICTED",
    "NOT_ENOUGH",
    "SUPPORTED",
    "Check",
    "Finding",
    "FindingRules",
    "FindingsReport",
    "Part",
    "assess_findings",
]

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
NOT_ENOUGH = "not enough cells"
AGREES, TIES, DISAGREES = "agrees", "ties", "disagrees"

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
SMOOTH_RESIZE = ("bilinear", "bicubic", "area")


@dataclass(frozen=True)
class FindingRules:
    """The knobs of the verdict rules (see the module docstring)."""

    tolerance: float = 0.005
    min_checks: int = 3
    top_k: int = 3
    include_not_converged: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.tolerance < 1.0:
            raise InvalidOptionError(
                f"tolerance={self.tolerance!r} is invalid; expected a fraction in [0, 1)"
            )
        if self.min_checks < 1 or self.top_k < 1:
            raise InvalidOptionError(
                f"min_checks={self.min_checks!r}, top_k={self.top_k!r} are invalid; "
                "expected integers >= 1"
            )


@dataclass(frozen=True)
class Check:
    """One comparison: what was compared, its numbers, the signed difference (or rank), outcome."""

    unit: str
    detail: str
    value: float
    outcome: str


@dataclass(frozen=True)
class Part:
    """One claim of a finding, its checks and its verdict."""

    name: str
    claim: str
    verdict: str
    summary: str
    checks: list[Check] = field(default_factory=list)


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


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _pp(value: float) -> str:
    return f"{100 * value:+.1f} pp"


def _outcome(d: float, tol: float) -> str:
    return AGREES if d > tol else DISAGREES if d < -tol else TIES


def _part(name: str, claim: str, checks: list[Check], rules: FindingRules, unit: str) -> Part:
    n = len(checks)
    if n < rules.min_checks:
        return Part(name, claim, NOT_ENOUGH, f"{n} {unit}; needs at least {rules.min_checks}")
    counts = {o: sum(c.outcome == o for c in checks) for o in (AGREES, TIES, DISAGREES)}
    verdict = SUPPORTED if counts[AGREES] > n / 2 else CONTRADICTED
    summary = (
        f"{counts[AGREES]} of {n} {unit} agree, {counts[TIES]} tie, {counts[DISAGREES]} disagree"
    )
    return Part(name, claim, verdict, summary, checks)


def _diff_part(name: str, claim: str, checks: list[Check], rules: FindingRules, unit: str) -> Part:
    part = _part(name, claim, checks, rules, unit)
    if part.verdict != NOT_ENOUGH:
        median = statistics.median(c.value for c in checks)
        part = Part(name, claim, part.verdict, f"{part.summary}; median d {_pp(median)}", checks)
    return part


def _combine(number: int, parts: list[Part]) -> Finding:
    verdicts = {p.verdict for p in parts}
    verdict = (
        CONTRADICTED
        if CONTRADICTED in verdicts
        else NOT_ENOUGH
        if NOT_ENOUGH in verdicts
        else SUPPORTED
    )
    return Finding(number, CLAIMS[number], verdict, parts)


#: (family, summary key, label, sign in finding 1 (q - fp), sign in finding 2 (high - low)).
_METRICS = (
    ("adversarial", "wcar", "WCAR", 1, -1),
    ("natural", "mnr", "mNR", -1, 1),
    ("systematic", "accs", "ACCs", -1, 1),
)


def _finding1(models: list[ModelValues], rules: FindingRules) -> Finding:
    floats = {m.arch: m for m in models if m.quantizer == FLOAT}
    parts = []
    for family, key, label, sign, _ in _METRICS:
        checks = []
        for q in models:
            fp = floats.get(q.arch)
            vq, vf = q.get(key), fp.get(key) if fp else None
            if q.quantizer == FLOAT or fp is None or vq is None or vf is None:
                continue
            d = sign * (vq - vf)
            checks.append(
                Check(
                    f"{q.model_id} vs {fp.model_id}",
                    f"{label} {_pct(vq)} vs {_pct(vf)}",
                    d,
                    _outcome(d, rules.tolerance),
                )
            )
        higher = "higher" if sign > 0 else "lower"
        claim = f"quantized models have {higher} {label} than the float model"
        parts.append(_diff_part(family, claim, checks, rules, "quantized/float pairs"))
    return _combine(1, parts)


def _finding2(models: list[ModelValues], rules: FindingRules) -> Finding:
    series: dict[tuple[str, str], list[ModelValues]] = {}
    for m in models:
        if m.quantizer != FLOAT and m.bits is not None:
            series.setdefault((m.arch, m.quantizer), []).append(m)
    parts = []
    for family, key, label, _, sign in _METRICS:
        checks = []
        for (arch, quantizer), members in series.items():
            measured = sorted(
                ((m, v) for m in members if (v := m.get(key)) is not None),
                key=lambda item: item[0].bits or 0,
            )
            for (low, vl), (high, vh) in itertools.pairwise(measured):
                d = sign * (vh - vl)
                checks.append(
                    Check(
                        f"{arch}-{quantizer} {low.bits} -> {high.bits} bit",
                        f"{label} {_pct(vl)} -> {_pct(vh)}",
                        d,
                        _outcome(d, rules.tolerance),
                    )
                )
        trend = "falls" if sign < 0 else "rises"
        claim = f"{label} {trend} as the bit-width rises"
        parts.append(_diff_part(family, claim, checks, rules, "bit-width steps"))
    return _combine(2, parts)


def _rank_checks(
    per_model: dict[str, dict[str, float]], target: str, worst: bool, k: int
) -> list[Check]:
    checks = []
    for model_id, accuracy in per_model.items():
        if target not in accuracy or len(accuracy) < 2 * k + 1:
            continue
        value = accuracy[target]
        beyond = [c for c, v in accuracy.items() if (v < value if worst else v > value)]
        rank = 1 + len(beyond)
        ordered = sorted(accuracy.items(), key=lambda item: item[1], reverse=not worst)
        end = "worst" if worst else "best"
        detail = (
            f"{target} {_pct(value)}, rank {rank} of {len(accuracy)} from the {end}; "
            f"{end}: {ordered[0][0]} {_pct(ordered[0][1])}"
        )
        checks.append(Check(model_id, detail, float(rank), AGREES if rank <= k else DISAGREES))
    return checks


def _finding3(
    by_model: dict[str, list[Record]], models: dict[str, ModelValues], rules: FindingRules
) -> Finding:
    per_model = {
        model_id: acc
        for model_id, m in models.items()
        if m.quantizer != FLOAT and (acc := corruption_accuracy(by_model[model_id]))
    }
    k = rules.top_k
    unit = f"quantized models with >= {2 * k + 1} complete corruptions"
    parts = [
        _part(
            target,
            f"{target} is among the {k} corruptions that hurt most",
            _rank_checks(per_model, target, True, k),
            rules,
            unit,
        )
        for target in ("impulse_noise", "glass_blur")
    ]
    parts.append(
        _part(
            "brightness",
            f"brightness is among the {k} corruptions that hurt least",
            _rank_checks(per_model, "brightness", False, k),
            rules,
            unit,
        )
    )
    return _combine(3, parts)


def _resize_method(noise: str) -> str | None:
    return noise.rsplit("_", 1)[-1] if noise.startswith("resize_") else None


def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def _nearest_check(model_id: str, acc: dict[str, float], tol: float) -> Check | None:
    nearest = {v: a for v, a in acc.items() if _resize_method(v) == "nearest"}
    others = {v: a for v, a in acc.items() if v not in nearest}
    if not nearest or not others:
        return None
    worst_n = min(nearest.items(), key=lambda item: item[1])
    worst_o = min(others.items(), key=lambda item: item[1])
    d = worst_o[1] - worst_n[1]
    detail = (
        f"worst nearest {worst_n[0]} {_pct(worst_n[1])}, "
        f"worst other {worst_o[0]} {_pct(worst_o[1])}"
    )
    return Check(model_id, detail, d, _outcome(d, tol))


def _smooth_check(model_id: str, acc: dict[str, float], tol: float) -> Check | None:
    groups: dict[str, list[float]] = {"smooth": [], "nearest": [], "other filters": []}
    for variant, value in acc.items():
        method = _resize_method(variant)
        if method is None:
            continue
        group = (
            "smooth"
            if method in SMOOTH_RESIZE
            else "nearest"
            if method == "nearest"
            else "other filters"
        )
        groups[group].append(value)
    rivals = {g: _mean(v) for g, v in groups.items() if v and g != "smooth"}
    if not groups["smooth"] or not rivals:
        return None
    smooth = _mean(groups["smooth"])
    best_rival = max(rivals.items(), key=lambda item: item[1])
    d = smooth - best_rival[1]
    detail = f"bilinear/bicubic/area {_pct(smooth)} vs {best_rival[0]} {_pct(best_rival[1])}"
    return Check(model_id, detail, d, _outcome(d, tol))


def _finding4(
    by_model: dict[str, list[Record]], models: dict[str, ModelValues], rules: FindingRules
) -> Finding:
    nearest: list[Check] = []
    smooth: list[Check] = []
    for model_id in models:
        acc = variant_accuracy(by_model[model_id])
        if (check := _nearest_check(model_id, acc, rules.tolerance)) is not None:
            nearest.append(check)
        if (check := _smooth_check(model_id, acc, rules.tolerance)) is not None:
            smooth.append(check)
    parts = [
        _diff_part(
            "nearest",
            "a nearest-neighbour variant gives the lowest accuracy of all systematic variants",
            nearest,
            rules,
            "models",
        ),
        _diff_part(
            "bilinear/bicubic/area",
            "bilinear, bicubic and area resizing give higher accuracy than the other resize "
            "methods",
            smooth,
            rules,
            "models",
        ),
    ]
    return _combine(4, parts)


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
    """Measure the four findings on a run's records (summaries recomputed when not given)."""
    rules = rules or FindingRules()
    values = model_values(records, summaries)
    excluded = sorted(m for m, v in values.items() if not v.converged)
    if not rules.include_not_converged:
        values = {m: v for m, v in values.items() if v.converged}
    else:
        excluded = []
    ordered = {m.model_id: m for m in _model_order(values)}
    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model_id, []).append(r)
    models = list(ordered.values())
    findings = [
        _finding1(models, rules),
        _finding2(models, rules),
        _finding3(by_model, ordered, rules),
        _finding4(by_model, ordered, rules),
    ]
    return FindingsReport(findings, excluded, rules)
