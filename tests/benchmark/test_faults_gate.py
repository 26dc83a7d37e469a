"""Issue 15, defect 1: the regression gate compares like with like.

Each test injects one fault into a baseline (another profile, other settings, other samples, a
missing cell, a NaN metric) and checks that the gate refuses it or names it instead of passing or
failing silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.benchmark.gate import Baseline, Incomparable, regressions
from robustmq.benchmark.settings import BenchSettings
from robustmq.exceptions import BaselineMismatchError
from robustmq.results.record import Record

MakeRecord = Callable[..., Record]
RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


def _write(path: Path, *records: Record, **settings: Any) -> Path:
    run = {"settings": {**BenchSettings().to_dict(), **settings}}
    path.write_text(json.dumps({"run": run, "results": [r.to_json() for r in records]}))
    return path


@pytest.mark.parametrize(
    ("baseline_profile", "run_args"),
    [("cifar10", ()), ("synthetic", ("--rmq-profile=cifar10",))],
    ids=["cifar10-baseline-synthetic-run", "synthetic-baseline-cifar10-run"],
)
def test_a_baseline_of_another_profile_is_refused_before_any_cell(
    pytester: pytest.Pytester,
    run_bench: RunBench,
    make_record: MakeRecord,
    tmp_path: Path,
    baseline_profile: str,
    run_args: tuple[str, ...],
) -> None:
    """Defect 1 (gate ignored the profile): a cifar10 baseline against a synthetic run passed
    silently, the other way round reported a 64-point "regression"; now the run stops with a
    usage error naming the profile of each, before any cell."""
    record = make_record(cell="resnet18-fp32", settings={"profile": baseline_profile})
    base = _write(tmp_path / "base.json", record, profile=baseline_profile)
    data = tmp_path / "cifar10"
    data.mkdir()
    result = pytester.runpytest(
        f"--rmq-baseline={base}", f"--rmq-data-root={data}", "--rmq-output=out", *run_args
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    this_run = "synthetic" if baseline_profile == "cifar10" else "cifar10"
    result.stderr.fnmatch_lines(
        [f"*--rmq-baseline=*base.json*profile='{baseline_profile}' (this run: '{this_run}')*"]
    )
    assert not (pytester.path / "out").exists()


def test_a_baseline_with_other_settings_names_each_of_them(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """Defect 1 (gate ignored the settings): a baseline of another sample count and seed is
    refused, naming both; paths, device and batch size (no effect on what is measured) are not."""
    base = Baseline(_write(tmp_path / "b.json", make_record(), n_samples=30, seed=1))
    with pytest.raises(BaselineMismatchError, match=r"n_samples=30 \(this run: None\), seed=1"):
        base.check_settings(BenchSettings().to_dict())
    same = BenchSettings(n_samples=30, seed=1, device="cuda", batch_size=7, data_root="/x")
    base.check_settings(same.to_dict())


def test_a_cell_evaluated_on_other_samples_fails_as_incomparable(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """Defect 1 (sample set ignored): a baseline cell of other samples (sample_ids_sha256) was
    compared as if paired; now the cell fails naming both digests."""
    base = Baseline(_write(tmp_path / "b.json", make_record(accuracy=0.1, n=100)))
    other = make_record(accuracy=0.1, n=100, settings={"sample_ids_sha256": "e" * 64})
    found = regressions(other, base, tolerance_pp=1.0, z=3.0)
    assert [type(f) for f in found] == [Incomparable]
    assert f"this run {'e' * 64}" in found[0].message()
    assert "the baseline evaluated other samples (sample_ids_sha256" in found[0].message()


def test_missing_cells_and_non_finite_baseline_values_are_listed(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    """Defect 1 (cells silently unchecked): a cell the baseline lacks, a metric it lacks and a NaN
    baseline metric are each listed by Baseline.gaps with the cell (and the value)."""
    adversarial = {"family": "adversarial", "noise": "pgd", "accuracy": None, "n": 10}
    base = Baseline(
        _write(
            tmp_path / "b.json",
            make_record(cell="a", accuracy=None, metrics={"accuracy": math.nan}),
            make_record(cell="b", **adversarial, metrics={"robust_accuracy": 0.5}),
        )
    )
    now = [
        make_record(cell="a", accuracy=0.9),
        make_record(cell="b", **adversarial, metrics={"robust_accuracy": 0.5, "ar": 0.5}),
        make_record(cell="c", accuracy=0.9),
    ]
    assert base.gaps(now) == {
        "baseline values that are not finite numbers": ["a accuracy=nan"],
        "metrics the baseline's cell lacks": ["b ar"],
        "cells not in the baseline": ["c"],
    }
    assert regressions(now[0], base, 1.0, 3.0) == []  # listed, not failed


def test_a_value_that_became_nan_fails(tmp_path: Path, make_record: MakeRecord) -> None:
    """Defect 1 (NaN compares false, so it passed): a metric that is NaN in the run against a
    finite baseline value fails the cell."""
    base = Baseline(_write(tmp_path / "b.json", make_record(accuracy=0.9)))
    found = regressions(make_record(accuracy=None, metrics={"accuracy": math.nan}), base, 1.0, 3.0)
    assert [type(f) for f in found] == [Incomparable]
    assert "accuracy is nan, not a finite number (baseline 90.00 %)" in found[0].message()


@pytest.mark.slow
def test_the_run_ends_with_what_the_gate_did_not_check(run_bench: RunBench, tmp_path: Path) -> None:
    """Defect 1 (silently unchecked cells, end to end): against a baseline that lacks one cell
    and holds NaN for the other, both cells pass but the run ends naming each of them."""
    base = tmp_path / "base.json"
    run_bench("-k", "resnet18 and fp32", f"--rmq-save-baseline={base}").result.assert_outcomes(
        passed=1
    )
    data = json.loads(base.read_text())
    data["results"][0]["metrics"]["accuracy"] = math.nan
    base.write_text(json.dumps(data))
    run = run_bench("-k", "resnet18 and (fp32 or (lsq and 4bit))", f"--rmq-baseline={base}")
    run.result.assert_outcomes(passed=2)
    run.result.stdout.fnmatch_lines(
        [
            "*1 of 2 cells compared with *base.json",
            "not gated, baseline values that are not finite numbers (1): resnet18-fp32 accuracy=n*",
            "not gated, cells not in the baseline (1): resnet18-lsq-4bit",
        ]
    )


@pytest.mark.slow
def test_a_resumed_cell_is_gated_too(run_bench: RunBench, tmp_path: Path) -> None:
    """Defect 1 (a resumed cell skipped the gate): with --rmq-resume, a journaled cell that fell
    below the baseline fails like a run one."""
    base = tmp_path / "base.json"
    run_bench("-k", "resnet18 and fp32", f"--rmq-save-baseline={base}").result.assert_outcomes(
        passed=1
    )
    data = json.loads(base.read_text())
    data["results"][0]["metrics"]["accuracy"] = 1.0  # the baseline was far better
    base.write_text(json.dumps(data))
    run = run_bench("-k", "resnet18 and fp32", "--rmq-resume", f"--rmq-baseline={base}")
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(
        ["*resnet18-fp32: accuracy fell from 100.00 % (baseline)*", "1 cells resumed*"]
    )
