"""Fault injection on the journal (issue 15): edited records, other library versions, torn lines
and resumed sample ids. Each test names the defect it guards against; those that run benchmark
cells (in pytester subprocesses) are slow."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from robustmq.results.intervals import wilson
from robustmq.results.journal import (
    JOURNAL_NAME,
    JournalWarning,
    append_entry,
    entry_digest,
    load_journal,
    read_journal,
)
from robustmq.results.record import Record, library_versions, sample_ids_digest

RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py
FLOAT = "resnet18 and fp32"
OTHER_VERSIONS = """
import robustmq.results.record as record

_real = record.library_versions
record.library_versions = lambda: {**_real(), "torch": "0.0+other"}
"""


def _entries(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / JOURNAL_NAME).read_text().splitlines()]


def _edit(out: Path, accuracy: float, redigest: bool) -> None:
    """Set the journaled accuracy by hand (``redigest``: and recompute the entry's digest)."""
    entries = _entries(out)
    for entry in entries:
        entry["record"]["metrics"]["accuracy"] = accuracy
        if redigest:
            entry["sha256"] = entry_digest(entry)
    (out / JOURNAL_NAME).write_text("".join(json.dumps(e) + "\n" for e in entries))


@pytest.fixture
def share_record(make_record: Callable[..., Record]) -> dict[str, Any]:
    """A clean record whose accuracy is the share of its correct bits (7/10), interval and all."""
    record = make_record(accuracy=0.7, cell="resnet18-fp32")
    record = dataclasses.replace(
        record, versions=library_versions(), intervals={"accuracy": list(wilson(7, 10))}
    )
    return record.to_json()


class TestEditedRecords:
    def test_a_record_edited_by_hand_is_not_reused(
        self, tmp_path: Path, share_record: dict[str, Any]
    ) -> None:
        """Defect 2 (resume trusts the journal): an accuracy edited to 0.99 while the record's own
        correct bits say 0.7 is rejected, whether or not the editor recomputed the digest."""
        append_entry(tmp_path, "k", share_record)
        assert read_journal(tmp_path) == {"k": share_record}
        _edit(tmp_path, 0.99, redigest=False)
        assert "does not match its digest" in load_journal(tmp_path).rejected["resnet18-fp32"]
        _edit(tmp_path, 0.99, redigest=True)
        with pytest.warns(JournalWarning, match=r"not reusing resnet18-fp32.*accuracy 0\.99.*7/10"):
            assert read_journal(tmp_path) == {}

    def test_a_record_of_other_library_versions_is_not_reused(
        self, tmp_path: Path, share_record: dict[str, Any]
    ) -> None:
        """Defect 2 (old records reused beside new ones after a library version change)."""
        append_entry(tmp_path, "k", share_record)
        newer = {**library_versions(), "torch": "99.0"}
        reason = load_journal(tmp_path, versions=newer).rejected["resnet18-fp32"]
        assert "other library versions" in reason
        assert "(now 99.0)" in reason

    def test_a_rerun_after_a_rejection_is_reused(
        self, tmp_path: Path, share_record: dict[str, Any]
    ) -> None:
        """The cell journaled again after a rejected entry is reused, without a warning."""
        append_entry(tmp_path, "k", share_record)
        _edit(tmp_path, 0.99, redigest=False)
        append_entry(tmp_path, "k", share_record)
        journal = load_journal(tmp_path)
        assert journal.rejected == {}
        assert journal.entries["k"].record == share_record

    @pytest.mark.slow
    def test_resume_reruns_a_record_edited_by_hand(self, run_bench: RunBench) -> None:
        """Defect 2 (resume trusts the journal): the hand-edited cell is run again, the warning
        names it and why, and the result is the computed accuracy, not the edited 0.99."""
        first = run_bench("-k", FLOAT)
        first.result.assert_outcomes(passed=1)
        accuracy = first.records["resnet18-fp32"]["metrics"]["accuracy"]
        _edit(first.out, 0.99, redigest=True)
        again = run_bench("-k", FLOAT, "--rmq-resume")
        again.result.assert_outcomes(passed=1)
        again.result.stdout.fnmatch_lines(
            ["*JournalWarning*not reusing resnet18-fp32 (run again): accuracy 0.99 disagrees*"]
        )
        assert "resumed from the journal" not in again.result.stdout.str()
        assert again.records["resnet18-fp32"]["metrics"]["accuracy"] == accuracy

    @pytest.mark.slow
    def test_resume_reruns_cells_of_other_library_versions(
        self, pytester: pytest.Pytester, run_bench: RunBench
    ) -> None:
        """Defect 2 (after a library version change, old records are reused beside new ones):
        the journaled cell is run again and the warning names the changed library."""
        run_bench("-k", FLOAT).result.assert_outcomes(passed=1)
        pytester.makeconftest(OTHER_VERSIONS)
        again = run_bench("-k", FLOAT, "--rmq-resume")
        again.result.assert_outcomes(passed=1)
        again.result.stdout.fnmatch_lines(["*not reusing resnet18-fp32*torch * (now 0.0+other)*"])
        assert "resumed from the journal" not in again.result.stdout.str()
        assert len(_entries(again.out)) == 2  # the rerun is journaled beside the old entry


class TestTornLines:
    def test_an_append_after_a_torn_line_stays_readable(
        self, tmp_path: Path, share_record: dict[str, Any]
    ) -> None:
        """Defect 3 (a torn last line swallows the next record): after a crash mid-write the next
        append starts a new line, so it is read back; only the torn line is lost."""
        append_entry(tmp_path, "k1", share_record)
        with open(tmp_path / JOURNAL_NAME, "a") as f:
            f.write('{"key": "k2", "record": {"cel')  # a write cut short by a crash
        append_entry(tmp_path, "k3", share_record)
        assert read_journal(tmp_path) == {"k1": share_record, "k3": share_record}
        lines = (tmp_path / JOURNAL_NAME).read_text().splitlines()
        assert [json.loads(lines[i])["key"] for i in (0, 2)] == ["k1", "k3"]

    def test_a_journal_that_is_only_a_torn_line(
        self, tmp_path: Path, share_record: dict[str, Any]
    ) -> None:
        """Defect 3: a torn first (and only) line does not swallow the first append either."""
        (tmp_path / JOURNAL_NAME).write_text('{"key": "k0", "rec')
        append_entry(tmp_path, "k1", share_record)
        assert read_journal(tmp_path) == {"k1": share_record}


class TestResumedSampleIds:
    def test_sample_ids_are_journaled_once_and_found_again(
        self, tmp_path: Path, share_record: dict[str, Any]
    ) -> None:
        """Defect 4 (a fully resumed run drops the sample ids): the journal keeps each set's ids
        (the first entry that uses it carries them) and finds them for every record again."""
        ids = [f"img{i}" for i in range(10)]
        digest = sample_ids_digest(ids)
        other = {**share_record, "cell": "resnet18-lsq-4bit"}
        append_entry(tmp_path, "k1", share_record, [digest], {digest: ids})
        append_entry(tmp_path, "k2", other, [digest])
        journal = load_journal(tmp_path)
        assert journal.sample_sets_of(share_record) == {digest: ids}
        assert journal.sample_sets_of(other) == {digest: ids}

    @pytest.mark.slow
    def test_a_fully_resumed_run_keeps_its_sample_ids(self, run_bench: RunBench) -> None:
        """Defect 4 (a fully resumed run drops the sample ids: run.sample_sets was {})."""
        first = run_bench("-k", FLOAT)
        first.result.assert_outcomes(passed=1)
        sets = first.data["run"]["sample_sets"]
        assert sets
        assert all(len(ids) == 30 for ids in sets.values())
        resumed = run_bench("-k", FLOAT, "--rmq-resume")
        resumed.result.assert_outcomes(passed=1)
        resumed.result.stdout.fnmatch_lines(["1 cells resumed from the journal"])
        assert resumed.data["run"]["sample_sets"] == sets
        assert len(_entries(resumed.out)) == 1


def test_an_entry_appended_to_a_torn_line_by_an_older_writer_is_read(
    tmp_path: Path, share_record: dict[str, Any]
) -> None:
    """Defect 3 (a torn last line swallows the next record): a journal written before the fix,
    whose entry sits on the torn line, still gives that entry back."""
    append_entry(tmp_path / "new", "k3", share_record)
    entry = (tmp_path / "new" / JOURNAL_NAME).read_text()
    (tmp_path / JOURNAL_NAME).write_text('{"key": "k2", "record": {"cel' + entry)
    assert read_journal(tmp_path) == {"k3": share_record}
