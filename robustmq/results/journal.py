"""The run journal: every finished cell, appended to ``journal.jsonl`` as soon as it finishes.

One JSON object per line: ``{"key": ..., "record": {...}}``. A line is written with one ``write``
call and flushed to disk (``fsync``) before the next cell's report is taken, so a run killed at any
moment (even with SIGKILL) keeps every finished cell; a torn last line is ignored on reading.

``key`` is :func:`cell_key`: a hash of everything that affects a cell's numbers (the test and its
parameters, the benchmark settings that change results, the checkpoint file's sha256). With
``--rmq-resume`` a cell whose key is already journaled is not run again: its journaled record is
reported instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from robustmq.hashing import sha256_file, sha256_json

__all__ = [
    "JOURNAL_NAME",
    "append_entry",
    "cell_key",
    "checkpoint_digest",
    "read_journal",
]

JOURNAL_NAME = "journal.jsonl"


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
) -> str:
    """Hex sha256 identifying one cell's result: test, parameters, settings, checkpoint sha256.

    ``neutral`` names the settings that never change a number (the harness's and the families'
    options declared neutral): they are left out.
    """
    payload = {
        "test": test,
        "params": param_id,
        "settings": result_settings(settings, neutral),
        "checkpoint_sha256": checkpoint,
    }
    return sha256_json(payload, default=str)


def append_entry(output: Path, key: str | None, record: Mapping[str, Any]) -> None:
    """Append one finished cell to ``output/journal.jsonl`` and flush it to disk."""
    output.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"key": key, "record": dict(record)}, sort_keys=True) + "\n"
    fd = os.open(output / JOURNAL_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(output: Path) -> dict[str, dict[str, Any]]:
    """Journaled records by key (the last entry wins); unreadable or torn lines are skipped."""
    path = output / JOURNAL_NAME
    entries: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            record = entry.get("record")
            if isinstance(record, dict):
                entries[entry["key"]] = record
    return entries
