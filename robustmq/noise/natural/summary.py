"""Per-model summary of the natural family (the natural family's ``summarize``).

Values (fractions): ``mnr`` (mean natural robustness), ``mce`` (mean corruption error against
AlexNet), ``rel_mce`` (against the float model of the same architecture, when its natural cells
are among the records) and the group means ``mnr_noise``, ``mnr_blur``, ``mnr_weather``,
``mnr_digital``. Only corruptions with all five severities count; the flag ``natural_partial``
says that fewer than the 15 corruptions did.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustmq.cells import FLOAT
from robustmq.noise.natural import metrics
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names
from robustmq.results.intervals import mean_interval
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
    return ModelSummary(values, flags, _intervals(model_records))


def _intervals(model_records: Sequence[Record]) -> dict[str, list[float]]:
    """95 % paired-bootstrap intervals of mNR and mCE over the images (the natural cells share one
    sample set): both are means over the images of one per-sample value."""
    cells = {
        (str(r.params["corruption"]), int(r.params["severity"])): r
        for r in model_records
        if r.family == FAMILY and "corruption" in r.params
    }
    names = list(metrics.corruption_accuracy({k: 0.0 for k in cells}))  # complete corruptions
    sizes = {cells[(n, s)].n_samples for n in names for s in SEVERITIES}
    if not names or len(sizes) != 1:
        return {}
    right = {
        n: np.stack([cells[(n, s)].correct_vector().numpy() for s in SEVERITIES]).astype(float)
        for n in names
    }
    accuracy = np.mean([right[n].mean(0) for n in names], axis=0)
    error = np.mean(
        [(1 - right[n]).sum(0) / (len(SEVERITIES) * metrics.ALEXNET_ERRORS[n]) for n in names],
        axis=0,
    )
    key = (cells[(names[0], SEVERITIES[0])].seed, model_records[0].model_id)
    return {
        "mnr": mean_interval(accuracy, (*key, "mnr")),
        "mce": mean_interval(error, (*key, "mce")),
    }
