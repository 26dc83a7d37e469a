"""Text of the ``robustmq merge/report/compare/findings`` commands, as lines.

Every function returns the lines (without newlines) that the command line prints; none prints.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from robustmq.report.compare import ABSENT, Comparison, Delta
from robustmq.report.findings import INCONCLUSIVE, FindingsReport, Test
from robustmq.report.loading import RunData
from robustmq.report.merge import MergeResult
from robustmq.report.plots import PlotResult
from robustmq.results.summary import ModelSummary
from robustmq.results.table import build_table, render_text

__all__ = [
    "findings_json",
    "render_compare",
    "render_findings",
    "render_merge",
    "render_plots",
    "render_report",
    "run_label",
]


def run_label(run: RunData) -> str:
    """``<results file> (<n> records)``."""
    return f"{run.source} ({len(run.records)} records)"


def _wrote(paths: Sequence[Path]) -> list[str]:
    return [f"wrote {path}" for path in paths]


def render_merge(result: MergeResult, runs: Sequence[RunData], paths: Sequence[Path]) -> list[str]:
    """What was merged from where, and the files written (warnings are not included)."""
    duplicates = (
        f" ({result.duplicates} identical duplicates kept once)" if result.duplicates else ""
    )
    return [
        f"merged {len(runs)} folders: {len(result.records)} cells{duplicates}",
        *(f"  from {run_label(run)}" for run in runs),
        *_wrote(paths),
    ]


def render_report(
    run: RunData,
    paths: Sequence[Path] = (),
    summaries: dict[str, ModelSummary] | None = None,
    max_cell_columns: int | None = 6,
) -> list[str]:
    """The run's label, its results table (one block per architecture), then the files written.

    Families with more than ``max_cell_columns`` cell columns show their summaries only.
    """
    summaries = run.summaries() if summaries is None else summaries
    table = build_table(
        run.records, summaries, max_cell_columns=max_cell_columns, intervals="compact"
    )
    lines = [run_label(run)]
    previous = None
    for row, line in zip([None, None, *table.rows], render_text(table), strict=True):
        if row is not None and previous is not None and row[0] != previous:
            lines.append("")  # one block per architecture
        previous = row[0] if row is not None else None
        lines.append(line)
    return lines + _wrote(paths)


def render_plots(result: PlotResult) -> list[str]:
    """The plots written, then each plot left out and why."""
    return _wrote(result.paths) + [f"no plot {name}: {reason}" for name, reason in result.skipped]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _delta_line(delta: Delta, width: int) -> str:
    change = "" if delta.delta is None else f"{100 * delta.delta:+.2f} pp"
    flipped = delta.changed_samples
    samples = "" if flipped is None else f"  ({flipped} samples flipped)"
    return (
        f"{delta.key:<{width}}  {delta.name:<22} {_percent(delta.before):>7} -> "
        f"{_percent(delta.after):>7}  {change:>10}{samples}"
    )


def _section(title: str, items: Sequence[str], top: int) -> list[str]:
    if not items:
        return []
    shown = items if top <= 0 else items[:top]
    lines = [title, *(f"  {item}" for item in shown)]
    if len(shown) < len(items):
        lines.append(f"  ... and {len(items) - len(shown)} more (--top 0 shows all)")
    return lines


def render_compare(result: Comparison, before: RunData, after: RunData, top: int = 20) -> list[str]:
    """Run A (``before``) against run B (``after``): settings, cells, deltas, flags, models.

    Each list shows its first ``top`` items (all when ``top <= 0``).
    """
    lines = [f"A: {run_label(before)}", f"B: {run_label(after)}"]
    if result.settings:
        lines.append("settings changed:")
        for key, va, vb in result.settings:
            show = [v if v == ABSENT else repr(v) for v in (va, vb)]
            lines.append(f"  {key}: {show[0]} -> {show[1]}")
    equal = result.cells_common - len({d.key for d in result.metric_deltas})
    lines.append(
        f"cells: {len(result.cells_added)} added, {len(result.cells_removed)} removed, "
        f"{result.cells_common} in both, {equal} with equal metrics"
    )
    lines += _section("added (in B only):", result.cells_added, top)
    lines += _section("removed (in A only):", result.cells_removed, top)
    for title, deltas in (
        ("metric deltas per cell (B - A, largest first):", result.metric_deltas),
        ("summary deltas per model (B - A, largest first):", result.summary_deltas),
    ):
        if deltas:
            width = max(len(d.key) for d in deltas)
            lines += _section(title, [_delta_line(d, width) for d in deltas], top)
    flags = [
        f"{cell}: " + ", ".join([f"+{f}" for f in added] + [f"-{f}" for f in removed])
        for cell, added, removed in result.flag_changes
    ]
    lines += _section("flags changed:", flags, top)
    lines += _section("models added:", result.models_added, top)
    lines += _section("models removed:", result.models_removed, top)
    if not (result.settings or result.cells_added or result.cells_removed) and not (
        result.metric_deltas or result.summary_deltas or result.flag_changes
    ):
        lines.append("no differences")
    return lines


def _pp(value: float) -> str:
    return f"{100 * value:+.1f}"


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else "<0.001"


def _test_line(test: Test) -> str:
    """``+3.1 pp [-2.0, +8.3], p 0.210 (Holm 1.000), detectable 9.5 pp, ...`` of one test."""
    e = test.effect
    line = (
        f"{_pp(e.value)} pp [{_pp(e.low)}, {_pp(e.high)}], p {_p(e.p_value)} "
        f"(Holm {_p(test.p_adjusted)}), detectable {100 * e.detectable:.1f} pp"
    )
    if test.per_class_for_target is not None:
        line += f"; 2 pp needs ~{test.per_class_for_target:,.0f} images/class"
    return f"{line} ({e.test}, {e.units} unit{'s' * (e.units != 1)}, {e.n} images)"


def render_findings(
    report: FindingsReport, run: RunData, *, brief: bool = False, units: bool = False
) -> list[str]:
    """Each finding's verdict and its parts' tests; per-architecture tests unless ``brief``,
    and every unit's observed values and effect with ``units``."""
    rules = report.rules
    tests = sum(p.test is not None for f in report.findings for p in f.parts)
    lines = [
        f"{run_label(run)}: the paper's findings, tested on this run",
        f"  paired tests on the same images; effect = the claim's direction in points (pp), "
        f"{100 * (1 - rules.alpha):g} % interval; verdict at alpha {rules.alpha:g} after Holm "
        f"over {tests} part tests (per-architecture tests: Holm among themselves); detectable = "
        f"the effect found with {100 * rules.power:g} % power at alpha / {tests}; "
        "rules: robustmq.report.findings",
        "  images: " + ", ".join(f"{f} {n}" for f, n in report.images.items()),
    ]
    if report.excluded:
        lines.append(
            f"  left out, not converged ({len(report.excluded)}): {', '.join(report.excluded)}"
        )
    for family, models in report.unpaired.items():
        lines.append(f"  left out of {family}, other sample set: {', '.join(models)}")
    shown = [p for f in report.findings for p in f.parts]
    undecided = sum(p.verdict == INCONCLUSIVE for p in shown)
    lines.append(f"  inconclusive: {undecided} of {tests} part tests")
    for finding in report.findings:
        lines += ["", f"Finding {finding.number}: {finding.claim}"]
        lines.append(f"  verdict: {finding.verdict.upper()}")
        for part in finding.parts:
            lines.append(f"  - {part.name}: {part.verdict} ({part.claim}); {part.summary}")
            if part.test is not None:
                lines.append(f"      all: {_test_line(part.test)}")
            if not brief:
                lines += [
                    f"      {t.scope}: {t.verdict}, {_test_line(t)}" for t in part.architectures
                ]
            if units:
                lines += [
                    f"        {u.label}: {u.detail} (effect {_pp(u.effect)} pp)" for u in part.units
                ]
    return lines


def findings_json(report: FindingsReport) -> str:
    """The whole report as indented JSON."""
    return json.dumps(dataclasses.asdict(report), indent=1)
