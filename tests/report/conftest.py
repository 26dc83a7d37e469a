"""Fabricated output folders for the report tests (no model is run; records: ``make_record``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from robustmq.benchmark.settings import BenchSettings
from robustmq.results.record import Record
from robustmq.results.storage import write_results


def write_run(
    folder: Path,
    records: Sequence[Record],
    versions: dict[str, str] | None = None,
    **settings: Any,
) -> Path:
    """Write a results.json (and csv, table) of ``records`` with these settings into ``folder``;
    its sample sets are those the records name (10 ids each)."""
    digests = sorted({str(r.settings["sample_ids_sha256"]) for r in records})
    run = {
        "settings": {**BenchSettings(output=str(folder)).to_dict(), **settings},
        "versions": versions or {"robustmq": "0.1.0", "torch": "2.0"},
        "host": folder.name,
        "sample_sets": {digest: [f"img{i}" for i in range(10)] for digest in digests},
    }
    write_results(folder, run, records)
    return folder


@pytest.fixture
def make_run() -> Callable[..., Path]:
    """:func:`write_run`: a fabricated output folder."""
    return write_run
