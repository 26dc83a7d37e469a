"""Per-model summaries computed on the controller from all records of a run (WCAR, mNR, ACCs...).

A noise family registers one summarizer under its family name in :data:`SUMMARIZERS`. It receives
the records of one model (all families, every cell of that model present in the run) and all
records of the run (so that, for example, a quantized model can be compared with the float model
of its architecture), and returns a :class:`ModelSummary`: named values (fractions, shown in the
table as percentages) and model-level flags. A family without records of a model returns an empty
summary for it.

Summarizers are registered when their family module is imported; :func:`summarize` imports the
known family modules first, so the controller sees every summarizer even if no cell of that family
ran in this process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from robustmq.exceptions import UnknownNameError
from robustmq.registry import Registry
from robustmq.results.record import Record

__all__ = ["SUMMARIZERS", "ModelSummary", "Summarizer", "summarize"]


@dataclass(frozen=True)
class ModelSummary:
    """Named per-model values (fractions in [0, 1] unless the name says otherwise) and flags."""

    values: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """Plain JSON form."""
        return {"values": dict(self.values), "flags": list(self.flags)}


#: ``summarizer(model_records, all_records) -> ModelSummary``.
Summarizer = Callable[[Sequence[Record], Sequence[Record]], ModelSummary]

SUMMARIZERS: Registry[Summarizer] = Registry("summarizer", UnknownNameError)

#: Modules that register a summarizer when imported (one per noise family).
FAMILY_MODULES = (
    "robustmq.noise.adversarial.summary",
    "robustmq.noise.natural.summary",
    "robustmq.noise.systematic.summary",
)


def load_family_summarizers() -> None:
    """Import every family module that registers a summarizer (missing ones are skipped)."""
    for module in FAMILY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise


def summarize(records: Iterable[Record]) -> dict[str, ModelSummary]:
    """Every model's merged summary (values and flags of every family), keyed by model id."""
    load_family_summarizers()
    records = list(records)
    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model_id, []).append(r)
    result: dict[str, ModelSummary] = {}
    for model_id, own in by_model.items():
        values: dict[str, float] = {}
        flags: list[str] = []
        for name in SUMMARIZERS.names():
            summary = SUMMARIZERS.get(name)(own, records)
            values.update(summary.values)
            flags.extend(f for f in summary.flags if f not in flags)
        if values or flags:
            result[model_id] = ModelSummary(values, flags)
    return result
