"""The regression gate's rule: max(tolerance, z x standard error), in each metric's declared
direction (diagnostics never gated)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.benchmark.gate import Baseline, allowed_drop, regressions, sign_test
from robustmq.exceptions import InvalidOptionError
from robustmq.results.family import FAMILIES, Family, Metric, register_family
from robustmq.results.record import Record

MakeRecord = Callable[..., Record]


def _baseline(tmp_path: Path, *records: Record) -> Baseline:
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"run": {}, "results": [r.to_json() for r in records]}))
    return Baseline(path)


def test_allowed_drop_is_the_larger_of_tolerance_and_z_standard_errors() -> None:
    """The allowed drop is max(tolerance, z x the standard error of the difference)."""
    se = math.sqrt(0.8 * 0.2 / 100 + 0.7 * 0.3 / 100)
    assert allowed_drop(0.8, 100, 0.7, 100, tolerance_pp=1.0, z=2.0) == pytest.approx(2 * se)
    assert allowed_drop(0.8, 100, 0.7, 100, tolerance_pp=50.0, z=2.0) == pytest.approx(0.5)


def test_a_drop_beyond_the_allowance_is_reported_with_both_values(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """A drop beyond the allowance is a regression whose message names cell, metric and values."""
    base = _baseline(tmp_path, make_record(cell="resnet18-fp32", accuracy=0.90, n=100))
    now = make_record(cell="resnet18-fp32", accuracy=0.60, n=100)
    found = regressions(now, base, tolerance_pp=1.0, z=3.0)
    assert [(r.cell, r.metric) for r in found] == [("resnet18-fp32", "accuracy")]
    message = found[0].message()
    for part in ("resnet18-fp32", "accuracy", "90.00", "60.00", "allowed"):
        assert part in message


def test_a_drop_within_the_standard_error_passes(tmp_path: Path, make_record: MakeRecord) -> None:
    """A drop smaller than z standard errors is no regression."""
    base = _baseline(tmp_path, make_record(accuracy=0.90, n=50))
    assert regressions(make_record(accuracy=0.86, n=50), base, tolerance_pp=1.0, z=3.0) == []


@pytest.fixture
def error_family() -> Iterator[str]:
    """A family registered for the test whose ``error`` metric is declared lower-is-better."""

    class ErrorFamily(Family):
        name = "gate_test_error"
        metrics = (Metric("error", "top-1 error", direction="lower"),)

    register_family(ErrorFamily(), replace=True)
    yield ErrorFamily.name
    FAMILIES.unregister(ErrorFamily.name)


def test_lower_is_better_metrics_fail_when_they_rise(
    tmp_path: Path, make_record: MakeRecord, error_family: str
) -> None:
    """A metric declared lower-is-better regresses when it rises, and the message says so."""
    error = {"family": error_family, "accuracy": None, "n": 100}
    base = _baseline(tmp_path, make_record(**error, metrics={"error": 0.1}))
    found = regressions(make_record(**error, metrics={"error": 0.6}), base, 1.0, 0.0)
    assert [(r.metric, r.lower_is_better) for r in found] == [("error", True)]
    assert "error rose from 10.00 %" in found[0].message()
    assert regressions(make_record(**error, metrics={"error": 0.0}), base, 1.0, 0.0) == []


def _adversarial(make_record: MakeRecord, **metrics: float) -> Record:
    return make_record(
        family="adversarial", noise="pgd_linf-eps2", accuracy=None, n=100, metrics=metrics
    )


@pytest.mark.parametrize("after", [0.0, 1.0])
def test_a_diagnostic_moving_either_way_never_regresses(
    tmp_path: Path, make_record: MakeRecord, after: float
) -> None:
    """``zero_grad_fraction`` (a diagnostic) is not gated, whichever way it moves."""
    before = _adversarial(make_record, robust_accuracy=0.5, zero_grad_fraction=0.5)
    new = _adversarial(make_record, robust_accuracy=0.5, zero_grad_fraction=after)
    assert regressions(new, _baseline(tmp_path, before), tolerance_pp=1.0, z=0.0) == []


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


def test_cells_missing_from_the_baseline_are_not_checked(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """A cell that the baseline lacks is not compared (Baseline.gaps lists it)."""
    base = _baseline(tmp_path, make_record(cell="a", accuracy=0.9, n=100))
    other = make_record(cell="b", accuracy=0.0, n=100)
    assert regressions(other, base, tolerance_pp=0.0, z=0.0) == []


@given(
    before=st.floats(0, 1),
    gain=st.floats(0, 1),
    n=st.integers(1, 10_000),
    tolerance=st.floats(0, 10),
    z=st.floats(0, 5),
)
def test_an_improvement_never_fails(
    tmp_path_factory: pytest.TempPathFactory,
    make_record: MakeRecord,
    before: float,
    gain: float,
    n: int,
    tolerance: float,
    z: float,
) -> None:
    """An accuracy that rose never fails the gate, whatever n, tolerance and z."""
    base = _baseline(tmp_path_factory.mktemp("b"), make_record(accuracy=before, n=n))
    after = min(1.0, before + gain)
    assert regressions(make_record(accuracy=after, n=n), base, tolerance, z) == []


def test_a_missing_baseline_file_names_the_option(tmp_path: Path) -> None:
    """A baseline path that does not exist is an InvalidOptionError naming --rmq-baseline."""
    with pytest.raises(InvalidOptionError, match=r"--rmq-baseline=.*nope\.json"):
        Baseline(tmp_path / "nope.json")


def test_the_sign_test_is_the_binomial_tail() -> None:
    """P(X >= b) for X ~ Bin(b + c, 1/2): no flips give 1, all losses 2^-b."""
    assert sign_test(0, 0) == 1.0
    assert sign_test(12, 0) == pytest.approx(2**-12)
    assert sign_test(3, 3) == pytest.approx(42 / 64)


def _flipped(make_record: MakeRecord, hits: list[bool]) -> Record:
    return make_record(accuracy=sum(hits) / len(hits), correct=hits)


def test_paired_samples_detect_a_drop_the_unpaired_rule_misses(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """500 shared samples, 20 turned wrong and none right (4 points): the unpaired allowance
    (9.5 points at z = 3) would pass it; the sign test (p = 2^-20) fails it, naming the flips."""
    before = [i % 2 == 0 for i in range(500)]
    after = [h and i >= 40 for i, h in enumerate(before)]
    base = _baseline(tmp_path, _flipped(make_record, before))
    assert allowed_drop(0.5, 500, 0.46, 500, 1.0, 3.0) > 0.09
    found = regressions(_flipped(make_record, after), base, tolerance_pp=1.0, z=3.0)
    assert [(r.metric, r.flips) for r in found] == [("accuracy", (20, 0))]
    assert "20 went from correct to wrong and 0 from wrong to correct" in found[0].message()


def test_flips_both_ways_are_not_a_regression(tmp_path: Path, make_record: MakeRecord) -> None:
    """60 samples lost and 40 gained (4 points down) is within chance for the sign test."""
    before = [i < 250 for i in range(500)]
    after = [(i < 250 and i >= 60) or 250 <= i < 290 for i in range(500)]
    base = _baseline(tmp_path, _flipped(make_record, before))
    assert regressions(_flipped(make_record, after), base, tolerance_pp=1.0, z=3.0) == []
