"""The regression gate: compare a cell's metrics with the same cell of a baseline run.

A metric regresses when it moved in its bad direction by more than the allowed change

    allowed = max(tolerance_pp / 100, z * sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2))

where p1, n1 are the baseline's value and sample count and p2, n2 the new ones (the binomial
standard error of the difference of two accuracies). Where both runs evaluated the same samples
(same sample-set digest and count) and the metric is the share of correct samples, the test is
paired instead: the drop must exceed the tolerance and the exact one-sided sign test on the
discordant samples (b correct before and wrong now, c the reverse; P(X >= b) for X ~ Bin(b + c,
1/2)) must fall below the one-sided normal tail of ``z`` (z = 3: p < 0.00135). Each metric's bad
direction comes from its family's declaration (:class:`~robustmq.results.family.Metric`): a metric
declared ``higher`` is better fails when it falls, ``lower`` when it rises; diagnostics and
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
from robustmq.results.intervals import share_counts
from robustmq.results.record import Record
from robustmq.results.storage import read_results

__all__ = ["Baseline", "Regression", "allowed_drop", "regressions", "sign_test"]


@dataclass(frozen=True)
class Regression:
    """One metric of one cell that fell beyond the allowed change."""

    cell: str
    metric: str
    baseline: float
    value: float
    allowed: float
    lower_is_better: bool = False
    #: paired test: (b, c) samples correct before and wrong now, and the reverse; its p-value.
    flips: tuple[int, int] | None = None
    p_value: float | None = None

    def message(self) -> str:
        """A one-line explanation naming the cell, the metric, both values and the allowed drop
        (for a paired test: how many samples flipped each way and the p-value)."""
        direction = "rose" if self.lower_is_better else "fell"
        text = (
            f"{self.cell}: {self.metric} {direction} from {100 * self.baseline:.2f} % (baseline) "
            f"to {100 * self.value:.2f} %, a change of {100 * abs(self.value - self.baseline):.2f}"
            f" points; allowed {100 * self.allowed:.2f} points"
        )
        if self.flips is None:
            return text
        b, c = self.flips
        return (
            f"{text}; on the same samples {b} went from correct to wrong and {c} from wrong to "
            f"correct (exact one-sided sign test p = {self.p_value:.2g})"
        )


def allowed_drop(p1: float, n1: int, p2: float, n2: int, tolerance_pp: float, z: float) -> float:
    """max(tolerance in points / 100, z x the standard error of p2 - p1)."""
    variance = 0.0
    for p, n in ((p1, n1), (p2, n2)):
        if n > 0 and 0.0 <= p <= 1.0:
            variance += p * (1.0 - p) / n
    return max(tolerance_pp / 100.0, z * math.sqrt(variance))


def sign_test(b: int, c: int) -> float:
    """Exact one-sided p of ``b`` losses against ``c`` gains: P(X >= b) for X ~ Bin(b + c, 1/2)."""
    m = b + c
    return sum(math.comb(m, i) for i in range(b, m + 1)) / 2**m if m else 1.0


def _flips(old: Record, new: Record, name: str) -> tuple[int, int] | None:
    """(b, c) when ``name`` is the share of correct samples of the same samples in both records."""
    same = (
        old.n_samples == new.n_samples > 0
        and old.settings.get("sample_ids_sha256") is not None
        and old.settings.get("sample_ids_sha256") == new.settings.get("sample_ids_sha256")
        and old.params.get("n_samples") == new.params.get("n_samples")
    )
    if not same:
        return None
    before, after = old.correct_vector(), new.correct_vector()
    if share_counts(old.metrics[name], before) is None:
        return None
    if share_counts(new.metrics[name], after) is None:
        return None
    return int((before & ~after).sum()), int((~before & after).sum())


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
        lower = metric.direction == "lower"
        worse = metric.worsened(before, value)
        flips = None if lower else _flips(old, record, name)
        if flips is not None:
            p = sign_test(*flips)
            allowed = tolerance_pp / 100.0
            if worse > allowed + 1e-12 and p < 0.5 * math.erfc(z / math.sqrt(2)):
                found.append(Regression(record.cell, name, before, value, allowed, lower, flips, p))
            continue
        allowed = allowed_drop(before, old.n_samples, value, record.n_samples, tolerance_pp, z)
        if worse > allowed + 1e-12:
            found.append(Regression(record.cell, name, float(before), float(value), allowed, lower))
    return found
