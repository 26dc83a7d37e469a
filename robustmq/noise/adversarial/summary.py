"""Per-model summary of the adversarial family: WCAR and the budget-monotonicity flag.

WCAR (protocol): the fraction of clean-correct samples that stay correct under every adversarial
cell of the model present in the run, sample by sample. Cells may attack different class-balanced
subsets of the evaluation set (AutoAttack uses fewer images); WCAR is taken over the samples that
every cell attacked. The sanity cell (a diagnostic) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustmq.noise.adversarial.masking import BUDGET_NONMONOTONIC, budget_nonmonotonic
from robustmq.noise.adversarial.metrics import wcar
from robustmq.results.record import Record, unpack_correct
from robustmq.results.summary import ModelSummary

__all__ = ["summarize_adversarial"]


def _samples(r: Record) -> tuple[list[int], Tensor] | None:
    """(sample indices in the run's evaluation set, clean correctness) of a record, if stored."""
    details = r.settings.get("adversarial")
    if not isinstance(details, dict) or "sample_indices" not in details:
        return None
    indices = [int(i) for i in details["sample_indices"]]
    return indices, unpack_correct(details["clean_correct"], len(indices))


def model_wcar(records: Sequence[Record]) -> float | None:
    """WCAR over ``records`` (one model's adversarial cells); None when none carries samples."""
    usable = [(r, s) for r in records if (s := _samples(r)) is not None]
    if not usable:
        return None
    common = set(usable[0][1][0])
    for _, (indices, _clean) in usable[1:]:
        common &= set(indices)
    order = sorted(common)
    clean = torch.zeros(len(order), dtype=torch.bool)
    corrects: list[Tensor] = []
    for r, (indices, clean_r) in usable:
        where = {s: i for i, s in enumerate(indices)}
        pick = torch.tensor([where[s] for s in order], dtype=torch.int64)
        clean = clean_r[pick] if not corrects else clean & clean_r[pick]
        corrects.append(r.correct_vector()[pick])
    return wcar(clean, corrects)


def summarize_adversarial(own: Sequence[Record], all_records: Sequence[Record]) -> ModelSummary:
    """``{"wcar": ...}`` and ``masking:budget_nonmonotonic`` for one model's records."""
    adversarial = [r for r in own if r.family == "adversarial"]
    if not adversarial:
        return ModelSummary()
    values: dict[str, float] = {}
    value = model_wcar([r for r in adversarial if not r.params.get("diagnostic", False)])
    if value is not None:
        values["wcar"] = value
    by_attack: dict[str, list[tuple[float, float]]] = {}
    for r in adversarial:
        if "robust_accuracy" in r.metrics and "eps" in r.params:
            key = str(r.params.get("attack", r.noise.split("-")[0]))
            by_attack.setdefault(key, []).append(
                (float(r.params["eps"]), float(r.metrics["robust_accuracy"]))
            )
    flags = [BUDGET_NONMONOTONIC] if any(map(budget_nonmonotonic, by_attack.values())) else []
    return ModelSummary(values, flags)
