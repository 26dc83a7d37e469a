"""The benchmark table: one row per model (float model of each architecture first).

Columns come from the records present: one per (family, noise) with its family's headline
metrics (its declared :class:`~robustmq.results.family.Metric` s, in family order), then the
per-model summaries of the noise families (WCAR, mNR, ACCs..., see :mod:`~.summary`),
then the flags of the model's cells and of its summaries. Values are percentages with one
decimal; a cell's headline metrics show their 95 % intervals where the record has them. Rendered
as aligned text for the terminal and as Markdown. A compact table (``max_cell_columns``) drops the
per-cell columns of a family that has more than that many, keeping its summaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from robustmq.cells import FLOAT, GRID_ARCHS
from robustmq.results.family import FAMILIES, Family, family_order
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary, summarize


@dataclass(frozen=True)
class Table:
    """Header and rows of strings."""

    header: list[str]
    rows: list[list[str]]


def _model_key(r: Record) -> tuple[int, str, int, str, int]:
    arch_rank = GRID_ARCHS.index(r.arch) if r.arch in GRID_ARCHS else len(GRID_ARCHS)
    return (arch_rank, r.arch, r.quantizer != FLOAT, r.quantizer, r.bits or 0)


def _natural(text: str) -> tuple[tuple[int, float, str], ...]:
    """Sort key that orders numbers by value: eps2 < eps8 < eps64, s2 < s10."""
    parts = re.split(r"(\d+(?:\.\d+)?)", text)
    return tuple((1, float(p), "") if i % 2 else (0, 0.0, p) for i, p in enumerate(parts) if p)


def _family(name: str) -> Family | None:
    return FAMILIES.get(name) if name in FAMILIES else None


def _column_key(family: str, noise: str) -> tuple[object, ...]:
    known = _family(family)
    rank = (0, known.order) if known is not None else (1, 0)  # unregistered families last
    return (rank, family, _natural(noise))


def _header(family: str, noise: str) -> str:
    known = _family(family)
    return noise + (known.header_suffix if known is not None else "")


def _cell_text(r: Record, intervals: str) -> str:
    known = _family(r.family)
    names = [n for n in (known.headline if known is not None else ()) if n in r.metrics]
    if not names:
        names = list(r.metrics)[:1]
    return "/".join(_with_interval(r.metrics[n], r.intervals.get(n), intervals) for n in names)


def _with_interval(value: float, interval: list[float] | None, style: str) -> str:
    """``91.0 [88.2, 93.2]`` (full), ``91.0±2.6`` (compact: the wider side) or ``91.0`` (none)."""
    text = _percent(value)
    if interval is None or style == "none":
        return text
    low, high = interval
    if style == "compact":
        return f"{text}±{100 * max(value - low, high - value):.1f}"
    return f"{text} [{_percent(low)}, {_percent(high)}]"


def _summary_text(value: float | None, interval: list[float] | None, style: str, unit: str) -> str:
    """A summary value in % with its interval, or a whole number where its unit is ``images``."""
    if value is None:
        return ""
    if unit == "images":
        return f"{value:.0f}"
    return _with_interval(value, interval, style)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def build_table(
    records: Iterable[Record],
    summaries: dict[str, ModelSummary] | None = None,
    max_cell_columns: int | None = None,
    intervals: str = "full",
) -> Table:
    """Pivot records into rows per model (summaries computed when not given).

    ``intervals``: how a cell shows the 95 % intervals its record carries: ``full``
    (``91.0 [88.2, 93.2]``), ``compact`` (``91.0±2.6``, the wider side) or ``none``.
    """
    records = list(records)
    if summaries is None:
        summaries = summarize(records)
    columns = sorted({(r.family, r.noise) for r in records}, key=lambda c: _column_key(*c))
    if max_cell_columns is not None:
        per_family: dict[str, int] = {}
        for family, _ in columns:
            per_family[family] = per_family.get(family, 0) + 1
        columns = [c for c in columns if per_family[c[0]] <= max_cell_columns]
    summary_columns: list[str] = []
    units = {m.name: m.unit for f in family_order() for m in f.summary_metrics}
    for summary in summaries.values():
        summary_columns += [k for k in summary.values if k not in summary_columns]
    by_model: dict[tuple[int, str, int, str, int], dict[tuple[str, str], Record]] = {}
    for r in records:
        by_model.setdefault(_model_key(r), {})[(r.family, r.noise)] = r
    header = [
        "arch",
        "quantizer",
        "bits",
        *(_header(family, noise) for family, noise in columns),
        *summary_columns,
        "flags",
    ]
    rows = []
    for key in sorted(by_model):
        cells = by_model[key]
        any_record = next(iter(cells.values()))
        row = [any_record.arch, any_record.quantizer, str(any_record.bits or "-")]
        flags: set[str] = set()
        for column in columns:
            cell = cells.get(column)
            text = _cell_text(cell, intervals) if cell else ""
            if cell is not None and "not_converged" in cell.flags:
                text = f"{text} NC"
            row.append(text)
            flags.update(cell.flags if cell else [])
        summary = summaries.get(any_record.model_id, ModelSummary())
        row += [
            _summary_text(
                summary.values.get(name),
                summary.intervals.get(name),
                intervals,
                units.get(name, "fraction"),
            )
            for name in summary_columns
        ]
        flags.update(summary.flags)
        row.append(", ".join(sorted(flags)))
        rows.append(row)
    return Table(header, rows)


def render_text(table: Table) -> list[str]:
    """Aligned plain-text lines."""
    widths = [max(len(c), *(len(r[i]) for r in table.rows)) for i, c in enumerate(table.header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(table.header), line(["-" * w for w in widths]), *(line(r) for r in table.rows)]


def render_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(r) + " |" for r in table.rows]
    return "\n".join(lines) + "\n"
