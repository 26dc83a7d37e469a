"""Per-model summary of the natural family (the natural family's ``summarize``).

Values (fractions): ``mnr`` (mean natural robustness), ``mce`` (mean corruption error against
AlexNet), ``rel_mce`` (against the float model of the same architecture, when its natural cells
are among the records) and the group means ``mnr_noise``, ``mnr_blur``, ``mnr_weather``,
``mnr_digital``. Only corruptions with all five severities count; the flag ``natural_partial``
says that fewer than the 15 corruptions did.
"""

from __future__ import annotations

from collections.abc import Sequence

from robustmq.cells import FLOAT
from robustmq.noise.natural import metrics
from robustmq.noise.natural.corruptions import corruption_names
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = ["FAMILY", "accuracies", "summarize_natural"]

FAMILY = "natural"


def accuracies(records: Sequence[Record]) -> dict[tuple[str, int], float]:
    """``{(corruption, severity): accuracy}`` of the natural records among ``records``."""
    return {
        (str(r.params["corruption"]), int(r.params["severity"])): float(r.metrics["accuracy"])
        for r in records
        if r.family == FAMILY and "accuracy" in r.metrics
    }


def summarize_natural(
    model_records: Sequence[Record], all_records: Sequence[Record]
) -> ModelSummary:
    """mNR, mCE, relative mCE and group means of one model (empty without a full corruption)."""
    own = accuracies(model_records)
    value = metrics.mnr(own)
    if value is None:
        return ModelSummary()
    values = {"mnr": value}
    mce = metrics.mce(own)
    if mce is not None:
        values["mce"] = mce
    arch = model_records[0].arch
    reference = accuracies([r for r in all_records if r.arch == arch and r.quantizer == FLOAT])
    relative = metrics.relative_ce(own, reference)
    if relative:
        values["rel_mce"] = sum(relative.values()) / len(relative)
    values.update({f"mnr_{g}": v for g, v in metrics.group_means(own).items()})
    complete = len(metrics.corruption_accuracy(own))
    flags = ["natural_partial"] if complete < len(corruption_names()) else []
    return ModelSummary(values, flags)
