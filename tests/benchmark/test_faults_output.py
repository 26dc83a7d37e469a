"""Fault injection on the output folder (issue 15, defect 1: two runs on one output folder lost
results): the folder is held by one run at a time and a new run keeps the previous run's files.
The pytester runs are slow (benchmark cells in subprocesses)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import pytest

from robustmq.exceptions import RobustMQError
from robustmq.results.folder import OutputInUseError, OutputLock, rotate_previous
from robustmq.results.journal import JOURNAL_NAME

RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


def test_a_held_folder_is_refused_naming_its_holder(tmp_path: Path) -> None:
    """Defect 1 (nothing locks the folder): a second hold fails with a typed error naming the
    folder and the holder's pid and host; after release the folder can be held again."""
    with OutputLock.acquire(tmp_path / "out") as lock:
        assert lock.held
        with pytest.raises(OutputInUseError) as caught:
            OutputLock.acquire(tmp_path / "out")
    message = str(caught.value)
    assert str(tmp_path / "out") in message
    assert f"pid {os.getpid()} on host {platform.node()}" in message
    assert isinstance(caught.value, RobustMQError)
    assert not lock.held
    OutputLock.acquire(tmp_path / "out").release()


def test_rotation_moves_every_run_file(tmp_path: Path) -> None:
    """Defect 1 (a new run deletes journal.jsonl): the previous run's files are moved, not lost."""
    assert rotate_previous(tmp_path) is None
    for name in (JOURNAL_NAME, "results.json", "table.md"):
        (tmp_path / name).write_text(name)
    first = rotate_previous(tmp_path)
    (tmp_path / JOURNAL_NAME).write_text("again")
    second = rotate_previous(tmp_path)
    assert first is not None
    assert second is not None
    assert first != second
    assert first.name.startswith("previous-")
    assert {p.name for p in first.iterdir()} == {JOURNAL_NAME, "results.json", "table.md"}
    assert (second / JOURNAL_NAME).read_text() == "again"
    assert not (tmp_path / JOURNAL_NAME).exists()


@pytest.mark.slow
def test_a_second_run_into_a_held_folder_stops_and_writes_nothing(run_bench: RunBench) -> None:
    """Defect 1 (run A and run B into one folder ended with B's records only, both exit 0): while
    A holds the folder, B stops with OutputInUseError naming A, and A's journal is untouched."""
    first = run_bench("-k", "resnet18 and fp32")
    first.result.assert_outcomes(passed=1)
    journal = (first.out / JOURNAL_NAME).read_bytes()
    with OutputLock.acquire(first.out):  # run A, still running
        second = run_bench("-k", "resnet18 and lsq and 4bit")
    assert second.result.ret == pytest.ExitCode.USAGE_ERROR
    output = second.result.stdout.str() + second.result.stderr.str()
    assert f"OutputInUseError: output folder {first.out} is in use by another run" in output
    assert f"pid {os.getpid()}" in output
    assert (first.out / JOURNAL_NAME).read_bytes() == journal
    assert second.data is None  # run_bench removed A's results.json; B wrote none


@pytest.mark.slow
def test_a_new_run_moves_the_previous_results_aside(run_bench: RunBench) -> None:
    """Defect 1 (a new run deleted journal.jsonl at its first record without saying so): the
    previous journal is moved to previous-<time>/ and the warnings summary says where."""
    run_bench("-k", "resnet18 and fp32").result.assert_outcomes(passed=1)
    second = run_bench("-k", "resnet18 and lsq and 4bit")
    second.result.assert_outcomes(passed=1)
    second.result.stdout.fnmatch_lines(["*OutputNotice*previous run's files were moved to*"])
    (previous,) = second.out.glob("previous-*")
    assert '"resnet18-fp32"' in (previous / JOURNAL_NAME).read_text()
    assert list(second.records) == ["resnet18-lsq-4bit"]
