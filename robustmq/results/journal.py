"""The run journal: every finished cell, appended to ``journal.jsonl`` as soon as it finishes.

One JSON object per line: ``{"key", "record", "sample_digests", "sample_sets", "sha256"}``. A
line is written with one ``write`` call and flushed to disk (``fsync``) before the next cell's
report is taken, so a run killed at any moment (even with SIGKILL) keeps every finished cell; a
torn last line is ignored on reading and closed with a newline before the next append.

``key`` is :func:`cell_key`: a hash of everything that affects a cell's numbers (the test and its
parameters, the benchmark settings that change results, the checkpoint file's sha256, the library
versions). ``sample_digests`` names the sample sets the cell used; ``sample_sets`` holds the ids of
those not journaled before (``{digest: ids}``); ``sha256`` is :func:`entry_digest`. With
``--rmq-resume`` a cell whose key is journaled is not run again: its record is reported instead,
once it passes :func:`entry_problem` (digest, versions, metrics against its per-sample bits).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from robustmq.hashing import sha256_file, sha256_json
from robustmq.results import record as _record
from robustmq.results.intervals import share_counts, wilson

__all__ = [
    "JOURNAL_NAME",
    "Journal",
    "JournalEntry",
    "JournalWarning",
    "append_entry",
    "cell_key",
    "checkpoint_digest",
    "entry_digest",
    "entry_problem",
    "load_journal",
    "read_journal",
]

JOURNAL_NAME = "journal.jsonl"


class JournalWarning(UserWarning):
    """A journaled cell is not reused on resume (it is run again); the message says why."""


def result_settings(settings: Mapping[str, Any], neutral: Collection[str]) -> dict[str, Any]:
    """The settings that can change a number: ``neutral`` names left out, device index dropped."""
    result = {k: v for k, v in settings.items() if k not in neutral}
    if isinstance(result.get("device"), str):
        result["device"] = result["device"].split(":")[0]  # cuda:1 and cuda:0 give the same numbers
    return result


@lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def checkpoint_digest(path: str | os.PathLike[str]) -> str | None:
    """sha256 of the checkpoint file at ``path`` (None when it does not exist); cached per file."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)


def cell_key(
    test: str,
    param_id: str,
    settings: Mapping[str, Any],
    checkpoint: str | None,
    neutral: Collection[str],
    versions: Mapping[str, str] | None = None,
) -> str:
    """Hex sha256 identifying one cell's result: test, parameters, settings, checkpoint sha256
    and library ``versions`` (default: :func:`~robustmq.results.record.library_versions`).

    ``neutral`` names the settings that never change a number (the harness's and the families'
    options declared neutral): they are left out.
    """
    payload = {
        "test": test,
        "params": param_id,
        "settings": result_settings(settings, neutral),
        "checkpoint_sha256": checkpoint,
        "versions": dict(_record.library_versions() if versions is None else versions),
    }
    return sha256_json(payload, default=str)


def entry_digest(entry: Mapping[str, Any]) -> str:
    """sha256 of a journal entry's canonical JSON, its own ``sha256`` left out."""
    return sha256_json({k: v for k, v in entry.items() if k != "sha256"})


def append_entry(
    output: Path,
    key: str | None,
    record: Mapping[str, Any],
    sample_digests: Sequence[str] = (),
    sample_sets: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Append one finished cell to ``output/journal.jsonl`` and flush it to disk.

    A torn last line (a crash mid-write) is closed with a newline first, so this entry stays
    readable on a line of its own.
    """
    output.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {
        "key": key,
        "record": dict(record),
        "sample_digests": list(sample_digests),
        "sample_sets": {d: list(ids) for d, ids in (sample_sets or {}).items()},
    }
    entry["sha256"] = entry_digest(entry)
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(output / JOURNAL_NAME, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class JournalEntry:
    """One journaled cell: its key, record (JSON) and the digests of the sample sets it used."""

    key: str
    record: dict[str, Any]
    sample_digests: tuple[str, ...] = ()


@dataclass
class Journal:
    """A journal as read: usable entries by key, sample ids by digest, rejected cells and why."""

    entries: dict[str, JournalEntry] = field(default_factory=dict)
    sample_sets: dict[str, list[str]] = field(default_factory=dict)
    #: ``{cell: reason}`` of cells with no usable entry (a resumed run reruns them).
    rejected: dict[str, str] = field(default_factory=dict)

    def sample_sets_of(self, record: Mapping[str, Any]) -> dict[str, list[str]]:
        """The sample ids (by digest) that the entry holding ``record`` used, where journaled."""
        found = next((e for e in self.entries.values() if e.record == record), None)
        digests = found.sample_digests if found else ()
        digests = digests or (str(record.get("settings", {}).get("sample_ids_sha256")),)
        return {d: self.sample_sets[d] for d in digests if d in self.sample_sets}


def _versions_problem(record: Mapping[str, Any], versions: Mapping[str, str]) -> str | None:
    made = record.get("versions")
    if not isinstance(made, dict):
        return "it names no library versions"
    changed = sorted(k for k in {*made, *versions} if made.get(k) != versions.get(k))
    if not changed:
        return None
    moves = ", ".join(f"{k} {made.get(k, '-')} (now {versions.get(k, '-')})" for k in changed)
    return f"made with other library versions: {moves}"


def _metrics_problem(record: Mapping[str, Any]) -> str | None:
    """A headline metric that is the share of correct samples but disagrees with ``correct``.

    A metric is such a share when its journaled interval is the Wilson interval of the record's
    per-sample bits (the harness gives a share that interval; counts of other trials differ).
    """
    data = _record.Record.from_json(dict(record))
    correct = data.correct_vector()
    if int(correct.numel()) != data.n_samples:
        return f"its per-sample results hold {correct.numel()} samples, not {data.n_samples}"
    k, n = int(correct.sum()), data.n_samples
    expected = wilson(k, n) if n else None
    for name, interval in sorted(data.intervals.items()):
        value = data.metrics.get(name)
        if expected is None or value is None or len(interval) != 2:
            continue
        if not all(
            math.isclose(a, b, abs_tol=1e-9) for a, b in zip(interval, expected, strict=True)
        ):
            continue  # not a share of this record's correct samples
        if share_counts(value, correct) is None:
            return f"{name} {value!r} disagrees with its per-sample results ({k}/{n} = {k / n:.4g})"
    return None


def entry_problem(entry: Mapping[str, Any], versions: Mapping[str, str]) -> str | None:
    """Why a journal entry may not be reused (None: it may): a missing or wrong content digest,
    other library ``versions``, a headline metric its own per-sample results contradict."""
    record = entry.get("record")
    if not isinstance(record, dict):
        return "it holds no record"
    if "sha256" not in entry:
        return "it has no content digest (journaled by an older RobustMQ)"
    if entry["sha256"] != entry_digest(entry):
        return "its content does not match its digest (edited or damaged)"
    try:
        return _versions_problem(record, versions) or _metrics_problem(record)
    except (TypeError, ValueError, KeyError) as exc:
        return f"its record is unreadable ({exc})"


def _sample_sets(entry: Mapping[str, Any]) -> dict[str, list[str]]:
    """The entry's sample sets whose ids match their digest (so they are trusted on their own)."""
    sets = entry.get("sample_sets")
    if not isinstance(sets, dict):
        return {}
    return {
        d: list(ids)
        for d, ids in sets.items()
        if isinstance(ids, list) and _record.sample_ids_digest([str(i) for i in ids]) == d
    }


def _parse(line: str) -> Any:
    """A line's JSON value; for a torn line, the entry an older writer appended to it (if any)."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        pass
    start = line.find('{"key": ', 1)
    while start > 0:
        try:
            return json.loads(line[start:])
        except json.JSONDecodeError:
            start = line.find('{"key": ', start + 1)
    return None  # torn by a crash, nothing after it


def load_journal(output: Path, versions: Mapping[str, str] | None = None) -> Journal:
    """Read ``output/journal.jsonl``: each key's last usable entry (see :func:`entry_problem`;
    ``versions`` default to the current ones), the sample sets and the rejected cells."""
    versions = _record.library_versions() if versions is None else versions
    journal = Journal()
    try:
        text = (output / JOURNAL_NAME).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return journal
    for line in text.splitlines():
        entry = _parse(line)
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            continue
        journal.sample_sets.update(_sample_sets(entry))
        record = entry.get("record")
        cell = str(record.get("cell")) if isinstance(record, dict) else "?"
        problem = entry_problem(entry, versions)
        if problem is not None:
            journal.rejected[cell] = problem
            continue
        journal.rejected.pop(cell, None)  # journaled again after a rejection (rerun): fine
        digests = entry.get("sample_digests")
        journal.entries[entry["key"]] = JournalEntry(
            entry["key"], dict(entry["record"]), tuple(digests if isinstance(digests, list) else ())
        )
    return journal


def read_journal(output: Path) -> dict[str, dict[str, Any]]:
    """Usable journaled records by key (the last entry wins); torn lines are skipped and every
    rejected cell is named in a :class:`JournalWarning` (one per reason), so it is run again."""
    journal = load_journal(output)
    by_reason: dict[str, list[str]] = {}
    for cell, reason in journal.rejected.items():
        by_reason.setdefault(reason, []).append(cell)
    for reason, cells in by_reason.items():
        names = ", ".join(sorted(cells))
        warnings.warn(
            f"{output / JOURNAL_NAME}: not reusing {names} (run again): {reason}",
            JournalWarning,
            stacklevel=2,
        )
    return {key: entry.record for key, entry in journal.entries.items()}
