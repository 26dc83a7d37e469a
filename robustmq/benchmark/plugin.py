"""The RobustMQ pytest plugin (entry point ``pytest11``).

Hooks stay thin and read the family registry: options (``--rmq-*``: the harness's and the
families') build :class:`BenchSettings`; a test function marked with a family's name and taking
``spec`` and ``cell`` gets one case per model x family cell, with the family's markers; the
fixtures ``rmq_context`` (one per process) and ``rmq`` (one per cell) run it; the controller's
:class:`ResultsCollector` gathers records from test reports, writes the result files and prints
the table. The controller checks every option when the run starts
(:mod:`robustmq.benchmark.validation`, the baseline's settings: :mod:`robustmq.benchmark.gate`)
and ends with what the regression gate could not check.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import pytest

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.benchmark.options import HARNESS_OPTIONS, family_options
from robustmq.benchmark.session import RECORD_KEY, RESUMED_KEY, ResultsCollector
from robustmq.benchmark.settings import BenchSettings
from robustmq.benchmark.workers import cpu_threads, worker_device, worker_index
from robustmq.data.profiles import get_profile
from robustmq.exceptions import RobustMQError
from robustmq.options import add_pytest_option, resolve_device
from robustmq.results.family import family_order
from robustmq.results.journal import read_journal
from robustmq.results.table import build_table, render_text

if TYPE_CHECKING:  # the context pulls in data and models: imported when a cell first needs it
    from robustmq.benchmark.context import BenchContext
    from robustmq.benchmark.gate import Baseline
    from robustmq.benchmark.harness import CellRun


def markers() -> dict[str, str]:
    """Every registered family's marker and sub-markers, with their help texts."""
    result: dict[str, str] = {}
    for family in family_order():
        result[family.name] = family.description
        for name, text in family.markers.items():
            result.setdefault(name, text)
    return result


collector_key = pytest.StashKey[ResultsCollector]()
settings_key = pytest.StashKey[BenchSettings]()
_baseline_key = pytest.StashKey[dict[str, "Baseline"]]()


#: the option group of the parser being built (families registered later add theirs to it).
_groups: list[pytest.OptionGroup] = []


def _add_options(group: pytest.OptionGroup) -> None:
    present = {argument.dest for argument in group.options}
    for option in (*HARNESS_OPTIONS, *family_options()):
        if option.dest not in present:
            add_pytest_option(group.addoption, option)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("robustmq", "RobustMQ robustness benchmark")
    _groups[:] = [group]
    _add_options(group)


def pytest_plugin_registered() -> None:
    """A conftest may register a family: its options join the group before arguments are read."""
    if _groups:
        _add_options(_groups[0])


def _settings(config: pytest.Config) -> BenchSettings:
    """The run's settings; on the controller every option is checked first (a UsageError naming
    the option, its value and what was expected stops the run before any cell)."""
    values = {o.name: config.getoption(o.dest) for o in HARNESS_OPTIONS}
    values["device"] = resolve_device(values["device"])
    extra = {o.name: config.getoption(o.dest, o.default) for o in family_options()}
    try:
        settings = BenchSettings(**values, family_options=extra)
        if hasattr(config, "workerinput") or config.getoption("help", False):
            return settings  # the controller checked them
        from robustmq.benchmark.validation import validate

        validate(settings)
        if settings.baseline:  # unreadable or measured otherwise: stop before any cell
            from robustmq.benchmark.gate import Baseline

            baseline = Baseline(settings.baseline)
            baseline.check_settings(settings.to_dict())
            config.stash[_baseline_key] = {settings.baseline: baseline}
        return settings
    except RobustMQError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Under ``-n`` without ``--dist``, this plugin schedules the cells (see
    :mod:`robustmq.benchmark.scheduling`)."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", None) == "no":
        option.dist = "load"
        config.stash[_schedules_key] = True


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The controller's scheduler when it is this plugin's (None: xdist's own)."""
    if not config.stash.get(_schedules_key, False):
        return None
    from robustmq.benchmark.context import BenchContext
    from robustmq.benchmark.scheduling import ModelScheduling
    from robustmq.zoo_jobs import BUILD_COST, BUILD_COSTS

    settings = config.stash[settings_key]
    try:
        specs = settings.grid()
        context = BenchContext(settings, lambda _message: None)
        trains = {spec.id: spec.arch for spec in specs if context.trains(spec)}
    except RobustMQError:  # a cell reports it; schedule as xdist would
        return None
    return ModelScheduling(
        config,
        log,
        model_ids=[spec.id for spec in specs],
        trains=trains,
        costs=BUILD_COSTS.get(settings.profile, BUILD_COST),
    )


_schedules_key = pytest.StashKey[bool]()


def _place_worker(config: pytest.Config, settings: BenchSettings) -> BenchSettings:
    """On an xdist worker: its own GPU (index mod count), or its share of the CPU threads."""
    placement = worker_index(getattr(config, "workerinput", None))
    if placement is None:
        return settings
    import torch

    index, count = placement
    cuda = torch.cuda.device_count() if settings.device == "cuda" else 0
    device = worker_device(settings.device, index, cuda)
    if not device.startswith("cuda"):
        torch.set_num_threads(cpu_threads(count))
    return dataclasses.replace(settings, device=device)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in markers().items():
        config.addinivalue_line("markers", f"{name}: {text}")
    settings = _place_worker(config, _settings(config))
    config.stash[settings_key] = settings
    is_worker = hasattr(config, "workerinput")
    config.stash[collector_key] = ResultsCollector(settings, writes=not is_worker)
    config.pluginmanager.register(_ReportHooks(config), "robustmq-results")


def _announcer(config: pytest.Config) -> Callable[[str], None]:
    def announce(message: str) -> None:
        reporter = config.pluginmanager.getplugin("terminalreporter")
        if reporter is None:
            return
        capture = config.pluginmanager.getplugin("capturemanager")
        guard = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with guard:
            reporter.write_line(message)

    return announce


@pytest.fixture(scope="session")
def rmq_context(pytestconfig: pytest.Config) -> BenchContext:
    """The process's benchmark context (settings, cached models and data)."""
    from robustmq.benchmark.context import BenchContext

    return BenchContext(pytestconfig.stash[settings_key], _announcer(pytestconfig))


@pytest.fixture
def rmq(rmq_context: BenchContext, request: pytest.FixtureRequest) -> CellRun:
    """The cell's handle: ``evaluate(spec, cell)`` (or ``load``, ``eval_data``, ``record``)."""
    from robustmq.benchmark.harness import CellRun

    return CellRun(rmq_context, request, _baseline(request.config, rmq_context.settings))


def _baseline(config: pytest.Config, settings: BenchSettings) -> Baseline | None:
    """The run's baseline (``--rmq-baseline``), read once per process; None without one."""
    from robustmq.benchmark.gate import Baseline

    baselines = config.stash.setdefault(_baseline_key, {})
    path = settings.baseline
    if path and path not in baselines:
        baselines[path] = Baseline(path)
    return baselines.get(path) if path else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A family's test taking ``spec`` and ``cell``: one case per model of the grid (the four
    architectures and the registered models, as ``--rmq-archs``, ``--rmq-quantizers`` and
    ``--rmq-bits`` restrict them) x cell of the profile."""
    if not {"spec", "cell"} <= set(metafunc.fixturenames):
        return
    from robustmq.benchmark.harness import cell_params, family_of

    family = family_of([m.name for m in metafunc.definition.iter_markers()])
    if family is None:
        return
    settings = metafunc.config.stash[settings_key]
    try:  # the controller checked it; a worker registers the same models (same conftests)
        specs = settings.grid()
    except RobustMQError as exc:
        raise pytest.UsageError(str(exc)) from exc
    profile = get_profile(settings.profile)
    metafunc.parametrize(("spec", "cell"), cell_params(family, profile, specs))


_journal_key = pytest.StashKey[dict[str, dict[str, object]]]()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """With --rmq-resume, a cell already journaled is reported from the journal, not rerun."""
    config = pyfuncitem.config
    settings = config.stash[settings_key]
    if not settings.resume or "rmq" not in pyfuncitem.fixturenames:
        return None
    if _journal_key not in config.stash:
        from pathlib import Path

        config.stash[_journal_key] = read_journal(Path(settings.output))
    journal = config.stash[_journal_key]
    context = cast("BenchContext", pyfuncitem.funcargs["rmq_context"])  # set up with rmq
    from robustmq.benchmark.harness import spec_of

    spec, callspec = spec_of(pyfuncitem), getattr(pyfuncitem, "callspec", None)
    if spec is None or callspec is None:
        return None
    key = context.journal_key(pyfuncitem.originalname, callspec.id, spec)
    if key not in journal:
        return None
    pyfuncitem.user_properties.append((RECORD_KEY, journal[key]))
    pyfuncitem.user_properties.append((RESUMED_KEY, True))
    baseline = _baseline(config, settings)
    if baseline is not None:  # a resumed cell is gated like a run one
        from robustmq.benchmark.gate import regressions
        from robustmq.results.record import Record

        found = regressions(
            Record.from_json(journal[key]), baseline, settings.tolerance, settings.z
        )
        if found:
            lines = "\n".join(r.message() for r in found)
            pytest.fail(f"regression against {baseline.path}:\n{lines}", pytrace=False)
    return True


def _collector(config: pytest.Config) -> ResultsCollector | None:
    return config.stash.get(collector_key, None)


#: the terminal table shows per-cell columns of a family only up to this many (table.md: all).
_TERMINAL_CELL_COLUMNS = 15


class _ReportHooks:
    """Hooks that need the config: registered per session in ``pytest_configure``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        collector = _collector(self.config)
        if collector is not None and report.when == "call":
            collector.add_report(report)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        collector = _collector(self.config)
        if collector is None:
            return
        collector.finish()
        settings = self.config.stash[settings_key]
        if not collector.writes:
            return
        for family in family_order():
            failures = family.session_failures(collector.summaries, settings)
            if failures and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            collector.failures.extend(failures)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        collector = _collector(self.config)
        if collector is None or not collector.records or not collector.writes:
            return
        terminalreporter.section("robustmq benchmark")
        table = build_table(
            collector.records.values(),
            collector.summaries or None,
            max_cell_columns=_TERMINAL_CELL_COLUMNS,
            intervals="compact",
        )
        for line in render_text(table):
            terminalreporter.write_line(line)
        if collector.resumed:
            terminalreporter.write_line(f"{collector.resumed} cells resumed from the journal")
        for failure in collector.failures:
            terminalreporter.write_line(failure, red=True)
        terminalreporter.write_line(f"results written to {collector.output}/:")
        for path in [collector.output / "journal.jsonl", *collector.written]:
            terminalreporter.write_line(f"  {path}")
        self._gate_summary(terminalreporter, collector)

    def _gate_summary(self, reporter: pytest.TerminalReporter, collector: ResultsCollector) -> None:
        """How many cells the gate checked, and each one it could not check and why."""
        settings = self.config.stash[settings_key]
        baseline = _baseline(self.config, settings) if settings.baseline else None
        if baseline is None:
            return
        from robustmq.benchmark.gate import MISSING_CELLS

        records = list(collector.records.values())
        gaps = baseline.gaps(records)
        unchecked = len(gaps.get(MISSING_CELLS, []))
        reporter.section("robustmq regression gate")
        reporter.write_line(
            f"{len(records) - unchecked} of {len(records)} cells compared with {baseline.path}"
        )
        for reason, items in gaps.items():
            shown = ", ".join(items[:_GAPS_SHOWN])
            more = f" and {len(items) - _GAPS_SHOWN} more" if len(items) > _GAPS_SHOWN else ""
            reporter.write_line(f"not gated, {reason} ({len(items)}): {shown}{more}", yellow=True)


#: the gate summary names at most this many unchecked cells or values per reason.
_GAPS_SHOWN = 20
