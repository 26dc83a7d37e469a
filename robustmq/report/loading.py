"""Reading a run's output folder, and the per-model values the report, plots and findings use.

A run is read from ``results.json`` (a folder holding one, or the file itself). A folder whose run
died before writing it is read from its journal, ``journal.jsonl`` (lines ``{"key", "record"}``),
or from the ``records.jsonl`` of older runs (one record per line); the last line of a cell wins, a
torn line is skipped (an entry appended to it is still read), and the settings are taken from the
records. A file that cannot be read, has the wrong shape, holds a record with a missing or
mistyped field, or holds no record at all is a ResultsFileError naming the file and the field.
Summaries (WCAR, mNR,
ACCs...) are always recomputed from the records with :func:`robustmq.results.summary.summarize`,
so every command uses the current definitions, also across merged folders.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import robustmq.noise  # noqa: F401  (registers the built-in families: summaries, settings)
from robustmq.benchmark.options import HARNESS_OPTIONS, family_options
from robustmq.cells import FLOAT, GRID_ARCHS
from robustmq.exceptions import ResultsFileError
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names
from robustmq.noise.systematic.variants import list_variants
from robustmq.results.record import Record
from robustmq.results.storage import read_record, read_results
from robustmq.results.summary import ModelSummary, summarize

__all__ = [
    "CORRUPTIONS",
    "NOT_CONVERGED",
    "VARIANTS",
    "ModelValues",
    "ResultsFileError",
    "RunData",
    "arch_order",
    "corruption_accuracy",
    "load_run",
    "model_values",
    "variant_accuracy",
]

#: Flag of a model whose training did not converge.
NOT_CONVERGED = "not_converged"
#: Files a folder without results.json is read from, in this order.
JOURNALS = ("journal.jsonl", "records.jsonl")
#: The 15 ImageNet-C corruptions in the protocol's order (noise, blur, weather, digital).
CORRUPTIONS = tuple(corruption_names())
#: The 14 systematic variants: decoders, then Pillow and OpenCV resize methods.
VARIANTS = tuple(list_variants())


@dataclass(frozen=True)
class RunData:
    """One run as read from disk: where from, its ``run`` metadata and its records."""

    path: Path
    source: Path
    run: dict[str, Any]
    records: list[Record]

    @property
    def settings(self) -> dict[str, Any]:
        """The run's benchmark settings (``run.settings``)."""
        settings = self.run.get("settings", {})
        return dict(settings) if isinstance(settings, dict) else {}

    def summaries(self) -> dict[str, ModelSummary]:
        """Per-model summaries recomputed from the records."""
        return summarize(self.records)


def _text(path: Path, errors: str = "strict") -> str:
    try:
        return path.read_text(encoding="utf-8", errors=errors)
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path}: cannot be read ({exc})") from exc


def _read_json(path: Path) -> RunData:
    run, records = read_results(path)
    if not records:
        raise ResultsFileError(f"{path}: holds no records; expected a finished run's results")
    return RunData(path.parent, path, dict(run), records)


def _entries(line: str) -> list[object]:
    """The JSON values on a journal line: one, or those after a torn line that the next entry was
    appended to (a run killed mid-write, then resumed); none when the line is torn for good."""
    try:
        return [json.loads(line)]
    except json.JSONDecodeError:
        pass
    for start in (i for i in range(1, len(line)) if line.startswith('{"key": ', i)):
        try:
            return [json.loads(line[start:])]
        except json.JSONDecodeError:
            continue
    return []


def _read_jsonl(path: Path) -> RunData:
    by_cell: dict[str, Record] = {}
    torn = 0
    for number, line in enumerate(_text(path, "replace").splitlines(), 1):
        if not line.strip():
            continue
        found = _entries(line)
        torn += not found  # a line cut short by a crash: the cell is simply not there
        for data in found:
            if isinstance(data, dict) and isinstance(data.get("record"), dict):
                data = data["record"]  # a journal entry
            record = read_record(data, f"{path}:{number}")
            by_cell[record.cell] = record
    if not by_cell:
        raise ResultsFileError(
            f"{path}: holds no complete record ({torn} torn lines); expected the journal of a run "
            "that finished at least one cell"
        )
    records = list(by_cell.values())
    names = {o.name for o in (*HARNESS_OPTIONS, *family_options())}
    settings = {k: v for k, v in records[0].settings.items() if k in names}
    run = {"settings": settings, "sample_sets": {}, "n_records": len(records)}
    return RunData(path.parent, path, run, records)


def load_run(path: str | Path) -> RunData:
    """Read a run from a folder (``results.json``, else its journal) or from one such file."""
    path = Path(path)
    if path.is_file():
        return _read_jsonl(path) if path.suffix == ".jsonl" else _read_json(path)
    if not path.is_dir():
        raise ResultsFileError(f"{path}: no such folder; expected a benchmark output folder")
    if (path / "results.json").is_file():
        return _read_json(path / "results.json")
    for name in JOURNALS:
        if (path / name).is_file():
            return _read_jsonl(path / name)
    raise ResultsFileError(
        f"{path}: holds neither results.json nor {' nor '.join(JOURNALS)}; "
        "expected a benchmark output folder"
    )


@dataclass(frozen=True)
class ModelValues:
    """What a run measured of one model: clean accuracy, summary values, convergence."""

    model_id: str
    arch: str
    quantizer: str
    bits: int | None
    clean: float | None
    values: dict[str, float] = field(default_factory=dict)
    converged: bool = True

    @property
    def is_float(self) -> bool:
        """True for the float model of its architecture."""
        return self.quantizer == FLOAT

    def get(self, name: str) -> float | None:
        """``clean`` for the clean accuracy, else the summary value (None when absent)."""
        return self.clean if name == "clean" else self.values.get(name)


def arch_order(archs: Iterable[str]) -> list[str]:
    """Architectures in the grid's order, unknown ones after (alphabetically)."""
    known = [a for a in GRID_ARCHS if a in set(archs)]
    return known + sorted(set(archs) - set(GRID_ARCHS))


def model_values(
    records: Sequence[Record], summaries: dict[str, ModelSummary] | None = None
) -> dict[str, ModelValues]:
    """Per-model values keyed by model id (summaries recomputed when not given)."""
    if summaries is None:
        summaries = summarize(records)
    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model_id, []).append(r)
    result: dict[str, ModelValues] = {}
    for model_id, own in by_model.items():
        clean = next(
            (r.metrics["accuracy"] for r in own if r.family == "clean" and "accuracy" in r.metrics),
            None,
        )
        summary = summaries.get(model_id, ModelSummary())
        converged = not any(NOT_CONVERGED in r.flags for r in own) and (
            NOT_CONVERGED not in summary.flags
        )
        first = own[0]
        result[model_id] = ModelValues(
            model_id,
            first.arch,
            first.quantizer,
            first.bits,
            None if clean is None else float(clean),
            {k: float(v) for k, v in summary.values.items()},
            converged,
        )
    return result


def corruption_accuracy(records: Iterable[Record]) -> dict[str, float]:
    """Per-corruption accuracy (mean over the five severities, complete ones only) of one model."""
    by_key: dict[tuple[str, int], float] = {}
    for r in records:
        if r.family != "natural" or "accuracy" not in r.metrics:
            continue
        name, severity = r.params.get("corruption"), r.params.get("severity")
        if name is None or severity is None:  # fall back on the noise name, e.g. "fog-s3"
            name, _, tail = r.noise.rpartition("-s")
            severity = int(tail) if tail.isdigit() else None
        if name and severity is not None:
            by_key[(str(name), int(severity))] = float(r.metrics["accuracy"])
    names = sorted({name for name, _ in by_key})
    return {
        n: sum(by_key[(n, s)] for s in SEVERITIES) / len(SEVERITIES)
        for n in names
        if all((n, s) in by_key for s in SEVERITIES)
    }


def variant_accuracy(records: Iterable[Record]) -> dict[str, float]:
    """Accuracy per systematic variant (``noise``) of one model's records."""
    return {
        r.noise: float(r.metrics["accuracy"])
        for r in records
        if r.family == "systematic" and "accuracy" in r.metrics
    }
