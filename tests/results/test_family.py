"""The built-in families' declarations: cells, metrics and summary values they produce."""

from __future__ import annotations

from collections.abc import Callable

import torch

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.data.profiles import get_profile
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names
from robustmq.noise.systematic.variants import list_variants
from robustmq.results.family import FAMILIES, family_order
from robustmq.results.record import Record, pack_correct
from robustmq.results.summary import summarize

MakeRecord = Callable[..., Record]


def test_the_built_in_families_in_table_order() -> None:
    """clean, adversarial, natural, systematic; each with cells for the synthetic profile."""
    assert [f.name for f in family_order()][:4] == ["clean", "adversarial", "natural", "systematic"]
    profile = get_profile("synthetic")
    counts = {name: len(FAMILIES.get(name).cells(profile)) for name in FAMILIES.names()}
    assert counts == {"clean": 1, "adversarial": 13, "natural": 75, "systematic": 14}


def test_every_summary_value_is_declared(make_record: MakeRecord) -> None:
    """The per-model values of a full run are all among the families' ``summary_metrics``."""
    records = []
    for bits, quantizer in ((None, "fp32"), (4, "lsq")):
        model = (quantizer, bits)
        for name in corruption_names():
            for s in SEVERITIES:
                params = {"corruption": name, "severity": s}
                records.append(
                    make_record("resnet18", *model, "natural", f"{name}-s{s}", 0.6, params=params)
                )
        for variant in list_variants():
            records.append(make_record("resnet18", *model, "systematic", variant, 0.7))
        clean = pack_correct(torch.ones(10, dtype=torch.bool))
        adversarial = {"sample_indices": list(range(10)), "clean_correct": clean}
        records.append(
            make_record(
                "resnet18",
                *model,
                "adversarial",
                "pgd_linf-eps2",
                None,
                metrics={"robust_accuracy": 0.3},
                params={"attack": "pgd_linf", "eps": 2 / 255},
                settings={"adversarial": adversarial},
            )
        )
    declared = {m.name for f in family_order() for m in f.summary_metrics}
    values = {k for s in summarize(records).values() for k in s.values}
    assert values, "the fabricated run has summaries"
    assert values <= declared, sorted(values - declared)
    assert {"wcar", "mnr", "mce", "rel_mce", "accs"} <= values
