"""Metrics of the systematic family: accuracy per variant, its difference to the reference, ACCs.

- per variant: ``accuracy`` (top-1 on the variant's set), ``reference_accuracy`` (the same model on
  the reference set) and ``delta_vs_reference`` = accuracy - reference_accuracy (negative: the
  variant hurts);
- per model: ``accs`` = mean accuracy over the variants (the protocol's ACCs, over the 14),
  ``accs_std`` = their population standard deviation (the variants are the whole set, not a
  sample), ``accs_range`` = max - min: the stability figures;
- over models: :func:`variant_ranking` orders variants by their mean ``delta_vs_reference``.

All values are fractions; the table shows them in percent. Means are exact (``statistics.mean``),
so a model equally accurate under every variant has ACCs equal to that accuracy and no spread.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping

from torch import Tensor

from robustmq.exceptions import InvalidOptionError
from robustmq.metrics import accuracy

__all__ = ["accs", "variant_metrics", "variant_ranking"]


def variant_metrics(correct: Tensor, reference_correct: Tensor) -> dict[str, float]:
    """``accuracy``, ``reference_accuracy`` and ``delta_vs_reference`` from per-sample correctness.

    Both vectors must hold the same samples in the same order (equal length).
    """
    if correct.shape != reference_correct.shape:
        raise InvalidOptionError(
            f"correct has shape {tuple(correct.shape)} but reference_correct has shape "
            f"{tuple(reference_correct.shape)}; expected the same samples in both"
        )
    acc = accuracy(correct)
    ref = accuracy(reference_correct)
    return {"accuracy": acc, "reference_accuracy": ref, "delta_vs_reference": acc - ref}


def _fractions(values: Iterable[float], what: str) -> list[float]:
    result = [float(v) for v in values]
    if not result:
        raise InvalidOptionError(f"{what} is empty; expected at least one accuracy")
    bad = [v for v in result if not (math.isfinite(v) and 0.0 <= v <= 1.0)]
    if bad:
        raise InvalidOptionError(f"{what} holds {bad[0]!r}; expected fractions in [0, 1]")
    return result


def accs(accuracies: Iterable[float]) -> dict[str, float]:
    """``accs`` (mean), ``accs_std`` (population std) and ``accs_range`` (max - min) of accuracies.

    Accuracies are fractions in [0, 1]; an empty input or a value outside is InvalidOptionError.
    """
    values = _fractions(accuracies, "accuracies")
    return {
        "accs": statistics.mean(values),
        "accs_std": statistics.pstdev(values),
        "accs_range": max(values) - min(values),
    }


def variant_ranking(deltas: Mapping[str, Iterable[float]]) -> list[tuple[str, float]]:
    """``(variant, mean delta_vs_reference)`` from most to least harmful (ties: by name).

    ``deltas`` maps each variant to its deltas over models; a variant without any is an error.
    """
    means: list[tuple[str, float]] = []
    for name, values in deltas.items():
        items = [float(v) for v in values]
        if not items or not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in items):
            raise InvalidOptionError(
                f"deltas of variant {name!r} are {items!r}; expected one or more values in [-1, 1]"
            )
        means.append((name, statistics.mean(items)))
    return sorted(means, key=lambda item: (item[1], item[0]))
