"""Regenerating a run's ``table.md`` and ``results.csv`` from its records (summaries recomputed);
``table.md`` may end in extra Markdown sections (the ``cifar10`` reference comparison)."""

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
    sections: Sequence[str] = (),
) -> list[Path]:
    """Write ``results.csv`` and ``table.md`` (the table, then each of ``sections``, a blank line
    before each) into ``folder``; returns their paths."""
    folder = Path(folder)
    records = sorted(records, key=lambda r: r.cell)
    if summaries is None:
        summaries = summarize(records)
    paths = [folder / "results.csv", folder / "table.md"]
    atomic_write(paths[0], records_csv(records))
    markdown = render_markdown(build_table(records, summaries))
    atomic_write(paths[1], "".join([markdown, *(f"\n{section}" for section in sections)]))
    return paths
