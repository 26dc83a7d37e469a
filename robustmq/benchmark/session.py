"""Controller-side collection of records: one code path for serial runs and ``pytest -n N``.

Cells attach their record (and its journal key) to ``user_properties``; the report carries it to
the controller (through xdist when workers run the cells), where :class:`ResultsCollector` keeps it,
appends it to ``journal.jsonl`` at once (flushed to disk), and writes the result files when the
session ends. A new run starts a new journal; a ``--rmq-resume`` run appends to the old one.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
from pathlib import Path
from typing import Any

import pytest

from robustmq.benchmark.settings import BenchSettings
from robustmq.results.journal import JOURNAL_NAME, append_entry
from robustmq.results.record import Record, library_versions
from robustmq.results.storage import atomic_write, write_results
from robustmq.results.summary import ModelSummary, summarize

RECORD_KEY = "robustmq_record"
SAMPLE_SET_KEY = "robustmq_sample_set"
JOURNAL_KEY = "robustmq_journal_key"
RESUMED_KEY = "robustmq_resumed"


class ResultsCollector:
    """Gathers the records of a run and writes them out (on the controller only)."""

    def __init__(self, settings: BenchSettings, writes: bool) -> None:
        self.settings = settings
        self.writes = writes
        self.output = Path(settings.output)
        self.records: dict[str, Record] = {}
        self.sample_sets: dict[str, list[str]] = {}
        self.started = dt.datetime.now(dt.timezone.utc)
        self.resumed = 0
        self.written: list[Path] = []
        self.summaries: dict[str, ModelSummary] = {}
        #: run-level failures to report (e.g. model-level masking flags with fail-on-masking).
        self.failures: list[str] = []
        self._cleared = settings.resume  # a resumed run appends to the journal it resumes

    def add_report(self, report: pytest.TestReport) -> None:
        """Take the record (and sample set) a test report carries, if any."""
        properties: dict[str, object] = {}
        for name, item in report.user_properties:
            if name == SAMPLE_SET_KEY and isinstance(item, dict):
                self.sample_sets.update(item)  # every entry: a cell may carry several sets
            properties[name] = item
        value = properties.get(RECORD_KEY)
        if not isinstance(value, dict):
            return
        record = Record.from_json(value)
        self.records[record.cell] = record
        if properties.get(RESUMED_KEY):
            self.resumed += 1
            return  # already in the journal
        if self.writes:
            if not self._cleared:  # a new run starts a new journal
                (self.output / JOURNAL_NAME).unlink(missing_ok=True)
                self._cleared = True
            key = properties.get(JOURNAL_KEY)
            append_entry(self.output, key if isinstance(key, str) else None, value)

    def run_metadata(self) -> dict[str, Any]:
        """What the run was: settings, versions, host, times, sample sets."""
        return {
            "started": self.started.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
            "settings": self.settings.to_dict(),
            "versions": library_versions(),
            "host": platform.node(),
            "platform": platform.platform(),
            "argv": sys.argv,
            "n_records": len(self.records),
            "sample_sets": self.sample_sets,
        }

    def finish(self) -> list[Path]:
        """Write the result files; returns their paths (none when there is nothing to write)."""
        if not self.writes or not self.records:
            return []
        self.summaries = summarize(self.records.values())
        paths = write_results(
            self.output, self.run_metadata(), self.records.values(), self.summaries
        )
        if self.settings.save_baseline:
            baseline = Path(self.settings.save_baseline)
            atomic_write(baseline, paths[0].read_text(encoding="utf-8"))
            paths.append(baseline)
        self.written = paths
        return paths
