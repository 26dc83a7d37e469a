"""The pytest plugin, driven through pytester on a tiny grid of real checkpoints and images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "test_clean.py"
SMALL = "resnet18 and (fp32 or (lsq and 4bit) or (dorefa and 2bit))"
RECORD_KEYS = {
    "cell",
    "arch",
    "quantizer",
    "bits",
    "family",
    "noise",
    "params",
    "metrics",
    "n_samples",
    "correct",
    "seed",
    "settings",
    "checkpoint_sha256",
    "versions",
    "device",
    "duration_s",
    "flags",
}


def _run(pytester: pytest.Pytester, assets: dict[str, Path], *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_clean=BENCH.read_text())
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--rmq-data-root={assets['data']}",
        f"--rmq-checkpoints={assets['ckpt']}",
        "--rmq-n-samples=30",
        "--rmq-device=cpu",
        "--rmq-output=out",
        *args,
    )


def _results(pytester: pytest.Pytester) -> dict[str, object]:
    return json.loads((pytester.path / "out" / "results.json").read_text())


class TestSelection:
    def test_k_selects_the_named_models(self, pytester: pytest.Pytester) -> None:
        """-k "lsq and 4bit" collects exactly the four LSQ 4-bit cells of the 52."""
        pytester.makepyfile(test_clean=BENCH.read_text())
        result = pytester.runpytest("--collect-only", "-q", "-k", "lsq and 4bit")
        ids = [line for line in result.outlines if "::" in line]
        assert sorted(i.split("[")[1].rstrip("]") for i in ids) == [
            "mobilenet_v2-lsq-4bit",
            "regnetx_600m-lsq-4bit",
            "resnet18-lsq-4bit",
            "resnet50-lsq-4bit",
        ]
        result = pytester.runpytest("--collect-only", "-q")
        assert sum("::" in line for line in result.outlines) == 52

    def test_fp32_selection(self, pytester: pytest.Pytester) -> None:
        """-k "resnet18 and fp32" collects only the float ResNet18 cell."""
        pytester.makepyfile(test_clean=BENCH.read_text())
        result = pytester.runpytest("--collect-only", "-q", "-k", "resnet18 and fp32")
        assert [line for line in result.outlines if "::" in line] == [
            "test_clean.py::test_clean[resnet18-fp32]"
        ]


class TestRecords:
    def test_serial_run_writes_results_and_table(
        self, pytester: pytest.Pytester, assets: dict[str, Path]
    ) -> None:
        """A serial run writes results.json/csv/table.md and prints the table, float first."""
        result = _run(pytester, assets, "-k", SMALL)
        result.assert_outcomes(passed=3)
        data = _results(pytester)
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
        assert (pytester.path / "out" / "results.csv").read_text().startswith("cell,arch")
        assert (pytester.path / "out" / "table.md").read_text().startswith("| arch |")
        lines = result.stdout.str().splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("arch "))
        rows = [line.split()[:3] for line in lines[start + 2 : start + 5]]
        assert rows == [
            ["resnet18", "fp32", "-"],
            ["resnet18", "dorefa", "2"],
            ["resnet18", "lsq", "4"],
        ]

    def test_xdist_matches_serial(self, pytester: pytest.Pytester, assets: dict[str, Path]) -> None:
        """pytest -n 2 records the same metrics and per-sample correctness as a serial run."""
        _run(pytester, assets, "-k", SMALL).assert_outcomes(passed=3)
        serial = {r["cell"]: r for r in _results(pytester)["results"]}  # type: ignore[union-attr]
        _run(pytester, assets, "-k", SMALL, "-n", "2").assert_outcomes(passed=3)
        parallel = {r["cell"]: r for r in _results(pytester)["results"]}  # type: ignore[union-attr]
        assert serial.keys() == parallel.keys()
        for cell, record in serial.items():
            assert parallel[cell]["metrics"] == record["metrics"]
            assert parallel[cell]["correct"] == record["correct"]


class TestBadInput:
    def test_missing_checkpoint_skips_with_path(
        self, pytester: pytest.Pytester, assets: dict[str, Path]
    ) -> None:
        """A model without a checkpoint is skipped with a reason naming the expected path."""
        result = _run(pytester, assets, "-k", "resnet50 and fp32", "-rs")
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["*no checkpoint for resnet50-fp32*resnet50-fp32.safetensors*"])

    def test_strict_turns_the_skip_into_a_failure(
        self, pytester: pytest.Pytester, assets: dict[str, Path]
    ) -> None:
        """--rmq-strict fails the cell of a missing checkpoint."""
        result = _run(pytester, assets, "-k", "resnet50 and fp32", "--rmq-strict")
        result.assert_outcomes(failed=1)

    def test_corrupt_checkpoint_fails_only_its_cell(
        self, pytester: pytest.Pytester, assets: dict[str, Path], tmp_path: Path
    ) -> None:
        """One corrupt checkpoint fails its own cell; the others are still recorded."""
        ckpt = tmp_path / "ckpt"
        ckpt.mkdir()
        for f in assets["ckpt"].iterdir():
            (ckpt / f.name).write_bytes(f.read_bytes())
        (ckpt / "resnet18-lsq-4bit.safetensors").write_text("<!DOCTYPE html><html></html>")
        result = _run(pytester, {**assets, "ckpt": ckpt}, "-k", SMALL)
        result.assert_outcomes(passed=2, failed=1)
        result.stdout.fnmatch_lines(["*resnet18-lsq-4bit.safetensors*HTML page*"])
        assert len(_results(pytester)["results"]) == 2  # type: ignore[arg-type]

    def test_unknown_profile_is_a_usage_error(self, pytester: pytest.Pytester) -> None:
        """An unknown --rmq-profile stops the run with a message listing the profiles."""
        pytester.makepyfile(test_clean=BENCH.read_text())
        result = pytester.runpytest("--rmq-profile=imagenett")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*imagenett*cifar10, imagenet, synthetic*"])
