"""The pytest plugin, driven through pytester on a tiny grid of real checkpoints and images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SMALL = "resnet18 and (fp32 or (lsq and 4bit) or (dorefa and 2bit))"
#: The keys of a record in results.json (its documented format).
# fmt: off
RECORD_KEYS = {
    "cell", "arch", "quantizer", "bits", "family", "noise", "params", "metrics", "n_samples",
    "correct", "seed", "settings", "checkpoint_sha256", "versions", "device", "duration_s", "flags",
    "intervals", "schema",
}
# fmt: on
RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


class TestSelection:
    def test_k_selects_the_named_models(self, run_bench: RunBench) -> None:
        """-k "lsq and 4bit" collects exactly the four LSQ 4-bit cells of the 52."""
        assert sorted(run_bench.cells("-k", "lsq and 4bit")) == [
            "mobilenet_v2-lsq-4bit",
            "regnetx_600m-lsq-4bit",
            "resnet18-lsq-4bit",
            "resnet50-lsq-4bit",
        ]
        assert len(run_bench.collect()) == 52

    def test_fp32_selection(self, run_bench: RunBench) -> None:
        """-k "resnet18 and fp32" collects only the float ResNet18 cell."""
        assert run_bench.collect("-k", "resnet18 and fp32") == [
            "test_clean.py::test_clean[resnet18-fp32]"
        ]


@pytest.mark.slow
class TestRecords:
    def test_serial_run_writes_results_and_table(self, run_bench: RunBench) -> None:
        """A serial run writes results.json/csv/table.md and prints the table, float first."""
        result, out, data = run_bench("-k", SMALL)
        result.assert_outcomes(passed=3)
        assert set(data) == {"run", "summaries", "results"}
        records = data["results"]
        assert isinstance(records, list)
        assert {r["cell"] for r in records} == {
            "resnet18-fp32",
            "resnet18-lsq-4bit",
            "resnet18-dorefa-2bit",
        }
        for r in records:
            assert set(r) == RECORD_KEYS
            assert r["n_samples"] == 30
            assert 0.0 <= r["metrics"]["accuracy"] <= 1.0
            assert len(r["checkpoint_sha256"]) == 64
            assert r["family"] == "clean"
        float_record = next(r for r in records if r["cell"] == "resnet18-fp32")
        assert (float_record["quantizer"], float_record["bits"]) == ("fp32", None)
        run = data["run"]
        assert isinstance(run, dict)
        assert len(next(iter(run["sample_sets"].values()))) == 30
        assert (out / "results.csv").read_text().startswith("cell,arch")
        assert (out / "table.md").read_text().startswith("| arch |")
        lines = result.stdout.str().splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("arch "))
        rows = [line.split()[:3] for line in lines[start + 2 : start + 5]]
        assert rows == [
            ["resnet18", "fp32", "-"],
            ["resnet18", "dorefa", "2"],
            ["resnet18", "lsq", "4"],
        ]

    def test_xdist_matches_serial(self, run_bench: RunBench) -> None:
        """pytest -n 2 records the same metrics and per-sample correctness as a serial run."""
        first = run_bench("-k", SMALL)
        first.result.assert_outcomes(passed=3)
        second = run_bench("-k", SMALL, "-n", "2", "-v")
        second.result.assert_outcomes(passed=3)
        second.result.stdout.fnmatch_lines(["scheduling tests via ModelScheduling"])
        serial, parallel = first.records, second.records
        assert serial.keys() == parallel.keys()
        for cell, record in serial.items():
            assert parallel[cell]["metrics"] == record["metrics"]
            assert parallel[cell]["correct"] == record["correct"]

    def test_an_explicit_dist_keeps_xdist_scheduler(self, run_bench: RunBench) -> None:
        """--dist given: xdist's own scheduling, not the plugin's."""
        result = run_bench("-k", "resnet18 and fp32", "-n", "2", "--dist", "load", "-v").result
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["scheduling tests via LoadScheduling"])


class TestBadInput:
    @pytest.mark.slow
    def test_missing_checkpoint_skips_with_path(self, run_bench: RunBench) -> None:
        """A model without a checkpoint is skipped with a reason naming the expected path."""
        result = run_bench("-k", "resnet50 and fp32", "-rs").result
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*no checkpoint for resnet50-fp32*resnet50-fp32.safetensors*"])

    @pytest.mark.slow
    def test_strict_turns_the_skip_into_a_failure(self, run_bench: RunBench) -> None:
        """--rmq-strict fails the cell of a missing checkpoint."""
        result = run_bench("-k", "resnet50 and fp32", "--rmq-strict").result
        result.assert_outcomes(failed=1)

    @pytest.mark.slow
    def test_corrupt_checkpoint_fails_only_its_cell(
        self, run_bench: RunBench, assets: dict[str, Path], tmp_path: Path
    ) -> None:
        """One corrupt checkpoint fails its own cell; the others are still recorded."""
        ckpt = tmp_path / "ckpt"
        ckpt.mkdir()
        for f in assets["ckpt"].iterdir():
            (ckpt / f.name).write_bytes(f.read_bytes())
        (ckpt / "resnet18-lsq-4bit.safetensors").write_text("<!DOCTYPE html><html></html>")
        run = run_bench("-k", SMALL, checkpoints=ckpt)
        run.result.assert_outcomes(passed=2, failed=1)
        run.result.stdout.fnmatch_lines(["*resnet18-lsq-4bit.safetensors*HTML page*"])
        assert len(run.records) == 2

    def test_unknown_profile_is_a_usage_error(
        self, pytester: pytest.Pytester, run_bench: RunBench
    ) -> None:
        """An unknown --rmq-profile stops the run with a message listing the profiles."""
        result = pytester.runpytest("--rmq-profile=imagenett")  # in run_bench's test_clean.py
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*imagenett*cifar10, imagenet, synthetic*"])
