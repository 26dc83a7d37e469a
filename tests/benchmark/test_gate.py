"""The regression gate's rule: direction-aware, max(tolerance, z x standard error)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from robustmq.benchmark.gate import Baseline, allowed_drop, regressions
from robustmq.exceptions import InvalidOptionError
from robustmq.results.record import Record, pack_correct


def _record(cell: str, accuracy: float, n: int = 100, **metrics: float) -> Record:
    return Record(
        cell=cell,
        arch="resnet18",
        quantizer="fp32",
        bits=None,
        family="clean",
        noise="clean",
        params={},
        metrics={"accuracy": accuracy, **metrics},
        n_samples=n,
        correct=pack_correct(torch.zeros(n, dtype=torch.bool)),
        seed=0,
        settings={},
        checkpoint_sha256=None,
        versions={},
        device="cpu",
        duration_s=0.0,
    )


def _baseline(tmp_path: Path, *records: Record) -> Baseline:
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"run": {}, "results": [r.to_json() for r in records]}))
    return Baseline(path)


def test_allowed_drop_is_the_larger_of_tolerance_and_z_standard_errors() -> None:
    se = math.sqrt(0.8 * 0.2 / 100 + 0.7 * 0.3 / 100)
    assert allowed_drop(0.8, 100, 0.7, 100, tolerance_pp=1.0, z=2.0) == pytest.approx(2 * se)
    assert allowed_drop(0.8, 100, 0.7, 100, tolerance_pp=50.0, z=2.0) == pytest.approx(0.5)


def test_a_drop_beyond_the_allowance_is_reported_with_both_values(tmp_path: Path) -> None:
    base = _baseline(tmp_path, _record("resnet18-fp32", 0.90))
    found = regressions(_record("resnet18-fp32", 0.60), base, tolerance_pp=1.0, z=3.0)
    assert [(r.cell, r.metric) for r in found] == [("resnet18-fp32", "accuracy")]
    message = found[0].message()
    for part in ("resnet18-fp32", "accuracy", "90.00", "60.00", "allowed"):
        assert part in message


def test_a_drop_within_the_standard_error_passes(tmp_path: Path) -> None:
    base = _baseline(tmp_path, _record("c", 0.90, n=50))
    assert regressions(_record("c", 0.86, n=50), base, tolerance_pp=1.0, z=3.0) == []


def test_lower_is_better_metrics_fail_when_they_rise(tmp_path: Path) -> None:
    base = _baseline(tmp_path, _record("c", 0.5, error=0.1))
    found = regressions(_record("c", 0.5, error=0.6), base, tolerance_pp=1.0, z=0.0)
    assert [r.metric for r in found] == ["error"]


def test_cells_missing_from_the_baseline_are_not_checked(tmp_path: Path) -> None:
    base = _baseline(tmp_path, _record("a", 0.9))
    assert regressions(_record("b", 0.0), base, tolerance_pp=0.0, z=0.0) == []


@given(
    before=st.floats(0, 1),
    gain=st.floats(0, 1),
    n=st.integers(1, 10_000),
    tolerance=st.floats(0, 10),
    z=st.floats(0, 5),
)
def test_an_improvement_never_fails(
    tmp_path_factory: pytest.TempPathFactory,
    before: float,
    gain: float,
    n: int,
    tolerance: float,
    z: float,
) -> None:
    base = _baseline(tmp_path_factory.mktemp("b"), _record("c", before, n=n))
    after = min(1.0, before + gain)
    assert regressions(_record("c", after, n=n), base, tolerance, z) == []


def test_a_missing_baseline_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match=r"--rmq-baseline=.*nope\.json"):
        Baseline(tmp_path / "nope.json")
