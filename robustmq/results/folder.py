"""An output folder is owned by one run at a time, and a new run keeps the last run's files.

:class:`OutputLock` is an exclusive lock on ``<folder>/.robustmq.lock`` (``flock`` through
:mod:`filelock`: the system drops it when the holder dies, even by SIGKILL); the holder's pid,
host and start time are written beside it (``.robustmq.lock.json``) so that a second run is told
who holds the folder (:class:`OutputInUseError`). :func:`rotate_previous` moves an earlier run's
journal and result files into ``previous-<UTC time of their last write>/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from robustmq._fs import atomic_path
from robustmq.exceptions import RobustMQError
from robustmq.results.journal import JOURNAL_NAME

__all__ = ["LOCK_NAME", "RUN_FILES", "OutputInUseError", "OutputLock", "rotate_previous"]

LOCK_NAME = ".robustmq.lock"
INFO_NAME = ".robustmq.lock.json"
#: The files a run writes into its output folder.
RUN_FILES = (JOURNAL_NAME, "results.json", "results.csv", "table.md")


class OutputInUseError(RobustMQError, BlockingIOError):
    """Another run holds the output folder (the message names the folder and the holder)."""


def _holder(folder: Path) -> str:
    try:
        info = json.loads((folder / INFO_NAME).read_text(encoding="utf-8"))
        return (
            f"pid {info['pid']} on host {info['host']}, started {info['started']} "
            f"({' '.join(map(str, info.get('argv', [])))})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return f"a run that has not said who it is (see {folder / LOCK_NAME})"


class OutputLock:
    """The exclusive hold of one run on an output folder (:meth:`acquire`, :meth:`release`)."""

    def __init__(self, folder: Path, lock: FileLock) -> None:
        self.folder = folder
        self._lock = lock

    @classmethod
    def acquire(cls, folder: Path, started: dt.datetime | None = None) -> OutputLock:
        """Hold ``folder`` (created if missing) or raise OutputInUseError naming its holder."""
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / LOCK_NAME), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise OutputInUseError(
                f"output folder {folder.absolute()} is in use by another run: {_holder(folder)}; "
                "wait for it to finish or choose another folder (--rmq-output)"
            ) from None
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "host": platform.node(),
            "started": (started or dt.datetime.now(dt.timezone.utc)).isoformat(),
            "argv": sys.argv,
        }
        with atomic_path(folder / INFO_NAME) as tmp:
            tmp.write_text(json.dumps(info) + "\n", encoding="utf-8")
        return cls(folder, lock)

    @property
    def held(self) -> bool:
        """Whether this lock still holds its folder."""
        return bool(self._lock.is_locked)

    def release(self) -> None:
        """Give the folder up (the holder's info is removed first); a second call does nothing."""
        if self.held:
            (self.folder / INFO_NAME).unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def rotate_previous(folder: Path) -> Path | None:
    """Move an earlier run's files (:data:`RUN_FILES`) into ``folder/previous-<time>/``, named
    by the UTC time of their last write; returns that folder (None: there was nothing to move)."""
    found = [folder / name for name in RUN_FILES if (folder / name).is_file()]
    if not found:
        return None
    last = max(path.stat().st_mtime for path in found)
    stamp = dt.datetime.fromtimestamp(last, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target, n = folder / f"previous-{stamp}", 1
    while target.exists():
        n += 1
        target = folder / f"previous-{stamp}-{n}"
    target.mkdir()
    for path in found:
        os.replace(path, target / path.name)
    return target
