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
undeclared metrics are never gated, and an improvement never fails.

Like is compared with like: a baseline of another profile or other settings that change what is
measured (:func:`compared_settings`) is refused before any cell runs
(:meth:`Baseline.check_settings`), and a cell evaluated on other samples (``sample_ids_sha256``)
or whose value is not a finite number fails (:class:`Incomparable`). What cannot be gated, cells
the baseline lacks and baseline values that are absent or not finite, is listed by
:meth:`Baseline.gaps` (the plugin prints it), never skipped silently.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustmq.benchmark.options import HARNESS_OPTIONS, family_options, neutral_settings
from robustmq.exceptions import BaselineMismatchError, InvalidOptionError, RecordError
from robustmq.results.family import metric_of
from robustmq.results.intervals import share_counts
from robustmq.results.record import Record

__all__ = [
    "MISSING_CELLS",
    "UNCOMPARED",
    "Baseline",
    "Incomparable",
    "Regression",
    "allowed_drop",
    "compared_settings",
    "regressions",
    "sign_test",
]

#: Settings a baseline may differ in: where files live (samples are compared by their sha256 per
#: cell; a changed checkpoint is what the gate is for), and device and batch size (rounding only).
UNCOMPARED = frozenset({"data_root", "checkpoints", "zoo_root", "device", "batch_size"})
#: The reason :meth:`Baseline.gaps` gives for cells the baseline lacks.
MISSING_CELLS = "cells not in the baseline"


def compared_settings() -> dict[str, Any]:
    """The settings a baseline must share with the run, with their defaults (a baseline written
    before an option existed ran at its default)."""
    skipped = neutral_settings() | UNCOMPARED
    return {
        o.name: o.default for o in (*HARNESS_OPTIONS, *family_options()) if o.name not in skipped
    }


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


@dataclass(frozen=True)
class Incomparable:
    """A cell the gate cannot compare with its baseline (other samples, a non-finite value): it
    fails with the reason."""

    cell: str
    reason: str

    def message(self) -> str:
        """``<cell>: <reason>``."""
        return f"{self.cell}: {self.reason}"


def _differences(
    baseline: Mapping[str, Any], run: Mapping[str, Any], defaults: Mapping[str, Any] | None
) -> list[str]:
    """``name=<baseline value> (this run: <value>)`` for each compared setting that differs; a
    setting the baseline lacks is its default (``defaults`` None: not compared)."""
    found = []
    for name, default in compared_settings().items():
        if name not in baseline and defaults is None:
            continue
        before = baseline.get(name, default)
        if before != run.get(name, default):
            found.append(f"{name}={before!r} (this run: {run.get(name, default)!r})")
    return found


class Baseline:
    """The records of an earlier run (its ``results.json``), by cell id, and its settings."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.flag = f"--rmq-baseline={self.path}"
        if not self.path.is_file():
            raise InvalidOptionError(
                f"{self.flag}: no such file; expected a results.json written by an earlier run "
                "(or by --rmq-save-baseline)"
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidOptionError(f"{self.flag}: cannot be read as JSON ({exc})") from exc
        results = data.get("results") if isinstance(data, dict) else None
        run = data.get("run", {}) if isinstance(data, dict) else None
        if not isinstance(results, list) or not isinstance(run, dict):
            raise InvalidOptionError(
                f"{self.flag}: expected a results.json of this tool, an object with 'run' (an "
                f"object) and 'results' (a list of records); got {_shape(data)}"
            )
        records = []
        for i, entry in enumerate(results):
            try:
                records.append(Record.from_json(entry))
            except RecordError as exc:
                raise InvalidOptionError(f"{self.flag}: results[{i}]: {exc}") from exc
        if not records:
            raise InvalidOptionError(f"{self.flag}: holds no records; nothing to compare with")
        self.records = {r.cell: r for r in records}
        settings = run.get("settings")
        #: the run's settings (those of its first record where results.json has none).
        self.settings: dict[str, Any] = (
            dict(settings) if isinstance(settings, dict) and settings else records[0].settings
        )

    def __len__(self) -> int:
        return len(self.records)

    def check_settings(self, settings: Mapping[str, Any]) -> None:
        """BaselineMismatchError naming every compared setting (profile, sample count, seed,
        the families' options...) in which the baseline differs from this run's ``settings``."""
        if not self.settings:
            raise BaselineMismatchError(
                f"{self.flag}: names no settings, so it cannot be told to measure what this run "
                "measures; expected a results.json written by --rmq-save-baseline"
            )
        found = _differences(self.settings, settings, compared_settings())
        if found:
            raise BaselineMismatchError(
                f"{self.flag}: the baseline measured something else: {', '.join(found)}; the gate "
                "compares like with like: regenerate the baseline with this run's settings "
                "(--rmq-save-baseline) or run with the baseline's"
            )

    def gaps(self, records: Iterable[Record]) -> dict[str, list[str]]:
        """What of ``records`` the gate could not check, by reason: cells the baseline lacks,
        gated metrics its cell lacks, and its values that are not finite numbers."""
        found: dict[str, list[str]] = {}
        for record in records:
            old = self.records.get(record.cell)
            if old is None:
                found.setdefault(MISSING_CELLS, []).append(record.cell)
                continue
            for name in record.metrics:
                metric = metric_of(record.family, name)
                if metric is None or not metric.gated:
                    continue
                before = old.metrics.get(name)
                if before is None:
                    reason, item = "metrics the baseline's cell lacks", f"{record.cell} {name}"
                elif not math.isfinite(before):
                    reason = "baseline values that are not finite numbers"
                    item = f"{record.cell} {name}={before!r}"
                else:
                    continue
                found.setdefault(reason, []).append(item)
        return found


def _shape(data: object) -> str:
    if isinstance(data, dict):
        kinds = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(data.items())[:4])
        return f"an object with {{{kinds}}}"
    return f"a JSON {type(data).__name__}"


def _incomparable(old: Record, new: Record) -> Incomparable | None:
    """Why ``old`` and ``new`` measured different things (None: they did not)."""
    before, after = old.settings.get("sample_ids_sha256"), new.settings.get("sample_ids_sha256")
    if before is not None and after is not None and before != after:
        return Incomparable(
            new.cell,
            f"the baseline evaluated other samples (sample_ids_sha256 {before}, this run "
            f"{after}); the gate compares like with like: regenerate the baseline with "
            "--rmq-save-baseline on this run's data",
        )
    found = _differences(old.settings, new.settings, None)
    if found:
        return Incomparable(
            new.cell, f"the baseline's cell was measured otherwise: {', '.join(found)}"
        )
    return None


def regressions(
    record: Record, baseline: Baseline, tolerance_pp: float, z: float
) -> list[Regression | Incomparable]:
    """The metrics of ``record`` that regressed against the same cell of ``baseline``, or why the
    cell cannot be compared with it (a cell or value the baseline lacks: see
    :meth:`Baseline.gaps`)."""
    old = baseline.records.get(record.cell)
    if old is None:
        return []
    mismatch = _incomparable(old, record)
    if mismatch is not None:
        return [mismatch]
    found: list[Regression | Incomparable] = []
    for name, value in record.metrics.items():
        metric = metric_of(record.family, name)
        before = old.metrics.get(name)
        if metric is None or not metric.gated or before is None or not math.isfinite(before):
            continue
        if not math.isfinite(value):
            found.append(
                Incomparable(
                    record.cell,
                    f"{name} is {value!r}, not a finite number (baseline {100 * before:.2f} %)",
                )
            )
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
