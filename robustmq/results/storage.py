"""Writing results: ``results.json``, ``results.csv`` and ``table.md`` when the run ends (each
finished cell is journaled earlier, as it arrives: :mod:`robustmq.results.journal`).

``results.json`` is an object: ``run`` (metadata: settings, versions, times, sample sets),
``summaries`` (per-model values such as WCAR, mNR, ACCs and model-level flags, keyed by model id)
and ``results`` (the list of records). Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from robustmq._fs import atomic_path
from robustmq.exceptions import RecordError, ResultsFileError
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary, summarize
from robustmq.results.table import build_table, render_markdown

_CSV_FIXED = [
    "cell",
    "arch",
    "quantizer",
    "bits",
    "family",
    "noise",
    "params",
    "n_samples",
    "seed",
    "checkpoint_sha256",
    "device",
    "duration_s",
    "flags",
]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a partial file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def records_csv(records: Sequence[Record]) -> str:
    """CSV text: fixed columns, one ``metric.<name>`` column per metric present, then
    ``interval.<name>.low`` / ``.high`` per metric with a 95 % interval."""
    metric_names = sorted({m for r in records for m in r.metrics})
    bounded = sorted({m for r in records for m in r.intervals})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    ends = [f"interval.{m}.{end}" for m in bounded for end in ("low", "high")]
    writer.writerow(_CSV_FIXED + [f"metric.{m}" for m in metric_names] + ends)
    for r in records:
        row: list[Any] = [
            r.cell,
            r.arch,
            r.quantizer,
            "" if r.bits is None else r.bits,
            r.family,
            r.noise,
            json.dumps(r.params, sort_keys=True),
            r.n_samples,
            r.seed,
            r.checkpoint_sha256 or "",
            r.device,
            r.duration_s,
            ";".join(r.flags),
        ]
        row += [r.metrics.get(m, "") for m in metric_names]
        row += [r.intervals[m][i] if m in r.intervals else "" for m in bounded for i in (0, 1)]
        writer.writerow(row)
    return buf.getvalue()


def write_results(
    output: Path,
    run: dict[str, Any],
    records: Iterable[Record],
    summaries: dict[str, ModelSummary] | None = None,
) -> list[Path]:
    """Write results.json, results.csv and table.md into ``output``; returns the paths."""
    records = sorted(records, key=lambda r: r.cell)
    if summaries is None:
        summaries = summarize(records)
    paths = [output / "results.json", output / "results.csv", output / "table.md"]
    document = {
        "run": run,
        "summaries": {k: summaries[k].to_json() for k in sorted(summaries)},
        "results": [r.to_json() for r in records],
    }
    atomic_write(paths[0], json.dumps(document, indent=1) + "\n")
    atomic_write(paths[1], records_csv(records))
    atomic_write(paths[2], render_markdown(build_table(records, summaries)))
    return paths


#: Parts of ``run`` that readers use, and the JSON type each must have.
_RUN_FIELDS = {"settings": dict, "sample_sets": dict, "versions": dict}


def read_results(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[Record]]:
    """Load a ``results.json`` written by :func:`write_results`: its ``run`` and its records.

    A file that cannot be read, is not JSON, or has the wrong shape (not an object with a list
    ``results`` and an object ``run``), or a record with a missing or mistyped field, is a
    :class:`~robustmq.exceptions.ResultsFileError` naming the file and the field.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path}: cannot be read ({exc})") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ResultsFileError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        shown = type(data.get("results")).__name__ if isinstance(data, dict) else "not an object"
        raise ResultsFileError(
            f"{path}: expected an object with 'run' and 'results' (a list of records; a RobustMQ "
            f"results.json), got {type(data).__name__} ('results': {shown})"
        )
    run = data.get("run", {})
    if not isinstance(run, dict):
        raise ResultsFileError(f"{path}: field 'run' is {type(run).__name__}; expected an object")
    for name, kind in _RUN_FIELDS.items():
        if name in run and not isinstance(run[name], kind):
            raise ResultsFileError(
                f"{path}: field 'run.{name}' is {type(run[name]).__name__}; expected an object"
            )
    return run, [read_record(r, f"{path}: results[{i}]") for i, r in enumerate(data["results"])]


def read_record(data: object, where: str) -> Record:
    """A record from its JSON value; anything else is a ResultsFileError starting with ``where``."""
    if not isinstance(data, dict):
        raise ResultsFileError(f"{where}: expected a record object, got {type(data).__name__}")
    try:
        return Record.from_json(data)
    except RecordError as exc:
        raise ResultsFileError(f"{where}: {exc}") from exc
