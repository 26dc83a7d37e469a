"""Per-model summary of the adversarial family: WCAR and the budget-monotonicity flag.

WCAR (protocol): the fraction of clean-correct samples that stay correct under every adversarial
cell of the model present in the run, sample by sample, over one stated sample set:

- ``wcar``: over the bounded FGSM and PGD cells, on the images they attacked (all of them attack
  the same class-balanced subset), ``wcar_n`` images;
- ``wcar_autoattack``: those cells plus AutoAttack, on the images every one of them attacked (the
  smaller AutoAttack subset), ``wcar_autoattack_n`` images; present when AutoAttack ran.

The sanity cell (a diagnostic) is left out of both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustmq.noise.adversarial.masking import BUDGET_NONMONOTONIC, budget_nonmonotonic
from robustmq.noise.adversarial.metrics import wcar
from robustmq.results.intervals import bootstrap_interval
from robustmq.results.record import Record, unpack_correct
from robustmq.results.summary import ModelSummary

__all__ = ["summarize_adversarial", "wcar_samples"]


def _samples(r: Record) -> tuple[list[int], Tensor] | None:
    """(sample indices in the run's evaluation set, clean correctness) of a record, if stored."""
    details = r.settings.get("adversarial")
    if not isinstance(details, dict) or "sample_indices" not in details:
        return None
    indices = [int(i) for i in details["sample_indices"]]
    return indices, unpack_correct(details["clean_correct"], len(indices))


def model_wcar(records: Sequence[Record]) -> float | None:
    """WCAR over ``records`` (one model's adversarial cells); None when none carries samples."""
    found = _common(records)
    return None if found is None else wcar(found[1], found[2])


def wcar_samples(records: Sequence[Record]) -> tuple[list[int], Tensor, Tensor] | None:
    """``(sample indices, clean-correct, correct under every cell)`` of one model's bounded FGSM
    and PGD cells among ``records``, over the images all of them attacked (the set ``wcar`` is
    computed on); None when none carries samples."""
    gradient = [
        r
        for r in records
        if r.family == "adversarial" and not r.params.get("diagnostic", False)
        if not _is_autoattack(r)
    ]
    found = _common(gradient)
    if found is None:
        return None
    order, clean, corrects = found
    worst = clean.clone()
    for c in corrects:
        worst &= c
    return order, clean, worst


def _common(records: Sequence[Record]) -> tuple[list[int], Tensor, list[Tensor]] | None:
    """(sample indices, clean correctness, each cell's correctness) on the samples every one of
    ``records`` attacked, in sample order; None when none carries samples."""
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
    return order, clean, corrects


def _wcar_interval(clean: Tensor, corrects: list[Tensor], key: object) -> list[float]:
    """95 % paired-bootstrap interval of WCAR: the images are resampled once for the numerator
    (clean-correct and correct under every cell) and the denominator (clean-correct)."""
    worst = clean.clone()
    for c in corrects:
        worst &= c
    survived, correct_clean = worst.numpy(), clean.numpy()
    return bootstrap_interval(
        lambda total: total(survived) / total(correct_clean), len(survived), key
    )


def _is_autoattack(r: Record) -> bool:
    return str(r.params.get("attack", r.noise)).startswith("autoattack")


def summarize_adversarial(own: Sequence[Record], all_records: Sequence[Record]) -> ModelSummary:
    """``wcar``, ``wcar_n`` (and with AutoAttack ``wcar_autoattack``, ``wcar_autoattack_n``) and
    ``masking:budget_nonmonotonic`` for one model's records."""
    adversarial = [r for r in own if r.family == "adversarial"]
    if not adversarial:
        return ModelSummary()
    values: dict[str, float] = {}
    intervals: dict[str, list[float]] = {}
    bounded = [r for r in adversarial if not r.params.get("diagnostic", False)]
    gradient = [r for r in bounded if not _is_autoattack(r)]
    for name, cells in (("wcar", gradient), ("wcar_autoattack", bounded)):
        if name == "wcar_autoattack" and len(cells) == len(gradient):
            continue  # no AutoAttack cell in the run
        found = _common(cells)
        if found is not None:
            _, clean, corrects = found
            values[name], values[f"{name}_n"] = wcar(clean, corrects), float(len(clean))
            seed_key = (adversarial[0].seed, adversarial[0].model_id, name)
            intervals[name] = _wcar_interval(clean, corrects, seed_key)
    by_attack: dict[str, list[tuple[float, float]]] = {}
    for r in adversarial:
        if "robust_accuracy" in r.metrics and "eps" in r.params:
            key = str(r.params.get("attack", r.noise.split("-")[0]))
            by_attack.setdefault(key, []).append(
                (float(r.params["eps"]), float(r.metrics["robust_accuracy"]))
            )
    flags = [BUDGET_NONMONOTONIC] if any(map(budget_nonmonotonic, by_attack.values())) else []
    return ModelSummary(values, flags, intervals)
