"""Natural-robustness metrics: per-corruption accuracy, group means, mNR, mCE and relative mCE.

Inputs are accuracies (fractions) keyed by ``(corruption, severity)``. A corruption counts only when
all five severities are present; the means run over the corruptions that count.

- per-corruption accuracy: mean over the 5 severities; mNR: mean over corruptions of it;
- ``CE_c = sum_s E(c, s) / sum_s E_AlexNet(c, s)`` with ``E = 1 - accuracy`` and AlexNet's errors
  keyed by name (:data:`ALEXNET_ERRORS`, the mean over severities, so the denominator is 5 times
  it); mCE: mean over corruptions;
- relative CE: the same ratio with the float model of the same architecture in the denominator
  (a corruption where the float model makes no error is left out).
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import fmean

from robustmq.noise.natural.corruptions import GROUPS, SEVERITIES, corruption_names

__all__ = [
    "ALEXNET_ERRORS",
    "corruption_accuracy",
    "corruption_errors",
    "group_means",
    "mce",
    "mnr",
    "relative_ce",
]

Accuracies = Mapping[tuple[str, int], float]

#: AlexNet's ImageNet-C error per corruption (mean over the 5 severities), keyed by name.
ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}


def corruption_accuracy(accuracy: Accuracies) -> dict[str, float]:
    """Mean accuracy over the 5 severities of every corruption with all 5 present (paper order)."""
    return {
        name: fmean(accuracy[(name, s)] for s in SEVERITIES)
        for name in corruption_names()
        if all((name, s) in accuracy for s in SEVERITIES)
    }


def corruption_errors(accuracy: Accuracies) -> dict[str, float]:
    """``sum_s (1 - accuracy)`` of every corruption with all 5 severities present."""
    return {
        name: sum(1.0 - accuracy[(name, s)] for s in SEVERITIES)
        for name in corruption_names()
        if all((name, s) in accuracy for s in SEVERITIES)
    }


def mnr(accuracy: Accuracies) -> float | None:
    """Mean natural robustness: mean per-corruption accuracy (None without a full corruption)."""
    per = corruption_accuracy(accuracy)
    return fmean(per.values()) if per else None


def group_means(accuracy: Accuracies) -> dict[str, float]:
    """Mean per-corruption accuracy of each group (noise, blur, weather, digital) present."""
    per = corruption_accuracy(accuracy)
    result: dict[str, float] = {}
    for group in GROUPS:
        values = [per[n] for n in corruption_names(group) if n in per]
        if values:
            result[group] = fmean(values)
    return result


def mce(accuracy: Accuracies, reference: Mapping[str, float] | None = None) -> float | None:
    """mCE: mean over corruptions of ``sum_s E / (5 * reference error)`` (default: AlexNet's)."""
    reference = ALEXNET_ERRORS if reference is None else reference
    errors = corruption_errors(accuracy)
    ces = [errors[n] / (len(SEVERITIES) * reference[n]) for n in errors]
    return fmean(ces) if ces else None


def relative_ce(accuracy: Accuracies, float_accuracy: Accuracies) -> dict[str, float]:
    """``CE_c`` with the float model's errors as denominator, per corruption both models have."""
    own = corruption_errors(accuracy)
    ref = corruption_errors(float_accuracy)
    return {n: own[n] / ref[n] for n in own if n in ref and ref[n] > 0}
