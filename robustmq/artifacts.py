"""Content-addressed artifacts on disk: built once, shared by every process, never seen half-made.

An artifact is a file whose name the caller derives from a content key (a zoo checkpoint, a
corrupted set, a pre-processed set), so a file that is present and valid is the right one.
:func:`ensure` is the one way such files are made: check; if something is missing, take a file lock;
check again (another process may have built it while this one waited); build what is still missing.
Builders write through :func:`write_artifact`: the data goes to a temporary file that is renamed
into place, then the JSON sidecar (if any) is written the same way, last, so an artifact whose
sidecar is present is complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from filelock import FileLock

from robustmq._fs import atomic_path
from robustmq.exceptions import RobustMQError

__all__ = [
    "ensure",
    "ensure_one",
    "lock_path",
    "read_sidecar",
    "sidecar_path",
    "write_artifact",
]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def lock_path(path: Path) -> Path:
    """The default lock of an artifact: ``<path>.lock`` beside it."""
    return path.with_name(path.name + ".lock")


def sidecar_path(path: Path) -> Path:
    """An artifact's JSON sidecar: the same name with the suffix ``.json``."""
    return path.with_suffix(".json")


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar of the artifact ``path`` as a dict; None when it is absent or unreadable."""
    try:
        meta = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def write_artifact(
    path: Path, write: Callable[[IO[bytes]], None], sidecar: Mapping[str, Any] | None = None
) -> None:
    """Write ``path`` with ``write(file)`` atomically, then its sidecar (if given), last.

    An old sidecar is removed first, so a crash in between leaves an artifact without a sidecar
    (incomplete), never a sidecar describing other bytes. The sidecar holds
    ``json.dumps(sidecar, indent=1)``, keys in the order given. If ``write`` raises, ``path`` is
    left as it was and nothing else is written.
    """
    if sidecar is not None:
        sidecar_path(path).unlink(missing_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
    if sidecar is not None:
        text = json.dumps(sidecar, indent=1).encode()
        with atomic_path(sidecar_path(path)) as tmp:
            tmp.write_bytes(text)


def ensure(
    keys: Sequence[K],
    validate: Callable[[K], T | None],
    build: Callable[[list[K]], Iterable[tuple[K, T]]],
    *,
    lock: Path,
) -> dict[K, T]:
    """The artifact of every key, building the missing ones once, whichever process asks.

    ``validate(key)`` returns the artifact's value when it is on disk and valid, None otherwise.
    When some are missing, the file lock ``lock`` is taken, they are checked again, and
    ``build(missing)`` is called with those still missing (in the order of ``keys``); it writes
    each (through :func:`write_artifact` or another atomic write) and yields ``(key, value)``.
    Returns every key's value, in the order of ``keys``; a key ``build`` does not yield is a
    :class:`~robustmq.exceptions.RobustMQError`.
    """
    found: dict[K, T | None] = {key: validate(key) for key in keys}
    if any(value is None for value in found.values()):
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock)):
            missing = [key for key, value in found.items() if value is None]
            found.update({key: validate(key) for key in missing})
            missing = [key for key in missing if found[key] is None]
            for key, value in build(missing) if missing else ():
                if key in found:
                    found[key] = value
    result = {key: value for key, value in found.items() if value is not None}
    if len(result) < len(found):
        absent = [key for key in found if key not in result]
        raise RobustMQError(f"building the missing artifacts did not produce {absent}")
    return result


def ensure_one(
    path: Path,
    validate: Callable[[Path], T | None],
    build: Callable[[Path], T],
    *,
    lock: Path | None = None,
) -> T:
    """The value of the artifact ``path``, built once by :func:`ensure` when it is not valid.

    ``build(path)`` writes it atomically and returns its value; ``lock`` defaults to
    :func:`lock_path`.
    """
    found = ensure(
        [path],
        validate,
        lambda missing: [(path, build(path))],
        lock=lock_path(path) if lock is None else lock,
    )
    return found[path]
