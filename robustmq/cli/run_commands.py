"""The commands on finished runs: ``merge``, ``report``, ``compare`` and ``findings``.

They load runs and call :mod:`robustmq.report`; the lines they print come from
:mod:`robustmq.report.render`.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_commands"]


def _cmd_merge(args: argparse.Namespace) -> int:
    from robustmq.benchmark.validation import check_folder
    from robustmq.report import load_run, merge_runs, write_merged
    from robustmq.report.render import render_merge

    check_folder("--output", args.output)  # before reading the folders
    runs = [load_run(folder) for folder in args.folders]
    result = merge_runs(runs, ignore=args.ignore_setting or ())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    paths = write_merged(args.output, result)
    for line in render_merge(result, runs, paths):
        print(line)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from robustmq.report import load_run, reference, write_plots, write_tables
    from robustmq.report.render import render_plots, render_report

    run = load_run(args.folder)
    summaries = run.summaries()
    comparison = reference.compare_run(run)  # None unless a cifar10 run with float natural cells
    sections = [] if comparison is None else [reference.render_markdown(comparison)]
    paths = write_tables(run.path, run.records, summaries, sections)
    for line in render_report(run, paths, summaries, max_cell_columns=args.max_columns):
        print(line)
    if comparison is not None:
        for line in reference.render_lines(comparison):
            print(line)
    if args.no_plots:
        return 0
    for line in render_plots(write_plots(run.path / "plots", run.records, summaries)):
        print(line)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from robustmq.report import compare_runs, load_run
    from robustmq.report.render import render_compare

    a, b = load_run(args.before), load_run(args.after)
    for line in render_compare(compare_runs(a, b), a, b, top=args.top):
        print(line)
    return 0


def _cmd_findings(args: argparse.Namespace) -> int:
    from robustmq.report import FindingRules, assess_findings, load_run
    from robustmq.report.render import findings_json, render_findings

    run = load_run(args.folder)
    rules = FindingRules(
        alpha=args.alpha,
        min_checks=args.min_checks,
        top_k=args.top_k,
        include_not_converged=args.include_not_converged,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    report = assess_findings(run.records, rules=rules)
    if args.json:
        print(findings_json(report))
        return 0
    for line in render_findings(report, run, brief=args.brief, units=args.units):
        print(line)
    return 0


def _number(
    parser: argparse.ArgumentParser, flag: str, kind: type, default: float, text: str
) -> None:
    """Add a numeric option whose help ends in ``(default: <default>)``."""
    parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: {default})")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``merge``, ``report``, ``compare`` and ``findings`` to the ``robustmq`` subcommands."""
    merge = sub.add_parser("merge", help="merge output folders of one run (shards) into one")
    merge.add_argument("folders", nargs="+", metavar="DIR", help="output folders to merge")
    merge.add_argument("--output", required=True, metavar="DIR", help="folder to write into")
    merge.add_argument(
        "--ignore-setting",
        action="append",
        metavar="KEY",
        help="merge even if this setting differs (repeatable; default: none)",
    )
    merge.set_defaults(func=_cmd_merge)

    report = sub.add_parser("report", help="regenerate table.md, results.csv and DIR/plots/")
    report.add_argument("folder", metavar="DIR", help="output folder of a run")
    report.add_argument("--no-plots", action="store_true", help="tables only (default: plots too)")
    _number(
        report,
        "--max-columns",
        int,
        6,
        "printed table: drop the cell columns of a family with more",
    )
    report.set_defaults(func=_cmd_report)

    compare = sub.add_parser("compare", help="what changed between two runs (B - A)")
    compare.add_argument("before", metavar="A", help="output folder (or results.json) of run A")
    compare.add_argument("after", metavar="B", help="output folder (or results.json) of run B")
    _number(compare, "--top", int, 20, "lines per section, 0 for all")
    compare.set_defaults(func=_cmd_compare)

    from robustmq.report import findings as findings_module

    findings = sub.add_parser(
        "findings",
        help="measure the paper's four findings on a run",
        description=findings_module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    findings.add_argument("folder", metavar="DIR", help="output folder of a run")
    _number(findings, "--alpha", float, 0.05, "significance level after Holm's correction")
    _number(findings, "--n-boot", int, 2000, "bootstrap resamples of the images")
    _number(findings, "--seed", int, 0, "seed of the bootstrap")
    _number(findings, "--min-checks", int, 3, "units (comparisons) a part's test needs")
    _number(findings, "--top-k", int, 3, "rank window of findings 3")
    findings.add_argument(
        "--include-not-converged",
        action="store_true",
        help="count models that did not converge (default: left out)",
    )
    findings.add_argument(
        "--brief", action="store_true", help="verdicts without the per-architecture tests"
    )
    findings.add_argument(
        "--units", action="store_true", help="also every unit's values and effect"
    )
    findings.add_argument("--json", action="store_true", help="machine-readable output")
    findings.set_defaults(func=_cmd_findings)
