"""robustmq.report.render: the lines the run commands print (fabricated runs, nothing on disk)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from robustmq.report import FindingRules, MergeResult, RunData, assess_findings, compare_runs
from robustmq.report.plots import PlotResult
from robustmq.report.render import (
    findings_json,
    render_compare,
    render_findings,
    render_merge,
    render_plots,
    render_report,
    run_label,
)
from robustmq.results.record import Record


def _run(name: str, records: Sequence[Record], **settings: Any) -> RunData:
    folder = Path("/runs") / name
    return RunData(folder, folder / "results.json", {"settings": settings}, list(records))


@pytest.fixture
def runs(make_record: Callable[..., Record]) -> tuple[RunData, RunData]:
    """A: resnet18 fp32 + lsq 2..8 bit clean; B: lsq 2-bit flagged, 4-bit lower, 8-bit gone."""
    before = [make_record("resnet18", "fp32", None, accuracy=0.8)]
    before += [make_record("resnet18", "lsq", b, accuracy=0.5) for b in (2, 4, 8)]
    after = [
        make_record("resnet18", "fp32", None, accuracy=0.8),
        make_record("resnet18", "lsq", 2, accuracy=0.5, flags=["slow"]),
        make_record("resnet18", "lsq", 4, accuracy=0.2),
        make_record("resnet50", "fp32", None, accuracy=0.7),
        make_record("resnet50", "lsq", 2, accuracy=0.7),
    ]
    return _run("a", before, seed=0), _run("b", after, seed=3)


def test_run_label(runs: tuple[RunData, RunData]) -> None:
    assert run_label(runs[0]) == f"{Path('/runs/a/results.json')} (4 records)"


class TestCompare:
    def test_sections(self, runs: tuple[RunData, RunData]) -> None:
        a, b = runs
        lines = render_compare(compare_runs(a, b), a, b, top=1)
        assert lines[:5] == [
            f"A: {run_label(a)}",
            f"B: {run_label(b)}",
            "settings changed:",
            "  seed: 0 -> 3",
            "cells: 2 added, 1 removed, 3 in both, 2 with equal metrics",
        ]
        assert lines[5:8] == [
            "added (in B only):",
            "  resnet50-fp32-clean",
            "  ... and 1 more (--top 0 shows all)",
        ]
        delta = lines[lines.index("metric deltas per cell (B - A, largest first):") + 1]
        assert delta.split() == [
            *["resnet18-lsq-4bit-clean", "accuracy", "50.00", "->", "20.00", "-30.00", "pp"],
            *["(3", "samples", "flipped)"],
        ]
        assert lines[lines.index("flags changed:") + 1] == "  resnet18-lsq-2bit-clean: +slow"
        assert "no differences" not in lines

    def test_top_zero_shows_all(self, runs: tuple[RunData, RunData]) -> None:
        a, b = runs
        lines = render_compare(compare_runs(a, b), a, b, top=0)
        assert not any("more (--top 0 shows all)" in line for line in lines)
        assert "  resnet50-lsq-2bit-clean" in lines

    def test_no_differences(self, runs: tuple[RunData, RunData]) -> None:
        a = runs[0]
        assert render_compare(compare_runs(a, a), a, a)[2:] == [
            "cells: 0 added, 0 removed, 4 in both, 4 with equal metrics",
            "no differences",
        ]


class TestFindings:
    def test_header_verdicts_and_tests(self, runs: tuple[RunData, RunData]) -> None:
        run = runs[0]
        report = assess_findings(run.records, rules=FindingRules(min_checks=1, n_boot=200))
        lines = render_findings(report, run)
        assert lines[0] == f"{run_label(run)}: the paper's findings, tested on this run"
        assert "verdict at alpha 0.05 after Holm over" in lines[1]
        assert lines[2].startswith("  images: ")
        first = lines.index(f"Finding 1: {report.findings[0].claim}")
        assert lines[first + 1] == f"  verdict: {report.findings[0].verdict.upper()}"
        assert sum(line.startswith("Finding ") for line in lines) == 4
        brief = render_findings(report, run, brief=True)
        assert len(brief) <= len(lines)
        assert not any(line.startswith("        ") for line in brief)

    def test_left_out_models_and_json(
        self, make_record: Callable[..., Record], runs: tuple[RunData, RunData]
    ) -> None:
        records = [make_record("resnet18", "lsq", 2, flags=["not_converged"]), *runs[0].records]
        run = _run("nc", records)
        report = assess_findings(run.records, rules=FindingRules(n_boot=200))
        left_out = "  left out, not converged (1): resnet18-lsq-2bit"
        assert left_out in render_findings(report, run)
        assert json.loads(findings_json(report))["excluded"] == ["resnet18-lsq-2bit"]


def test_merge_lines(runs: tuple[RunData, RunData]) -> None:
    a, b = runs
    result = MergeResult(run={}, records=a.records + b.records, duplicates=2)
    paths = [Path("out/results.json")]
    assert render_merge(result, [a, b], paths) == [
        "merged 2 folders: 9 cells (2 identical duplicates kept once)",
        f"  from {run_label(a)}",
        f"  from {run_label(b)}",
        f"wrote {paths[0]}",
    ]
    assert render_merge(MergeResult(run={}, records=[]), [a], [])[0] == "merged 1 folders: 0 cells"


def test_report_lines_one_block_per_architecture(runs: tuple[RunData, RunData]) -> None:
    run = runs[1]
    lines = render_report(run, [Path("t.md")])
    assert lines[0] == run_label(run)
    assert lines[1].split()[:4] == ["arch", "quantizer", "bits", "clean"]
    assert [(line.split() or [""])[0] for line in lines[3:]] == [
        *["resnet18"] * 3,
        "",
        *["resnet50"] * 2,
        "wrote",
    ]


def test_plot_lines() -> None:
    result = PlotResult([Path("p/a.png")], [("b", "no cell")])
    assert render_plots(result) == [f"wrote {Path('p/a.png')}", "no plot b: no cell"]
