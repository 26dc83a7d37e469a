"""Controller-side collection of records: one code path for serial runs and ``pytest -n N``.

Cells attach their record (and its journal key) to ``user_properties``; the report carries it to
the controller (through xdist when workers run the cells), where :class:`ResultsCollector` keeps it,
appends it to ``journal.jsonl`` at once (flushed to disk), and writes the result files when the
session ends. From its first record to the end of the session the collector holds the output
folder (:class:`~robustmq.results.folder.OutputLock`; a second run into it stops with
OutputInUseError). A new run moves an earlier run's files to ``previous-<time>/`` and starts a new
journal; a ``--rmq-resume`` run appends to the old one and takes the sample ids of the cells it
resumes from it. Xdist workers never write: their records reach the controller in their reports.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from robustmq.benchmark.settings import BenchSettings
from robustmq.results.folder import OutputInUseError, OutputLock, rotate_previous
from robustmq.results.journal import Journal, append_entry, load_journal
from robustmq.results.record import Record, library_versions
from robustmq.results.storage import atomic_write, write_results
from robustmq.results.summary import ModelSummary, summarize

RECORD_KEY = "robustmq_record"
SAMPLE_SET_KEY = "robustmq_sample_set"
JOURNAL_KEY = "robustmq_journal_key"
RESUMED_KEY = "robustmq_resumed"
#: the digests of the sample sets a cell used (the run's evaluation set and its own).
SAMPLE_DIGESTS_KEY = "robustmq_sample_digests"


class OutputNotice(UserWarning):
    """Something the run did to its output folder that the user should know (files moved)."""


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
        #: what the run did to its output folder (shown as warnings when the session ends).
        self.notices: list[str] = []
        self._lock: OutputLock | None = None
        self._journal: Journal | None = None  # the journal a resumed run continues
        self._journaled: set[str] = set()  # digests of the sample sets the journal holds
        self._reread = False

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
        if self.writes and self._lock is None:
            self._take_output()
        record = Record.from_json(value)
        self.records[record.cell] = record
        if properties.get(RESUMED_KEY):
            self.resumed += 1
            self.sample_sets.update(self._resumed_sample_sets(value))
            return  # already in the journal
        if self.writes:
            key = properties.get(JOURNAL_KEY)
            digests = properties.get(SAMPLE_DIGESTS_KEY)
            if not isinstance(digests, list):
                digests = [str(record.settings.get("sample_ids_sha256"))]
            new = {d: self.sample_sets[d] for d in digests if d in self.sample_sets}
            new = {d: ids for d, ids in new.items() if d not in self._journaled}
            append_entry(self.output, key if isinstance(key, str) else None, value, digests, new)
            self._journaled.update(new)

    def _take_output(self) -> None:
        """Hold the output folder (stop the session if another run holds it); a resumed run
        reads the journal it continues, a new one moves an earlier run's files aside."""
        try:
            self._lock = OutputLock.acquire(self.output, self.started)
        except OutputInUseError as exc:
            self.writes = False
            pytest.exit(f"{type(exc).__name__}: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        if self.settings.resume:
            self._journal = load_journal(self.output)
            self._journaled = set(self._journal.sample_sets)
            return
        moved = rotate_previous(self.output)
        if moved is not None:
            self.notices.append(
                f"{self.output}: the previous run's files were moved to {moved}/ (a new run "
                "starts a new journal; --rmq-resume continues one)"
            )

    def _resumed_sample_sets(self, record: dict[str, Any]) -> dict[str, list[str]]:
        """The sample ids a resumed record's journal entry used (the journal is read again, once,
        where the entry is newer than the collector's copy)."""
        if self._journal is None:
            return {}
        found = self._journal.sample_sets_of(record)
        if not found and not self._reread:
            self._journal, self._reread = load_journal(self.output), True
            found = self._journal.sample_sets_of(record)
        return found

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
        """Write the result files and give the output folder up; returns the files' paths (none
        when there is nothing to write). Notices are issued as :class:`OutputNotice` warnings."""
        try:
            return self._write()
        finally:
            if self._lock is not None:
                self._lock.release()
            for notice in self.notices:
                warnings.warn(notice, OutputNotice, stacklevel=2)
            self.notices.clear()

    def _write(self) -> list[Path]:
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
