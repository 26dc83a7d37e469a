"""Per-model summary of the systematic family (its ``summarize``): ACCs and its spread.

Values (fractions): ``accs`` (mean accuracy over the model's systematic cells), ``accs_std``
(population standard deviation) and ``accs_range`` (max - min). The protocol's ACCs averages over
all 14 variants; when a run holds fewer of them for a model (``-k`` selected some), the values are
over those present and the model gets the flag ``accs_partial``.
"""

from __future__ import annotations

from collections.abc import Sequence

from robustmq.noise.systematic.metrics import accs
from robustmq.noise.systematic.variants import list_variants
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = ["FAMILY", "PARTIAL_FLAG", "summarize_systematic"]

FAMILY = "systematic"
#: Flag of a model whose ACCs covers fewer than the 14 variants.
PARTIAL_FLAG = "accs_partial"


def summarize_systematic(model_records: Sequence[Record], _all: Sequence[Record]) -> ModelSummary:
    """ACCs, its std and range over the model's systematic cells (empty if it has none)."""
    accuracy = {
        r.noise: r.metrics["accuracy"]
        for r in model_records
        if r.family == FAMILY and "accuracy" in r.metrics
    }
    if not accuracy:
        return ModelSummary()
    flags = [] if set(list_variants()) <= set(accuracy) else [PARTIAL_FLAG]
    return ModelSummary(values=accs(accuracy.values()), flags=flags)
