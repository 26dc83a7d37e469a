"""The regression gate takes each metric's direction from its family's declaration."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.benchmark.gate import Baseline, regressions
from robustmq.results.family import FAMILIES
from robustmq.results.record import Record
from robustmq.results.storage import write_results

MakeRecord = Callable[..., Record]


def _baseline(tmp_path: Path, record: Record) -> Baseline:
    write_results(tmp_path, {}, [record])
    return Baseline(tmp_path / "results.json")


def _adversarial(make_record: MakeRecord, **metrics: float) -> Record:
    return make_record(
        family="adversarial", noise="pgd_linf-eps2", accuracy=None, n=100, metrics=metrics
    )


@pytest.mark.parametrize("after", [0.0, 1.0])
def test_a_diagnostic_moving_either_way_never_regresses(
    tmp_path: Path, make_record: MakeRecord, after: float
) -> None:
    """``zero_grad_fraction`` (a diagnostic) is not gated, whichever way it moves."""
    base = _baseline(
        tmp_path, _adversarial(make_record, robust_accuracy=0.5, zero_grad_fraction=0.5)
    )
    new = _adversarial(make_record, robust_accuracy=0.5, zero_grad_fraction=after)
    assert regressions(new, base, tolerance_pp=1.0, z=0.0) == []


def test_a_headline_metric_falling_past_the_margin_regresses(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """``robust_accuracy`` (headline, higher is better) fails when it falls by more than allowed."""
    base = _baseline(tmp_path, _adversarial(make_record, robust_accuracy=0.5, ar=0.6))
    new = _adversarial(make_record, robust_accuracy=0.4, ar=0.6)
    found = regressions(new, base, tolerance_pp=1.0, z=0.0)
    assert [(r.metric, r.lower_is_better) for r in found] == [("robust_accuracy", False)]
    assert "robust_accuracy fell from 50.00 %" in found[0].message()


def test_every_built_in_metric_declares_a_direction_and_role() -> None:
    """Every built-in family declares its metrics; exactly the diagnostics are left ungated."""
    declared = {
        (family, m.name): (m.direction, m.gated)
        for family in FAMILIES.names()
        for m in FAMILIES.get(family).metrics
    }
    assert declared[("adversarial", "zero_grad_fraction")] == ("lower", False)
    assert declared[("adversarial", "robust_accuracy")] == ("higher", True)
    assert declared[("systematic", "accuracy")] == ("higher", True)
    assert all(direction in ("higher", "lower") for direction, _ in declared.values())
