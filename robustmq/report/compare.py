"""What changed between two runs: settings, cells added and removed, metric and summary deltas.

Settings are listed when they differ (``output`` aside; :data:`ABSENT` where a run lacks one).
Deltas are ``after - before`` (run B minus run A), sorted by their size (largest first). For a
cell in both runs evaluated on the same samples, ``changed_samples`` counts the samples whose
correctness flipped (a small delta can hide many flips in both directions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from robustmq.report.loading import RunData
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = ["ABSENT", "Comparison", "Delta", "compare_runs"]

#: Stands for a setting one of the runs does not have (an older run, for example).
ABSENT = "(absent)"


@dataclass(frozen=True)
class Delta:
    """One value in both runs (``cell`` is a cell name, or a model id for summaries)."""

    key: str
    name: str
    before: float | None
    after: float | None
    changed_samples: int | None = None

    @property
    def delta(self) -> float | None:
        """``after - before`` (None when the value is missing in one run)."""
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    def size(self) -> float:
        """Sort key: |delta|, missing values first (they are the biggest change)."""
        return float("inf") if self.delta is None else abs(self.delta)


@dataclass(frozen=True)
class Comparison:
    """Everything that differs between run A (before) and run B (after)."""

    settings: list[tuple[str, Any, Any]] = field(default_factory=list)
    cells_added: list[str] = field(default_factory=list)
    cells_removed: list[str] = field(default_factory=list)
    cells_common: int = 0
    metric_deltas: list[Delta] = field(default_factory=list)
    flag_changes: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    models_added: list[str] = field(default_factory=list)
    models_removed: list[str] = field(default_factory=list)
    summary_deltas: list[Delta] = field(default_factory=list)


def _changed_samples(a: Record, b: Record) -> int | None:
    same_set = a.settings.get("sample_ids_sha256") == b.settings.get("sample_ids_sha256")
    if not same_set or a.n_samples != b.n_samples or not a.correct or not b.correct:
        return None
    if a.family == "adversarial" and a.settings.get("adversarial", {}).get(
        "sample_indices"
    ) != b.settings.get("adversarial", {}).get("sample_indices"):
        return None
    return int((a.correct_vector() != b.correct_vector()).sum())


def _value_deltas(
    key: str, before: Mapping[str, float], after: Mapping[str, float], changed: int | None
) -> list[Delta]:
    result = []
    for name in sorted(set(before) | set(after)):
        va, vb = before.get(name), after.get(name)
        if va != vb:
            result.append(Delta(key, name, va, vb, changed))
    return result


def compare_runs(
    a: RunData,
    b: RunData,
    summaries_a: dict[str, ModelSummary] | None = None,
    summaries_b: dict[str, ModelSummary] | None = None,
) -> Comparison:
    """Compare run ``a`` (before) with run ``b`` (after); summaries recomputed when not given."""
    sa, sb = a.settings, b.settings
    settings = [
        (k, sa.get(k, ABSENT), sb.get(k, ABSENT))
        for k in sorted(set(sa) | set(sb))
        if k != "output" and sa.get(k, ABSENT) != sb.get(k, ABSENT)
    ]
    cells_a = {r.cell: r for r in a.records}
    cells_b = {r.cell: r for r in b.records}
    common = sorted(set(cells_a) & set(cells_b))
    metric_deltas: list[Delta] = []
    flag_changes = []
    for cell in common:
        ra, rb = cells_a[cell], cells_b[cell]
        if ra.metrics != rb.metrics:
            metric_deltas += _value_deltas(cell, ra.metrics, rb.metrics, _changed_samples(ra, rb))
        if set(ra.flags) != set(rb.flags):
            flag_changes.append(
                (cell, sorted(set(rb.flags) - set(ra.flags)), sorted(set(ra.flags) - set(rb.flags)))
            )
    summaries_a = a.summaries() if summaries_a is None else summaries_a
    summaries_b = b.summaries() if summaries_b is None else summaries_b
    models_a = {r.model_id for r in a.records}
    models_b = {r.model_id for r in b.records}
    summary_deltas: list[Delta] = []
    for model in sorted(set(summaries_a) & set(summaries_b)):
        summary_deltas += _value_deltas(
            model, summaries_a[model].values, summaries_b[model].values, None
        )
    return Comparison(
        settings=settings,
        cells_added=sorted(set(cells_b) - set(cells_a)),
        cells_removed=sorted(set(cells_a) - set(cells_b)),
        cells_common=len(common),
        metric_deltas=sorted(metric_deltas, key=lambda d: (-d.size(), d.key, d.name)),
        flag_changes=flag_changes,
        models_added=sorted(models_b - models_a),
        models_removed=sorted(models_a - models_b),
        summary_deltas=sorted(summary_deltas, key=lambda d: (-d.size(), d.key, d.name)),
    )
