"""Regenerating a run's ``table.md`` and ``results.csv`` from its records (summaries recomputed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from robustmq.results.record import Record
from robustmq.results.storage import atomic_write, records_csv
from robustmq.results.summary import ModelSummary, summarize
from robustmq.results.table import build_table, render_markdown

__all__ = ["write_tables"]


def write_tables(
    folder: str | Path,
    records: Sequence[Record],
    summaries: dict[str, ModelSummary] | None = None,
) -> list[Path]:
    """Write ``results.csv`` and ``table.md`` into ``folder``; returns their paths."""
    folder = Path(folder)
    records = sorted(records, key=lambda r: r.cell)
    if summaries is None:
        summaries = summarize(records)
    paths = [folder / "results.csv", folder / "table.md"]
    atomic_write(paths[0], records_csv(records))
    atomic_write(paths[1], render_markdown(build_table(records, summaries)))
    return paths
