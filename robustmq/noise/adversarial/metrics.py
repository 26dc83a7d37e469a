"""Metrics of the adversarial family (protocol, RobustART code); C = the clean-correct samples.

- robust accuracy = correct under the attack / all samples;
- AR = |{i in C: correct under the attack}| / |C|;
- WCAR = |{i in C: correct under every attack of the set}| / |C|.

A point the model gets wrong on its clean image counts as wrong under every attack (the clean
image lies inside every eps-ball), so adversarial correctness is always a subset of C.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustmq.exceptions import InvalidOptionError
from robustmq.metrics import accuracy

__all__ = ["adversarial_rate", "balanced_subset", "robust_accuracy", "wcar"]


def robust_accuracy(correct: Tensor) -> float:
    """Fraction of samples correct under the attack (0.0 for no samples)."""
    return accuracy(correct)


def adversarial_rate(clean_correct: Tensor, correct: Tensor) -> float:
    """AR: fraction of the clean-correct samples still correct under the attack (0.0 if none)."""
    clean = clean_correct.bool()
    n = int(clean.sum())
    return float((clean & correct.bool()).sum()) / n if n else 0.0


def wcar(clean_correct: Tensor, corrects: Sequence[Tensor]) -> float:
    """WCAR: fraction of clean-correct samples correct under every attack in ``corrects``."""
    worst = clean_correct.bool().clone()
    for c in corrects:
        if c.shape != worst.shape:
            raise InvalidOptionError(
                f"a correctness vector has shape {tuple(c.shape)}; expected {tuple(worst.shape)} "
                "(all cells of a model must cover the same samples)"
            )
        worst &= c.bool()
    n = int(clean_correct.bool().sum())
    return float(worst.sum()) / n if n else 0.0


def balanced_subset(labels: Tensor, n: int | None) -> Tensor:
    """Indices (ascending) of ``n`` samples spread evenly over the classes; all when ``n`` is None.

    Deterministic: class by class, the earliest samples first, classes taking turns (round-robin
    over sorted class ids), so a smaller subset is a prefix-like part of a larger one.
    """
    total = int(labels.numel())
    if n is None or n >= total:
        return torch.arange(total)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidOptionError(f"n={n!r} ({type(n).__name__}) is invalid; expected an int >= 1")
    per_class = [(labels == c).nonzero().flatten().tolist() for c in labels.unique().tolist()]
    chosen: list[int] = []
    rank = 0
    while len(chosen) < n:
        for members in per_class:
            if rank < len(members) and len(chosen) < n:
                chosen.append(members[rank])
        rank += 1
    return torch.tensor(sorted(chosen), dtype=torch.int64)
