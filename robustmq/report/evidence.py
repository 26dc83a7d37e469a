"""Per-sample evidence for the findings: what each model got right, image by image.

A paired test compares models on the same images, so every family's per-sample outcomes are
aligned across the models of a run on one sample set:

- adversarial: per model ``clean`` (clean-correct) and ``survived`` (clean-correct and correct
  under every bounded FGSM/PGD cell: WCAR = sum(survived) / sum(clean)), on the sample indices
  every model attacked (:func:`~robustmq.noise.adversarial.summary.wcar_samples`);
- natural: per model and complete corruption, the per-image accuracy over the five severities
  (mNR = the mean over images of the mean over corruptions);
- systematic: per model and variant, the per-image correctness (ACCs = the mean over variants).

Natural and systematic cells are aligned on the sample set most models share (the records'
``sample_ids_sha256`` and size); models measured on another set are listed as ``unpaired`` and
left out of the comparisons, never compared on different images.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from robustmq.data.profiles import PROFILES
from robustmq.noise.adversarial.summary import wcar_samples
from robustmq.noise.natural.corruptions import SEVERITIES
from robustmq.results.record import Record

__all__ = ["Evidence", "gather_evidence"]


@dataclass(frozen=True)
class Evidence:
    """One family's per-sample arrays of several models on the same ``n`` images.

    ``arrays[model_id][name]`` is a float array of length ``n`` (``name``: ``clean`` and
    ``survived``; a corruption; a systematic variant).
    """

    family: str
    n: int
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: models with cells of the family on another sample set (left out).
    unpaired: list[str] = field(default_factory=list)
    #: classes of the profile (images per class = n / num_classes), when known.
    num_classes: int | None = None

    def has(self, model_id: str, *names: str) -> bool:
        """True when the model has every one of ``names`` (any array when none is given)."""
        own = self.arrays.get(model_id, {})
        return bool(own) and all(n in own for n in names)


def _sample_set(r: Record) -> tuple[str, int]:
    return str(r.settings.get("sample_ids_sha256", "")), r.n_samples


def _num_classes(records: Sequence[Record]) -> int | None:
    name = records[0].settings.get("profile") if records else None
    return PROFILES.get(name).num_classes if isinstance(name, str) and name in PROFILES else None


def _by_model(records: Iterable[Record], family: str) -> dict[str, list[Record]]:
    result: dict[str, list[Record]] = {}
    for r in records:
        if r.family == family and r.metrics:
            result.setdefault(r.model_id, []).append(r)
    return result


def _aligned(
    by_model: dict[str, list[Record]],
) -> tuple[tuple[str, int] | None, dict[str, list[Record]], list[str]]:
    """The most common sample set, each model's cells on it, and the models with none on it."""
    sets = Counter(_sample_set(r) for own in by_model.values() for r in own)
    if not sets:
        return None, {}, []
    common = sets.most_common(1)[0][0]
    kept = {m: [r for r in own if _sample_set(r) == common] for m, own in by_model.items()}
    unpaired = sorted(m for m, own in kept.items() if not own)
    return common, {m: own for m, own in kept.items() if own}, unpaired


def _natural(records: Sequence[Record], num_classes: int | None) -> Evidence:
    common, by_model, unpaired = _aligned(_by_model(records, "natural"))
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for model_id, own in by_model.items():
        cells: dict[str, dict[int, np.ndarray]] = {}
        for r in own:
            if "corruption" in r.params and "severity" in r.params:
                by_severity = cells.setdefault(str(r.params["corruption"]), {})
                by_severity[int(r.params["severity"])] = r.correct_vector().numpy()
        arrays[model_id] = {
            name: np.mean([sev[s] for s in SEVERITIES], axis=0).astype(np.float64)
            for name, sev in sorted(cells.items())
            if all(s in sev for s in SEVERITIES)
        }
    n = common[1] if common else 0
    return Evidence("natural", n, {m: a for m, a in arrays.items() if a}, unpaired, num_classes)


def _systematic(records: Sequence[Record], num_classes: int | None) -> Evidence:
    common, by_model, unpaired = _aligned(_by_model(records, "systematic"))
    arrays = {
        model_id: {r.noise: r.correct_vector().numpy().astype(np.float64) for r in own}
        for model_id, own in by_model.items()
    }
    n = common[1] if common else 0
    return Evidence("systematic", n, arrays, unpaired, num_classes)


def _adversarial(records: Sequence[Record], num_classes: int | None) -> Evidence:
    by_model = _by_model(records, "adversarial")
    found = {m: s for m, own in by_model.items() if (s := wcar_samples(own)) is not None}
    sets = Counter(str(own[0].settings.get("sample_ids_sha256", "")) for own in by_model.values())
    if not found or not sets:
        return Evidence("adversarial", 0, {}, [], num_classes)
    eval_set = sets.most_common(1)[0][0]
    same = {
        m: s
        for m, s in found.items()
        if str(by_model[m][0].settings.get("sample_ids_sha256", "")) == eval_set
    }
    common = set.intersection(*(set(indices) for indices, _, _ in same.values()))
    order = sorted(common)
    arrays = {}
    for model_id, (indices, clean, worst) in same.items():
        where = {s: i for i, s in enumerate(indices)}
        pick = [where[s] for s in order]
        arrays[model_id] = {
            "clean": clean.numpy()[pick].astype(np.float64),
            "survived": worst.numpy()[pick].astype(np.float64),
        }
    unpaired = sorted(set(by_model) - set(same))
    return Evidence("adversarial", len(order), arrays, unpaired, num_classes)


def gather_evidence(records: Sequence[Record]) -> dict[str, Evidence]:
    """The aligned per-sample evidence of the adversarial, natural and systematic families."""
    num_classes = _num_classes(records)
    return {
        "adversarial": _adversarial(records, num_classes),
        "natural": _natural(records, num_classes),
        "systematic": _systematic(records, num_classes),
    }
