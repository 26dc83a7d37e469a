"""The claims of the paper's findings as units of paired comparisons (see robustmq.report.findings).

Each builder turns a run's models and aligned per-sample evidence
(:mod:`robustmq.report.evidence`) into :class:`Claim` objects: one claim of a finding and its
units, each unit's effect a function of resampled per-image sums, signed so that a positive
effect is the claim's direction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustmq.report.evidence import Evidence
from robustmq.report.loading import ModelValues
from robustmq.results.paired import Total

__all__ = [
    "REFERENCE_RESIZE",
    "SMOOTH_RESIZE",
    "Claim",
    "Unit",
    "finding1_claims",
    "finding2_claims",
    "finding3_claims",
    "finding4_claims",
    "observed",
]

#: The training and reference resize: it is the pipeline every variant is a deviation from.
REFERENCE_RESIZE = "resize_pil_bilinear"
SMOOTH_RESIZE = ("bilinear", "bicubic", "area")


@dataclass(frozen=True)
class Unit:
    """One comparison of models on the same images and its signed effect."""

    label: str
    arch: str
    detail: str
    effect: Callable[[Total], np.ndarray]
    #: the two binary outcome vectors (claim-favoured side first) of a two-accuracy comparison.
    pair: tuple[np.ndarray, np.ndarray] | None = None
    #: what the unit compares with, in a rank claim (a corruption, a variant, a group).
    item: str = ""


@dataclass(frozen=True)
class Claim:
    """One claim of a finding (a part) and its units."""

    finding: int
    name: str
    claim: str
    family: str
    unit_kind: str
    units: list[Unit]
    #: a rank claim holds when at least ``needed`` of its items (``Unit.item``) are beyond the
    #: target; None: a claim on the mean of its units' effects.
    needed: int | None = None
    #: per model of a rank claim: (model id, architecture, what was measured, observed margin).
    rows: list[tuple[str, str, str, float]] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """The units' distinct labels (models or model pairs), in order."""
        return list(dict.fromkeys(u.label for u in self.units))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


class _ModelMetric:
    """A model's summary (WCAR, mNR or ACCs) from per-image sums, on shared cells."""

    def __init__(self, evidence: Evidence, label: str) -> None:
        self.evidence, self.label = evidence, label

    def names(self, *models: str) -> list[str]:
        """The cells every one of ``models`` has (both ``clean``/``survived`` for WCAR)."""
        own = [set(self.evidence.arrays.get(m, {})) for m in models]
        return sorted(set.intersection(*own)) if own and all(own) else []

    def value(self, model: str, names: list[str]) -> Callable[[Total], np.ndarray]:
        """``value(total)``: the model's metric on the resampled images."""
        arrays = self.evidence.arrays[model]
        if self.evidence.family == "adversarial":
            survived, clean = arrays["survived"], arrays["clean"]
            return lambda total: total(survived) / total(clean)
        mean = np.mean([arrays[n] for n in names], axis=0)
        size = self.evidence.n
        return lambda total: total(mean) / size

    def binary(self, model: str, names: list[str]) -> np.ndarray | None:
        """The model's outcome vector when the metric is one accuracy of 0/1 outcomes."""
        if self.evidence.family == "systematic" and len(names) == 1:
            return self.evidence.arrays[model][names[0]]
        return None


def observed(fn: Callable[[Total], np.ndarray]) -> float:
    """The value of an effect on the images as measured (not resampled)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(fn(lambda x: np.asarray([np.sum(x)]))[0])


def _difference(
    metric: _ModelMetric, first: str, second: str, sign: int, label: str, arch: str
) -> Unit | None:
    """The unit ``sign * (metric(first) - metric(second))`` on the cells both models have."""
    names = metric.names(first, second)
    if not names:
        return None
    a, b = metric.value(first, names), metric.value(second, names)
    va, vb = observed(a), observed(b)
    if not (math.isfinite(va) and math.isfinite(vb)):
        return None
    pair = None
    xa, xb = metric.binary(first, names), metric.binary(second, names)
    if xa is not None and xb is not None:
        pair = (xa, xb) if sign > 0 else (xb, xa)

    def effect(total: Total) -> np.ndarray:
        return sign * (a(total) - b(total))

    detail = f"{metric.label} {_pct(va)} vs {_pct(vb)}"
    return Unit(label, arch, detail, effect, pair)


#: (family, label, sign in finding 1 (q - fp), sign in finding 2 (high - low)).
_METRICS = (
    ("adversarial", "WCAR", 1, -1),
    ("natural", "mNR", -1, 1),
    ("systematic", "ACCs", -1, 1),
)


def finding1_claims(models: list[ModelValues], evidence: dict[str, Evidence]) -> list[Claim]:
    floats = {m.arch: m for m in models if m.is_float}
    claims = []
    for family, label, sign, _ in _METRICS:
        metric = _ModelMetric(evidence[family], label)
        units = []
        for q in models:
            fp = floats.get(q.arch)
            if q.is_float or fp is None:
                continue
            label_ = f"{q.model_id} vs {fp.model_id}"
            unit = _difference(metric, q.model_id, fp.model_id, sign, label_, q.arch)
            if unit is not None:
                units.append(unit)
        higher = "higher" if sign > 0 else "lower"
        claim = f"quantized models have {higher} {label} than the float model"
        claims.append(Claim(1, family, claim, family, "quantized/float pairs", units))
    return claims


def finding2_claims(models: list[ModelValues], evidence: dict[str, Evidence]) -> list[Claim]:
    series: dict[tuple[str, str], list[ModelValues]] = {}
    for m in models:
        if not m.is_float and m.bits is not None:
            series.setdefault((m.arch, m.quantizer), []).append(m)
    claims = []
    for family, label, _, sign in _METRICS:
        metric = _ModelMetric(evidence[family], label)
        units = []
        for (arch, quantizer), members in series.items():
            measured = sorted(
                (m for m in members if metric.names(m.model_id)), key=lambda m: m.bits or 0
            )
            for low, high in itertools.pairwise(measured):
                label_ = f"{arch}-{quantizer} {low.bits} -> {high.bits} bit"
                unit = _difference(metric, low.model_id, high.model_id, -sign, label_, arch)
                if unit is not None:
                    units.append(unit)
        trend = "falls" if sign < 0 else "rises"
        claims.append(
            Claim(2, family, f"{label} {trend} as the bit-width rises", family, "steps", units)
        )
    return claims


def _accuracy(arrays: dict[str, np.ndarray], name: str, n: int) -> Callable[[Total], np.ndarray]:
    x = arrays[name]
    return lambda total: total(x) / n


def _compare(
    model: ModelValues, item: str, plus: Callable[[Total], np.ndarray], minus: Callable[..., Any]
) -> Unit:
    return Unit(model.model_id, model.arch, "", lambda total: plus(total) - minus(total), item=item)


def _rank_claim(
    models: list[ModelValues], evidence: Evidence, target: str, worst: bool, k: int
) -> Claim:
    """``target`` among the ``k`` corruptions that hurt most (``worst``) or least: one unit per
    (model, other corruption), the claim needing all but ``k - 1`` of the others beyond it."""
    ranked = [
        m
        for m in models
        if not m.is_float and target in (a := evidence.arrays.get(m.model_id, {}))
        if len(a) >= 2 * k + 1
    ]
    common = (
        set.intersection(*(set(evidence.arrays[m.model_id]) for m in ranked)) if ranked else set()
    )
    others = sorted(common - {target})
    units, rows, n = [], [], evidence.n
    for m in ranked:
        arrays = evidence.arrays[m.model_id]
        mine = _accuracy(arrays, target, n)
        for item in others:
            theirs = _accuracy(arrays, item, n)
            units.append(
                _compare(m, item, theirs, mine) if worst else _compare(m, item, mine, theirs)
            )
        accuracy = {c: float(arrays[c].mean()) for c in [target, *others]}
        value = accuracy[target]
        rest = sorted(accuracy[c] for c in others)
        beyond = sum(1 for v in rest if (v < value if worst else v > value))
        margin = rest[k - 1] - value if worst else value - rest[-k]
        end = "worst" if worst else "best"
        extreme = (min if worst else max)(accuracy.items(), key=lambda item: item[1])
        detail = (
            f"{target} {_pct(value)}, rank {1 + beyond} of {len(accuracy)} from the {end}; "
            f"{end}: {extreme[0]} {_pct(extreme[1])}"
        )
        rows.append((m.model_id, m.arch, detail, margin))
    most = "most" if worst else "least"
    return Claim(
        3,
        target,
        f"{target} is among the {k} corruptions that hurt {most}",
        "natural",
        f"quantized models with >= {2 * k + 1} complete corruptions",
        units,
        needed=max(1, len(others) - k + 1),
        rows=rows,
    )


def finding3_claims(
    models: list[ModelValues], evidence: dict[str, Evidence], k: int
) -> list[Claim]:
    """Finding 3: impulse noise and glass blur among the ``k`` worst corruptions, brightness
    among the ``k`` best (quantized models)."""
    return [
        _rank_claim(models, evidence["natural"], target, worst, k)
        for target, worst in (("impulse_noise", True), ("glass_blur", True), ("brightness", False))
    ]


def _resize_group(variant: str) -> str | None:
    if not variant.startswith("resize_") or variant == REFERENCE_RESIZE:
        return None
    method = variant.rsplit("_", 1)[-1]
    return "smooth" if method in SMOOTH_RESIZE else "nearest" if method == "nearest" else "other"


def _mean_of(arrays: list[np.ndarray], n: int) -> Callable[[Total], np.ndarray]:
    mean = np.mean(arrays, axis=0)
    return lambda total: total(mean) / n


def _groups(variants: set[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"smooth": [], "nearest": [], "other": []}
    for variant in sorted(variants):
        if (group := _resize_group(variant)) is not None:
            groups[group].append(variant)
    return groups


def finding4_claims(models: list[ModelValues], evidence: dict[str, Evidence]) -> list[Claim]:
    """Finding 4 on the variants every model has: nearest below every other variant (the
    reference resize excluded); smooth resizes above both the nearest and the other filters."""
    ev, n = evidence["systematic"], evidence["systematic"].n
    measured = [m for m in models if ev.has(m.model_id)]
    common = (
        set.intersection(*(set(ev.arrays[m.model_id]) for m in measured)) if measured else set()
    )
    groups = _groups(common)
    rest = sorted(common - set(groups["nearest"]) - {REFERENCE_RESIZE})
    rivals = [g for g in ("nearest", "other") if groups[g]]
    nearest: list[Unit] = []
    smooth: list[Unit] = []
    near_rows, smooth_rows = [], []
    for m in measured:
        arrays = ev.arrays[m.model_id]
        means = {g: _mean_of([arrays[v] for v in names], n) for g, names in groups.items() if names}
        acc = {v: float(arrays[v].mean()) for v in common}
        if groups["nearest"] and rest:
            near = means["nearest"]
            nearest += [_compare(m, v, _accuracy(arrays, v, n), near) for v in rest]
            worst = min(rest, key=lambda v: acc[v])
            value = observed(near)
            near_rows.append(
                (
                    m.model_id,
                    m.arch,
                    f"nearest {_pct(value)}, worst other {worst} {_pct(acc[worst])}",
                    acc[worst] - value,
                )
            )
        if groups["smooth"] and rivals:
            soft = means["smooth"]
            smooth += [_compare(m, g, soft, means[g]) for g in rivals]
            best = max(rivals, key=lambda g: observed(means[g]))
            value, rival = observed(soft), observed(means[best])
            smooth_rows.append(
                (m.model_id, m.arch, f"smooth {_pct(value)} vs {best} {_pct(rival)}", value - rival)
            )
    return [
        Claim(
            4,
            "nearest",
            "nearest-neighbour resizing gives lower accuracy than every other systematic variant",
            "systematic",
            "models",
            nearest,
            needed=max(1, len(rest)),
            rows=near_rows,
        ),
        Claim(
            4,
            "bilinear/bicubic/area",
            "bilinear, bicubic and area resizing (other than the reference "
            f"{REFERENCE_RESIZE}) give higher accuracy than the nearest and the other filters",
            "systematic",
            "models",
            smooth,
            needed=max(1, len(rivals)),
            rows=smooth_rows,
        ),
    ]
