"""The regression gate's rule: direction-aware, max(tolerance, z x standard error)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustmq.benchmark.gate import Baseline, allowed_drop, regressions
from robustmq.exceptions import InvalidOptionError
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


def test_lower_is_better_metrics_fail_when_they_rise(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """A lower-is-better metric regresses when it rises."""
    base = _baseline(tmp_path, make_record(n=100, metrics={"error": 0.1}))
    found = regressions(make_record(n=100, metrics={"error": 0.6}), base, tolerance_pp=1.0, z=0.0)
    assert [r.metric for r in found] == ["error"]


def test_cells_missing_from_the_baseline_are_not_checked(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """A cell that the baseline lacks is not checked."""
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
