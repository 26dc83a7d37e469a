"""The regression gate: compare a cell's metrics with the same cell of a baseline run.

A metric regresses when it moved in its bad direction by more than the allowed change

    allowed = max(tolerance_pp / 100, z * sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2))

where p1, n1 are the baseline's value and sample count and p2, n2 the new ones (the binomial
standard error of the difference of two accuracies). Each metric's bad direction comes from its
family's declaration (:class:`~robustmq.results.family.Metric`): a metric declared ``higher`` is
better fails when it falls, ``lower`` when it rises; diagnostics (``zero_grad_fraction``...) and
undeclared metrics are never gated, and an improvement never fails. Metrics or cells absent from
the baseline are not checked.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from robustmq.exceptions import InvalidOptionError
from robustmq.results.family import metric_of
from robustmq.results.record import Record
from robustmq.results.storage import read_results

__all__ = ["Baseline", "Regression", "allowed_drop", "regressions"]


@dataclass(frozen=True)
class Regression:
    """One metric of one cell that fell beyond the allowed change."""

    cell: str
    metric: str
    baseline: float
    value: float
    allowed: float
    lower_is_better: bool = False

    def message(self) -> str:
        """A one-line explanation naming the cell, the metric, both values and the allowed drop."""
        direction = "rose" if self.lower_is_better else "fell"
        return (
            f"{self.cell}: {self.metric} {direction} from {100 * self.baseline:.2f} % (baseline) "
            f"to {100 * self.value:.2f} %, a change of {100 * abs(self.value - self.baseline):.2f}"
            f" points; allowed {100 * self.allowed:.2f} points"
        )


def allowed_drop(p1: float, n1: int, p2: float, n2: int, tolerance_pp: float, z: float) -> float:
    """max(tolerance in points / 100, z x the standard error of p2 - p1)."""
    variance = 0.0
    for p, n in ((p1, n1), (p2, n2)):
        if n > 0 and 0.0 <= p <= 1.0:
            variance += p * (1.0 - p) / n
    return max(tolerance_pp / 100.0, z * math.sqrt(variance))


class Baseline:
    """The records of an earlier run (its ``results.json``), by cell id."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InvalidOptionError(
                f"--rmq-baseline={self.path}: no such file; expected a results.json written by an "
                "earlier run (or by --rmq-save-baseline)"
            )
        try:
            _, records = read_results(self.path)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidOptionError(
                f"--rmq-baseline={self.path}: not a results.json of this tool ({exc})"
            ) from exc
        self.records = {r.cell: r for r in records}

    def __len__(self) -> int:
        return len(self.records)


def regressions(
    record: Record, baseline: Baseline, tolerance_pp: float, z: float
) -> list[Regression]:
    """The metrics of ``record`` that regressed against the same cell of ``baseline``."""
    old = baseline.records.get(record.cell)
    if old is None:
        return []
    found = []
    for name, value in record.metrics.items():
        metric = metric_of(record.family, name)
        before = old.metrics.get(name)
        if metric is None or not metric.gated:
            continue
        if not isinstance(before, (int, float)) or not isinstance(value, (int, float)):
            continue
        allowed = allowed_drop(before, old.n_samples, value, record.n_samples, tolerance_pp, z)
        if metric.worsened(before, value) > allowed + 1e-12:
            lower = metric.direction == "lower"
            found.append(Regression(record.cell, name, float(before), float(value), allowed, lower))
    return found
