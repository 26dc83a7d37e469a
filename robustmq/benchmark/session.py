"""Controller-side collection of records: one code path for serial runs and ``pytest -n N``.

Cells attach their record to ``user_properties``; the report carries it to the controller (through
xdist when workers run the cells), where :class:`ResultsCollector` keeps it, appends it to
``records.jsonl`` at once, and writes the result files when the session ends.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
from pathlib import Path
from typing import Any

import pytest

from robustmq.benchmark.record import Record, library_versions
from robustmq.benchmark.settings import BenchSettings
from robustmq.benchmark.storage import append_record, write_results

RECORD_KEY = "robustmq_record"
SAMPLE_SET_KEY = "robustmq_sample_set"


class ResultsCollector:
    """Gathers the records of a run and writes them out (on the controller only)."""

    def __init__(self, settings: BenchSettings, writes: bool) -> None:
        self.settings = settings
        self.writes = writes
        self.output = Path(settings.output)
        self.records: dict[str, Record] = {}
        self.sample_sets: dict[str, list[str]] = {}
        self.started = dt.datetime.now(dt.timezone.utc)
        self._cleared = False

    def add_report(self, report: pytest.TestReport) -> None:
        """Take the record (and sample set) a test report carries, if any."""
        for key, value in report.user_properties:
            if key == SAMPLE_SET_KEY and isinstance(value, dict):
                self.sample_sets.update(value)
            elif key == RECORD_KEY and isinstance(value, dict):
                record = Record.from_json(value)
                self.records[record.cell] = record
                if self.writes:
                    if not self._cleared:  # a new run starts a new records.jsonl
                        (self.output / "records.jsonl").unlink(missing_ok=True)
                        self._cleared = True
                    append_record(self.output, record)

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
        return write_results(self.output, self.run_metadata(), self.records.values())
