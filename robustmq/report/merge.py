"""Merging several output folders (shards of one run, e.g. one per node) into one.

Folders merge only when they measured the same thing. Refused, naming the folder and the key:

- a run setting that changes the numbers differs (:data:`IGNORED_SETTINGS` lists the ones that do
  not: where files live, what a failure does, resume and the regression gate; ``device`` is
  compared by type, so ``cuda:0`` and ``cuda:1`` agree; a key one folder lacks differs);
- the evaluation sample sets differ (``sample_ids_sha256`` of the records);
- one model was evaluated from checkpoints with different sha256 in two folders;
- one cell is in two folders with different numbers (metrics, per-sample correctness, sample
  count, params, seed or checkpoint); identical duplicates are kept once.

Library versions that differ are not refused but reported as warnings. The merged run's summaries
are recomputed from all records (WCAR spans the cells of a model wherever they ran).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustmq.benchmark.options import neutral_settings
from robustmq.benchmark.validation import check_folder
from robustmq.exceptions import RobustMQError
from robustmq.report.loading import RunData
from robustmq.results.record import Record
from robustmq.results.storage import write_results

__all__ = [
    "IGNORED_SETTINGS",
    "MergeConflictError",
    "MergeResult",
    "merge_runs",
    "numbers_of",
    "write_merged",
]

#: Run settings that change no number: where files live (the samples and checkpoints themselves
#: are compared by sha256), what a failure does, resuming and the regression gate.
IGNORED_SETTINGS = neutral_settings() | {"data_root", "checkpoints", "zoo_root"}
#: Record fields that make up a cell's numbers (duplicates must agree on all of them).
NUMBER_FIELDS = ("metrics", "correct", "n_samples", "params", "seed", "checkpoint_sha256")

_ABSENT = object()


class MergeConflictError(RobustMQError, ValueError):
    """Folders that cannot be merged: their settings or their numbers disagree."""


@dataclass(frozen=True)
class MergeResult:
    """The merged run metadata and records, and warnings (e.g. differing library versions)."""

    run: dict[str, Any]
    records: list[Record]
    duplicates: int = 0
    warnings: list[str] = field(default_factory=list)


def numbers_of(record: Record) -> dict[str, Any]:
    """The fields of a record that make up its numbers (see :data:`NUMBER_FIELDS`)."""
    data = record.to_json()
    return {name: data[name] for name in NUMBER_FIELDS}


def _normalized(key: str, value: Any) -> Any:
    if key == "device" and isinstance(value, str):
        return value.split(":")[0]
    return value


def _show(value: Any) -> str:
    return "absent" if value is _ABSENT else repr(value)


def _setting_conflicts(first: RunData, other: RunData, ignored: frozenset[str]) -> list[str]:
    a, b = first.settings, other.settings
    problems = []
    for key in sorted((set(a) | set(b)) - ignored):
        va, vb = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if _normalized(key, va) != _normalized(key, vb):
            problems.append(
                f"{other.source}: setting {key}={_show(vb)} differs from {first.source}'s "
                f"{key}={_show(va)}"
            )
    return problems


def _sample_digests(run: RunData) -> set[str]:
    return {str(r.settings.get("sample_ids_sha256")) for r in run.records}


def _describe_difference(a: Record, b: Record) -> str:
    na, nb = numbers_of(a), numbers_of(b)
    keys = [k for k in NUMBER_FIELDS if na[k] != nb[k]]
    if "metrics" in keys:
        metrics = sorted(
            m for m in set(a.metrics) | set(b.metrics) if a.metrics.get(m) != b.metrics.get(m)
        )
        parts = [f"{m} {a.metrics.get(m)!r} vs {b.metrics.get(m)!r}" for m in metrics]
        return "metrics differ (" + ", ".join(parts) + ")"
    return ", ".join(keys) + " differ"


def merge_runs(runs: Sequence[RunData], ignore: Iterable[str] = ()) -> MergeResult:
    """Merge runs that measured the same thing; MergeConflictError names what disagrees."""
    if not runs:
        raise MergeConflictError("nothing to merge; expected one or more output folders")
    ignored = IGNORED_SETTINGS | frozenset(ignore)
    first = runs[0]
    problems: list[str] = []
    for other in runs[1:]:
        problems += _setting_conflicts(first, other, ignored)
    digests = {run.source: _sample_digests(run) for run in runs if run.records}
    reference = next(iter(digests.items()), None)
    if reference is not None and "sample_ids_sha256" not in ignored:
        for source, own in digests.items():
            if own != reference[1]:
                problems.append(
                    f"{source}: evaluation samples (sample_ids_sha256 {sorted(own)}) differ from "
                    f"{reference[0]}'s ({sorted(reference[1])})"
                )
    if problems:
        raise MergeConflictError(
            "cannot merge: " + "; ".join(problems) + " (settings that change the numbers must "
            "agree; --ignore-setting KEY merges anyway)"
        )

    checkpoints: dict[str, tuple[str | None, Path]] = {}
    merged: dict[str, tuple[Record, Path]] = {}
    duplicates = 0
    for run in runs:
        for record in run.records:
            seen = checkpoints.setdefault(record.model_id, (record.checkpoint_sha256, run.source))
            if seen[0] != record.checkpoint_sha256:
                problems.append(
                    f"model {record.model_id}: checkpoint sha256 {record.checkpoint_sha256} in "
                    f"{run.source} but {seen[0]} in {seen[1]}"
                )
            if record.cell in merged:
                kept, where = merged[record.cell]
                if numbers_of(kept) != numbers_of(record):
                    problems.append(
                        f"cell {record.cell} is in {where} and {run.source} with different "
                        f"numbers: {_describe_difference(kept, record)}"
                    )
                duplicates += 1
                continue
            merged[record.cell] = (record, run.source)
    if problems:
        shown = problems[:10] + ([f"and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise MergeConflictError("cannot merge: " + "; ".join(shown))

    warnings = _version_warnings(runs)
    records = sorted((r for r, _ in merged.values()), key=lambda r: r.cell)
    return MergeResult(_merged_run(runs, records, warnings), records, duplicates, warnings)


def _version_warnings(runs: Sequence[RunData]) -> list[str]:
    values: dict[str, dict[str, list[str]]] = {}
    for run in runs:
        versions = run.run.get("versions")
        if not isinstance(versions, dict):
            versions = run.records[0].versions if run.records else {}
        for name, version in versions.items():
            values.setdefault(name, {}).setdefault(str(version), []).append(str(run.source))
    return [
        f"library {name} differs: "
        + "; ".join(f"{v} in {', '.join(paths)}" for v, paths in sorted(found.items()))
        for name, found in sorted(values.items())
        if len(found) > 1
    ]


def _merged_run(
    runs: Sequence[RunData], records: Sequence[Record], warnings: list[str]
) -> dict[str, Any]:
    sample_sets: dict[str, Any] = {}
    for run in runs:
        sets = run.run.get("sample_sets")
        if isinstance(sets, dict):
            sample_sets.update(sets)
    started = [str(r.run["started"]) for r in runs if r.run.get("started")]
    finished = [str(r.run["finished"]) for r in runs if r.run.get("finished")]
    return {
        "started": min(started) if started else None,
        "finished": max(finished) if finished else None,
        "settings": runs[0].settings,
        "versions": runs[0].run.get("versions", {}),
        "host": ", ".join(sorted({str(r.run.get("host")) for r in runs if r.run.get("host")})),
        "n_records": len(records),
        "sample_sets": sample_sets,
        "merged_from": [
            {
                "source": str(r.source),
                "host": r.run.get("host"),
                "started": r.run.get("started"),
                "finished": r.run.get("finished"),
                "argv": r.run.get("argv"),
                "n_records": len(r.records),
            }
            for r in runs
        ],
        "merge_warnings": warnings,
    }


def write_merged(output: str | Path, result: MergeResult) -> list[Path]:
    """Write the merged results.json, results.csv and table.md into ``output`` (a file there, or
    a folder that cannot be written, is an InvalidOptionError naming ``--output``)."""
    check_folder("--output", output)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    run = dict(result.run)
    run["settings"] = {**run.get("settings", {}), "output": str(output)}
    return write_results(output, run, result.records)
