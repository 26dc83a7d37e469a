"""The digests that name things: a JSON value, an ordered list of lines, a file's bytes.

Cache keys, recipe keys, journal keys and sample-set names are all one of these, so the same
value always gets the same name, in every module and every release that keeps these rules.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["sha256_file", "sha256_json", "sha256_lines"]


def sha256_json(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Hex sha256 of ``json.dumps(value, sort_keys=True)`` (``default`` as in ``json.dumps``)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=default).encode()).hexdigest()


def sha256_lines(lines: Iterable[str]) -> str:
    """Hex sha256 of the lines joined by newlines (an ordered list of sample ids, say)."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
