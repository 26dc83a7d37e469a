"""Per-model summary of the systematic family (its ``summarize``): ACCs and its spread.

Values (fractions): ``accs`` (mean accuracy over the model's systematic cells), ``accs_std``
(population standard deviation) and ``accs_range`` (max - min). The protocol's ACCs averages over
all 14 variants; when a run holds fewer of them for a model (``-k`` selected some), the values are
over those present and the model gets the flag ``accs_partial``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustmq.noise.systematic.metrics import accs
from robustmq.noise.systematic.variants import list_variants
from robustmq.results.intervals import mean_interval
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = ["FAMILY", "PARTIAL_FLAG", "summarize_systematic"]

FAMILY = "systematic"
#: Flag of a model whose ACCs covers fewer than the 14 variants.
PARTIAL_FLAG = "accs_partial"


def summarize_systematic(model_records: Sequence[Record], _all: Sequence[Record]) -> ModelSummary:
    """ACCs, its std and range over the model's systematic cells (empty if it has none)."""
    cells = {r.noise: r for r in model_records if r.family == FAMILY and "accuracy" in r.metrics}
    if not cells:
        return ModelSummary()
    flags = [] if set(list_variants()) <= set(cells) else [PARTIAL_FLAG]
    values = accs(r.metrics["accuracy"] for r in cells.values())
    intervals = {}
    if len({r.n_samples for r in cells.values()}) == 1:  # the variants share one sample set
        right = np.stack([r.correct_vector().numpy() for r in cells.values()]).astype(float)
        first = next(iter(cells.values()))
        intervals["accs"] = mean_interval(right.mean(0), (first.seed, first.model_id, "accs"))
    return ModelSummary(values, flags, intervals)
