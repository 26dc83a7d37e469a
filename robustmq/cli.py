"""The ``robustmq`` command line: ``list``, ``layers``, ``train``, ``zoo build``, and ``merge``,
``report``, ``compare`` and ``findings`` on finished runs.

This is the presentation layer: it prints; the library modules it calls never do.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from robustmq._version import __version__
from robustmq.cells import FLOAT, GRID_ARCHS, ModelSpec, model_grid
from robustmq.checkpoints import read_checkpoint_metadata, save_checkpoint
from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError, RobustMQError
from robustmq.models import create_model, list_models
from robustmq.predict import default_device
from robustmq.quant import POLICIES, describe_quantization, list_quantizers, quantize_model
from robustmq.zoo import build_model, ensure_checkpoint, train_settings


def _cmd_list(args: argparse.Namespace) -> int:
    print("architectures:", ", ".join(list_models()))
    print("quantizers:   ", ", ".join(list_quantizers()))
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    model = quantize_model(create_model(args.arch), args.quantizer, args.bits, args.policy)
    print(f"# {args.arch} {args.quantizer} {args.bits}-bit, policy {args.policy}")
    print("| layer | type | weight bits | input bits | input |")
    print("|---|---|---:|---:|---|")
    for layer in describe_quantization(model):
        sign = "signed" if layer.input_signed else "unsigned"
        print(
            f"| {layer.name} | {layer.kind} | {layer.weight_bits} | {layer.input_bits} | {sign} |"
        )
    return 0


class _Bar:
    """A tqdm progress bar fed by the trainer's progress callback (stderr)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, info: dict[str, Any]) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=info["steps"], desc=self.label, unit="step", leave=False)
        self.bar.update(1)
        self.bar.set_postfix(epoch=info["epoch"], loss=f"{info['loss']:.3f}", refresh=False)
        if info["step"] >= info["steps"]:
            self.bar.close()
            self.bar = None


def _device(name: str) -> torch.device:
    if name == "auto":
        return default_device()
    return torch.device(name)


def _spec(args: argparse.Namespace) -> ModelSpec:
    if args.quantizer in (None, FLOAT):
        return ModelSpec(args.arch)
    return ModelSpec(args.arch, args.quantizer, args.bits)


def _cmd_train(args: argparse.Namespace) -> int:
    spec = _spec(args)
    profile = get_profile(args.profile)
    base = train_settings(spec, profile, args.seed)
    overrides = {
        k: v
        for k, v in {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size}.items()
        if v is not None
    }
    settings = dataclasses.replace(base, **overrides)
    if not spec.is_float and args.init is None:
        raise InvalidOptionError(
            f"--init is required for {spec.id}: QAT starts from a float checkpoint "
            f"(train one first: robustmq train --profile {profile.name} --arch {spec.arch} ...)"
        )
    print(f"training {spec.id} on {profile.name}: {settings}", file=sys.stderr)
    model, meta = build_model(
        spec,
        profile,
        seed=args.seed,
        data_root=args.data_root,
        device=_device(args.device),
        float_checkpoint=Path(args.init) if args.init else None,
        settings=settings,
        workers=args.workers,
        progress=_Bar(spec.id),
    )
    save_checkpoint(model, args.out, **meta)
    status = "" if meta["converged"] else " (NOT CONVERGED)"
    print(f"{spec.id}: validation accuracy {100 * meta['val_accuracy']:.2f}%{status} -> {args.out}")
    return 0


#: relative CPU cost of building one architecture's 13 synthetic models (measured, one thread).
_BUILD_COST = {"resnet50": 2.9, "mobilenet_v2": 2.2, "regnetx_600m": 1.6, "resnet18": 1.0}


def _zoo_build_jobs(args: argparse.Namespace, archs: list[str]) -> int:
    """Build the zoo in ``args.jobs`` processes, one torch thread each, architectures split."""
    import os
    import subprocess

    jobs = min(args.jobs, len(archs))
    groups: list[list[str]] = [[] for _ in range(jobs)]
    loads = [0.0] * jobs
    for arch in sorted(archs, key=lambda a: -_BUILD_COST.get(a, 1.0)):  # longest first
        least = loads.index(min(loads))
        groups[least].append(arch)
        loads[least] += _BUILD_COST.get(arch, 1.0)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs))}
    command = [sys.executable, "-m", "robustmq.cli", "zoo", "build", "--profile", args.profile]
    for option in ("quantizer", "bits"):
        values = getattr(args, option)
        if values:
            command += [f"--{option}", *map(str, values)]
    for option in ("root", "data_root"):
        if getattr(args, option) is not None:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    command += ["--seed", str(args.seed), "--device", args.device, "--no-progress"]
    print(f"building in {jobs} processes: " + "; ".join(" ".join(g) for g in groups), flush=True)
    children = [subprocess.Popen([*command, "--arch", *group], env=env) for group in groups]
    return max(child.wait() for child in children)


def _cmd_zoo_build(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise InvalidOptionError(f"--jobs={args.jobs} is invalid; expected an integer >= 1")
    if args.jobs > 1:
        return _zoo_build_jobs(args, list(args.arch or GRID_ARCHS))
    specs = model_grid(args.arch, args.quantizer, args.bits, include_float=True)
    if args.quantizer and FLOAT not in args.quantizer:
        specs = [s for s in specs if not s.is_float]
    profile = get_profile(args.profile)
    if not profile.builds_checkpoints:
        raise InvalidOptionError(
            f"--profile {profile.name}: its checkpoints are trained on a GPU with "
            "'robustmq train' (see README), not built by the zoo"
        )
    built: list[ModelSpec] = []
    for i, spec in enumerate(specs, 1):
        start = time.perf_counter()
        path = ensure_checkpoint(
            spec,
            profile.name,
            root=args.root,
            data_root=args.data_root,
            seed=args.seed,
            device=_device(args.device),
            progress=_Bar(spec.id) if args.progress else None,
            on_build=lambda s, _meta: built.append(s),
        )
        meta = read_checkpoint_metadata(path)["meta"]
        state = "built" if spec in built else "ok"
        nc = "" if meta.get("converged", True) else "  NC"
        print(
            f"[{i}/{len(specs)}] {spec.id:28s} {state:5s} val {100 * meta['val_accuracy']:5.1f}%"
            f"{nc}  {time.perf_counter() - start:6.1f}s  {path}",
            flush=True,
        )
    return 0


def _run_label(run: Any) -> str:
    return f"{run.source} ({len(run.records)} records)"


def _cmd_merge(args: argparse.Namespace) -> int:
    from robustmq.report import load_run, merge_runs, write_merged

    runs = [load_run(folder) for folder in args.folders]
    result = merge_runs(runs, ignore=args.ignore_setting or ())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    paths = write_merged(args.output, result)
    print(
        f"merged {len(runs)} folders: {len(result.records)} cells"
        + (f" ({result.duplicates} identical duplicates kept once)" if result.duplicates else "")
    )
    for run in runs:
        print(f"  from {_run_label(run)}")
    for path in paths:
        print(f"wrote {path}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from robustmq.report import load_run, write_plots, write_tables
    from robustmq.results.table import build_table, render_text

    run = load_run(args.folder)
    folder = run.path
    summaries = run.summaries()
    paths = write_tables(folder, run.records, summaries)
    print(f"{_run_label(run)}")
    table = build_table(run.records, summaries, max_cell_columns=args.max_columns)
    previous = None
    for row, line in zip([None, None, *table.rows], render_text(table), strict=True):
        if row is not None and previous is not None and row[0] != previous:
            print()  # one block per architecture
        previous = row[0] if row is not None else None
        print(line)
    for path in paths:
        print(f"wrote {path}")
    if args.no_plots:
        return 0
    plots = write_plots(folder / "plots", run.records, summaries)
    for path in plots.paths:
        print(f"wrote {path}")
    for name, reason in plots.skipped:
        print(f"no plot {name}: {reason}")
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _delta_line(delta: Any, width: int) -> str:
    change = "" if delta.delta is None else f"{100 * delta.delta:+.2f} pp"
    flipped = delta.changed_samples
    samples = "" if flipped is None else f"  ({flipped} samples flipped)"
    return (
        f"  {delta.key:<{width}}  {delta.name:<22} {_percent(delta.before):>7} -> "
        f"{_percent(delta.after):>7}  {change:>10}{samples}"
    )


def _print_list(title: str, items: Sequence[str], top: int) -> None:
    if not items:
        return
    print(title)
    shown = items if top <= 0 else items[:top]
    for item in shown:
        print(f"  {item}")
    if len(shown) < len(items):
        print(f"  ... and {len(items) - len(shown)} more (--top 0 shows all)")


def _cmd_compare(args: argparse.Namespace) -> int:
    from robustmq.report import compare_runs, load_run
    from robustmq.report.compare import ABSENT

    a, b = load_run(args.before), load_run(args.after)
    result = compare_runs(a, b)
    print(f"A: {_run_label(a)}")
    print(f"B: {_run_label(b)}")
    if result.settings:
        print("settings changed:")
        for key, va, vb in result.settings:
            show = [v if v == ABSENT else repr(v) for v in (va, vb)]
            print(f"  {key}: {show[0]} -> {show[1]}")
    print(
        f"cells: {len(result.cells_added)} added, {len(result.cells_removed)} removed, "
        f"{result.cells_common} in both, "
        f"{result.cells_common - len({d.key for d in result.metric_deltas})} with equal metrics"
    )
    _print_list("added (in B only):", result.cells_added, args.top)
    _print_list("removed (in A only):", result.cells_removed, args.top)
    for title, deltas in (
        ("metric deltas per cell (B - A, largest first):", result.metric_deltas),
        ("summary deltas per model (B - A, largest first):", result.summary_deltas),
    ):
        if not deltas:
            continue
        width = max(len(d.key) for d in deltas)
        _print_list(title, [_delta_line(d, width)[2:] for d in deltas], args.top)
    flags = [
        f"{cell}: " + ", ".join([f"+{f}" for f in added] + [f"-{f}" for f in removed])
        for cell, added, removed in result.flag_changes
    ]
    _print_list("flags changed:", flags, args.top)
    _print_list("models added:", result.models_added, args.top)
    _print_list("models removed:", result.models_removed, args.top)
    if not (result.settings or result.cells_added or result.cells_removed) and not (
        result.metric_deltas or result.summary_deltas or result.flag_changes
    ):
        print("no differences")
    return 0


def _cmd_findings(args: argparse.Namespace) -> int:
    from robustmq.report import FindingRules, assess_findings, load_run

    run = load_run(args.folder)
    rules = FindingRules(
        tolerance=args.tolerance / 100,
        min_checks=args.min_checks,
        top_k=args.top_k,
        include_not_converged=args.include_not_converged,
    )
    report = assess_findings(run.records, run.summaries(), rules)
    if args.json:
        print(json.dumps(dataclasses.asdict(report), indent=1))
        return 0
    print(
        f"{_run_label(run)}: what this run measured about the paper's findings "
        f"(tolerance {args.tolerance} pp, at least {rules.min_checks} checks, "
        f"top-k {rules.top_k}; rules: robustmq.report.findings)"
    )
    if report.excluded:
        print(f"left out, not converged ({len(report.excluded)}): {', '.join(report.excluded)}")
    for finding in report.findings:
        print(f"\nFinding {finding.number}: {finding.claim}")
        print(f"  verdict: {finding.verdict.upper()}")
        for part in finding.parts:
            print(f"  - {part.name}: {part.verdict} ({part.claim}): {part.summary}")
            if args.brief:
                continue
            ranked = finding.number == 3  # checks hold ranks, named in their detail
            for check in part.checks:
                value = "" if ranked else f" (d {100 * check.value:+.1f} pp)"
                print(f"      {check.outcome:<9} {check.unit}: {check.detail}{value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``robustmq`` command."""
    parser = argparse.ArgumentParser(prog="robustmq", description="RobustMQ benchmark tools")
    parser.add_argument("--version", action="version", version=f"robustmq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list architectures and quantizers").set_defaults(func=_cmd_list)
    layers = sub.add_parser("layers", help="show how each layer of a model is quantized")
    layers.add_argument("arch", help="architecture, e.g. resnet18")
    layers.add_argument("quantizer", help="quantizer: dorefa, lsq or pact")
    layers.add_argument("bits", type=int, help="bit-width: 2..8, or 32 for float")
    layers.add_argument(
        "--policy", default="academic", choices=POLICIES, help="(default: academic)"
    )
    layers.set_defaults(func=_cmd_layers)

    train = sub.add_parser("train", help="train a float model, or fine-tune a quantized one (QAT)")
    train.add_argument("--profile", default="synthetic", help="(default: synthetic)")
    train.add_argument("--arch", required=True, help="architecture, e.g. resnet18")
    train.add_argument("--quantizer", default=None, help="dorefa, lsq or pact (default: float)")
    train.add_argument("--bits", type=int, default=None, help="bit-width 2..8 for --quantizer")
    train.add_argument("--init", default=None, help="float checkpoint to start QAT from")
    train.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    train.add_argument("--data-root", default=None, help="data folder (default: the profile's)")
    train.add_argument("--epochs", type=int, default=None, help="(default: the profile's recipe)")
    train.add_argument("--lr", type=float, default=None, help="(default: the profile's recipe)")
    train.add_argument("--batch-size", type=int, default=None, help="(default: the recipe's)")
    train.add_argument("--workers", type=int, default=8, help="loader processes (default: 8)")
    train.add_argument("--seed", type=int, default=0, help="(default: 0)")
    train.add_argument("--device", default="auto", help="(default: cuda when present, else cpu)")
    train.set_defaults(func=_cmd_train)

    zoo = sub.add_parser("zoo", help="the profile's checkpoint zoo")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True)
    build = zoo_sub.add_parser("build", help="build missing checkpoints (idempotent)")
    build.add_argument("--profile", default="synthetic", help="(default: synthetic)")
    build.add_argument("--arch", nargs="+", default=None, help="(default: all four)")
    build.add_argument("--quantizer", nargs="+", default=None, help="(default: fp32 and all)")
    build.add_argument("--bits", nargs="+", type=int, default=None, help="(default: 2 4 6 8)")
    build.add_argument("--root", default=None, help="zoo folder (default: the cache's)")
    build.add_argument("--data-root", default=None, help="data folder (default: the profile's)")
    build.add_argument("--seed", type=int, default=0, help="(default: 0)")
    build.add_argument("--device", default="auto", help="(default: cuda when present, else cpu)")
    build.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="build the architectures in this many processes with the CPU threads split between "
        "them (default: 1; 2 on a 2-core CPU is much faster for the small synthetic models)",
    )
    build.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )
    build.set_defaults(func=_cmd_zoo_build)

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
    report.add_argument(
        "--max-columns",
        type=int,
        default=6,
        help="printed table: drop the cell columns of a family with more (default: 6)",
    )
    report.set_defaults(func=_cmd_report)

    compare = sub.add_parser("compare", help="what changed between two runs (B - A)")
    compare.add_argument("before", metavar="A", help="output folder (or results.json) of run A")
    compare.add_argument("after", metavar="B", help="output folder (or results.json) of run B")
    compare.add_argument(
        "--top", type=int, default=20, help="lines per section, 0 for all (default: 20)"
    )
    compare.set_defaults(func=_cmd_compare)

    from robustmq.report import findings as findings_module

    findings = sub.add_parser(
        "findings",
        help="measure the paper's four findings on a run",
        description=findings_module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    findings.add_argument("folder", metavar="DIR", help="output folder of a run")
    findings.add_argument(
        "--tolerance",
        type=float,
        default=0.5,
        help="percentage points a difference must exceed to count (default: 0.5)",
    )
    findings.add_argument(
        "--min-checks", type=int, default=3, help="comparisons a verdict needs (default: 3)"
    )
    findings.add_argument(
        "--top-k", type=int, default=3, help="rank window of findings 3 (default: 3)"
    )
    findings.add_argument(
        "--include-not-converged",
        action="store_true",
        help="count models that did not converge (default: left out)",
    )
    findings.add_argument("--brief", action="store_true", help="verdicts without the checks")
    findings.add_argument("--json", action="store_true", help="machine-readable output")
    findings.set_defaults(func=_cmd_findings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 with a message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RobustMQError as exc:
        print(f"robustmq: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
