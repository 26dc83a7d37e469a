"""Per-model summaries computed from all records of a run (WCAR, mNR, ACCs...).

Every registered noise family (:data:`robustmq.results.family.FAMILIES`) may summarize a model:
:meth:`~robustmq.results.family.Family.summarize` receives the records of one model (all families,
every cell of that model present in the run) and all records of the run (so that, for example, a
quantized model can be compared with the float model of its architecture) and returns a
:class:`ModelSummary`: named values (fractions, shown in the table as percentages) and model-level
flags. The built-in families are registered by importing :mod:`robustmq.noise`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from robustmq.exceptions import UnknownNameError
from robustmq.registry import Registry
from robustmq.results.family import family_order
from robustmq.results.record import Record

__all__ = ["SUMMARIZERS", "ModelSummary", "Summarizer", "summarize"]


@dataclass(frozen=True)
class ModelSummary:
    """Named per-model values (fractions in [0, 1] unless the name says otherwise) and flags."""

    values: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    #: 95 % paired-bootstrap intervals ``[low, high]`` of values, by name (where computed).
    intervals: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """Plain JSON form."""
        return {
            "values": dict(self.values),
            "flags": list(self.flags),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
        }


#: ``summarizer(model_records, all_records) -> ModelSummary``.
Summarizer = Callable[[Sequence[Record], Sequence[Record]], ModelSummary]

#: Extra summarizers outside any family (deprecated: give a family a ``summarize`` instead).
SUMMARIZERS: Registry[Summarizer] = Registry("summarizer", UnknownNameError)


def _summarizers() -> list[Callable[[Sequence[Record], Sequence[Record]], ModelSummary | None]]:
    extra = [SUMMARIZERS.get(n) for n in SUMMARIZERS]
    return [*(f.summarize for f in family_order()), *extra]


def summarize(records: Iterable[Record]) -> dict[str, ModelSummary]:
    """Every model's merged summary (values and flags of every family), keyed by model id."""
    records = list(records)
    summarizers = _summarizers()
    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model_id, []).append(r)
    result: dict[str, ModelSummary] = {}
    for model_id, own in by_model.items():
        values: dict[str, float] = {}
        flags: list[str] = []
        intervals: dict[str, list[float]] = {}
        for summarizer in summarizers:
            summary = summarizer(own, records)
            if summary is None:
                continue
            values.update(summary.values)
            intervals.update(summary.intervals)
            flags.extend(f for f in summary.flags if f not in flags)
        if values or flags:
            result[model_id] = ModelSummary(values, flags, intervals)
    return result
