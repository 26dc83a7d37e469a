"""The RobustMQ pytest plugin (entry point ``pytest11``).

Hooks stay thin: options build :class:`BenchSettings`; the fixtures ``rmq_context`` (one per
process) and ``rmq`` (one per cell) give cells their model, data and a way to record; the
controller's :class:`ResultsCollector` gathers records from test reports, writes the result files
and prints the table.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import pytest

from robustmq.benchmark.session import RECORD_KEY, RESUMED_KEY, ResultsCollector
from robustmq.benchmark.settings import BenchSettings
from robustmq.benchmark.workers import cpu_threads, worker_device, worker_index
from robustmq.exceptions import RobustMQError
from robustmq.results.journal import read_journal
from robustmq.results.table import build_table, render_text

if TYPE_CHECKING:  # the context pulls in data and models: imported when a cell first needs it
    from robustmq.benchmark.context import BenchContext, CellRun

#: Markers the benchmark uses, one per noise family.
MARKERS = {
    "clean": "clean-accuracy benchmark cells",
    "adversarial": "adversarial-attack benchmark cells",
    "natural": "natural-corruption benchmark cells",
    "systematic": "systematic-noise benchmark cells",
    # adversarial: one per attack
    "fgsm": "FGSM (L-inf) cells",
    "pgd": "PGD (L-inf and L2) cells",
    "autoattack": "AutoAttack (standard, L-inf) cells",
    # natural: the four ImageNet-C groups
    "noise": "natural corruptions of the noise group",
    "blur": "natural corruptions of the blur group",
    "weather": "natural corruptions of the weather group",
    "digital": "natural corruptions of the digital group",
    # systematic: which step of the pipeline changes
    "decoder": "systematic cells that change the image decoder",
    "resize": "systematic cells that change the resize method",
}

collector_key = pytest.StashKey[ResultsCollector]()
settings_key = pytest.StashKey[BenchSettings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("robustmq", "RobustMQ robustness benchmark")
    add = group.addoption
    add(
        "--rmq-profile",
        default="synthetic",
        help="profile: synthetic, cifar10 or imagenet (default: synthetic)",
    )
    add(
        "--rmq-data-root",
        default=None,
        help="data folder of the profile (default: generated for synthetic; required otherwise)",
    )
    add(
        "--rmq-checkpoints",
        default=None,
        help="checkpoint folder, or a pattern such as '{arch}-{quantizer}-{bits}bit.safetensors' "
        "(default: the profile's zoo in the cache, built on demand where the profile allows)",
    )
    add(
        "--rmq-zoo-root",
        default=None,
        help="folder of the checkpoint zoo (default: $ROBUSTMQ_HOME/zoo/<profile>)",
    )
    add(
        "--rmq-device",
        default="auto",
        help="torch device for evaluation (default: auto = cuda when present, else cpu)",
    )
    add(
        "--rmq-n-samples",
        type=int,
        default=None,
        help="evaluation images in all, spread evenly over the classes "
        "(default: the profile's: synthetic 500, cifar10 1000, imagenet 5000)",
    )
    add("--rmq-batch-size", type=int, default=128, help="evaluation batch size (default: 128)")
    add("--rmq-seed", type=int, default=0, help="seed of every random choice (default: 0)")
    add(
        "--rmq-output",
        default="benchmark-results",
        help="folder for results.json, results.csv, table.md (default: benchmark-results)",
    )
    add(
        "--rmq-strict",
        action="store_true",
        default=False,
        help="a missing checkpoint fails its cell instead of skipping it (default: off)",
    )
    add(
        "--rmq-resume",
        action="store_true",
        default=False,
        help="skip cells already in the output folder's journal.jsonl with the same settings and "
        "checkpoint (their journaled records are reported); default: rerun everything",
    )
    add(
        "--rmq-baseline",
        default=None,
        help="regression gate: a results.json of an earlier run; a cell fails when a metric fell "
        "by more than max(--rmq-tolerance, z x standard error)",
    )
    add(
        "--rmq-tolerance",
        type=float,
        default=1.0,
        help="regression gate: allowed drop in percentage points (default: 1.0)",
    )
    add(
        "--rmq-z",
        type=float,
        default=3.0,
        help="regression gate: allowed drop in binomial standard errors (default: 3.0)",
    )
    add(
        "--rmq-save-baseline",
        default=None,
        help="also write this run's results.json to this path, for later --rmq-baseline runs",
    )
    add(
        "--rmq-fail-on-masking",
        action="store_true",
        default=False,
        help="gradient-masking flags fail the adversarial cell that raises them (default: off)",
    )
    add(
        "--rmq-imagenet-c",
        default=None,
        help="folder of the released ImageNet-C files (<root>/<corruption>/<severity>/<wnid>/...);"
        " natural cells read it instead of generating corruptions (default: generate)",
    )
    add(
        "--rmq-corruption-jpeg",
        action="store_true",
        default=False,
        help="round-trip generated corruptions through JPEG quality 85, as the released "
        "ImageNet-C files were saved (default: off)",
    )
    add(
        "--rmq-resize-geometry",
        default="aspect",
        choices=("aspect", "square"),
        help="systematic cells: resize the shorter side keeping the aspect ratio (aspect, "
        "torchvision style) or to a square (square, as RobustART did) (default: aspect)",
    )


def _settings(config: pytest.Config) -> BenchSettings:
    device = config.getoption("rmq_device")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        settings = BenchSettings(
            profile=config.getoption("rmq_profile"),
            data_root=config.getoption("rmq_data_root"),
            checkpoints=config.getoption("rmq_checkpoints"),
            zoo_root=config.getoption("rmq_zoo_root"),
            device=device,
            n_samples=config.getoption("rmq_n_samples"),
            batch_size=config.getoption("rmq_batch_size"),
            seed=config.getoption("rmq_seed"),
            output=config.getoption("rmq_output"),
            strict=config.getoption("rmq_strict"),
            fail_on_masking=config.getoption("rmq_fail_on_masking"),
            imagenet_c=config.getoption("rmq_imagenet_c"),
            corruption_jpeg=config.getoption("rmq_corruption_jpeg"),
            resize_geometry=config.getoption("rmq_resize_geometry"),
            resume=config.getoption("rmq_resume"),
            baseline=config.getoption("rmq_baseline"),
            tolerance=config.getoption("rmq_tolerance"),
            z=config.getoption("rmq_z"),
            save_baseline=config.getoption("rmq_save_baseline"),
        )
        if settings.baseline:  # an unreadable baseline stops the run before any cell
            from robustmq.benchmark.gate import Baseline

            Baseline(settings.baseline)
        return settings
    except RobustMQError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Under ``-n``, schedule by model (``--dist loadgroup``) unless ``--dist`` was given."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", None) == "no":
        option.dist = "loadgroup"


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
    for name, text in MARKERS.items():
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
    """The current cell's handle: ``load(spec)``, ``eval_data()``, ``record(...)``."""
    from robustmq.benchmark.context import CellRun

    return CellRun(rmq_context, request)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Cells of one model form one xdist group: a worker loads each model once."""
    if not any(hasattr(item, "callspec") for item in items):
        return
    from robustmq.benchmark.context import spec_of

    for item in items:
        spec = spec_of(item)
        if spec is not None:
            item.add_marker(pytest.mark.xdist_group(name=spec.id))


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
    key = context.journal_key(pyfuncitem)
    if key is None or key not in journal:
        return None
    pyfuncitem.user_properties.append((RECORD_KEY, journal[key]))
    pyfuncitem.user_properties.append((RESUMED_KEY, True))
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
        if settings.fail_on_masking and collector.writes:
            flagged = collector.masking_models()
            if flagged and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
                collector.failures.append(
                    "--rmq-fail-on-masking: model-level masking flags: " + "; ".join(flagged)
                )

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
