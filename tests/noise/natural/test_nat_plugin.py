"""The natural cells through pytester: ids, markers, records, summaries, the shared generation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CELLS = "resnet18 and (fp32 or lsq-4bit) and (impulse_noise or pixelate)"
N = 10  # images: 10 x 10 sets stays under the pool threshold (generated in the cell's process)
RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


@pytest.fixture
def bench_files() -> tuple[str, ...]:
    """``run_bench`` works on the natural cells."""
    return ("test_natural",)


def _sidecars(home: Path) -> dict[str, dict[str, object]]:
    return {p.name: json.loads(p.read_text()) for p in (home / "natural").glob("*.json")}


class TestCollection:
    def test_ids_and_markers(self, run_bench: RunBench) -> None:
        """52 x 15 x 5 cells named model-corruption-sS, marked natural and with their group."""
        everything = run_bench.cells()
        assert len(everything) == 3900
        assert "resnet50-pact-4bit-impulse_noise-s3" in everything
        assert "mobilenet_v2-fp32-jpeg_compression-s5" in everything
        for group, n in (("noise", 3), ("blur", 4), ("weather", 4), ("digital", 4)):
            assert len(run_bench.cells("-m", f"natural and {group}")) == 52 * n * 5
        picked = run_bench.cells("-k", "resnet50 and (pact or lsq) and impulse_noise")
        assert len(picked) == 40


@pytest.mark.slow
class TestRun:
    def test_records_summary_table_and_sharing(
        self, run_bench: RunBench, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """20 cells: records, mNR/mCE/rel_mCE, the table; 10 sets made once, reused by -n 2."""
        home = tmp_path / "home"
        monkeypatch.setenv("ROBUSTMQ_HOME", str(home))
        run = run_bench("-k", CELLS, n_samples=N)
        run.result.assert_outcomes(passed=20)
        data, records = run.data, run.records
        assert len(records) == 20
        r = records["resnet18-lsq-4bit-impulse_noise-s3"]
        assert r["family"] == "natural"
        assert r["noise"] == "impulse_noise-s3"
        assert r["params"] == {
            "corruption": "impulse_noise",
            "severity": 3,
            "group": "noise",
            "source": "generated",
            "jpeg": False,
            "scale": "synthetic",  # the synthetic profile's corruption scale
        }
        assert r["n_samples"] == N
        ids = data["run"]["sample_sets"][r["settings"]["sample_ids_sha256"]]
        assert len(ids) == N  # the natural cells' own sample set travels with the run
        assert r["settings"]["natural_set"]["package"] == "imagecorruptions-imaug 1.1.5"
        assert r["settings"]["natural_set"]["scale"]["name"] == "synthetic"
        assert r["settings"]["corruption_scale"] == "profile"
        # generation: 10 sets (2 corruptions x 5 severities), each made once with N calls
        sidecars = _sidecars(home)
        assert len(sidecars) == 10
        assert sum(int(m["calls"]) for m in sidecars.values()) == N * 10  # type: ignore[call-overload]
        keys = {m["key"] for m in sidecars.values()}
        assert {rec["settings"]["natural_set"]["key"] for rec in records.values()} == keys
        # summaries: partial (2 of 15 corruptions); the float model's relative mCE is 1
        summaries = data["summaries"]
        for model in ("resnet18-fp32", "resnet18-lsq-4bit"):
            values = summaries[model]["values"]
            assert {"mnr", "mce", "rel_mce", "mnr_noise", "mnr_digital"} <= set(values)
            assert summaries[model]["flags"] == ["natural_partial"]
            mine = [
                rec["metrics"]["accuracy"]
                for rec in records.values()
                if rec["cell"].startswith(model)
            ]
            assert values["mnr"] == pytest.approx(sum(mine) / 10)
        assert summaries["resnet18-fp32"]["values"]["rel_mce"] == pytest.approx(1.0)
        run.result.stdout.fnmatch_lines(["arch*impulse_noise-s1*pixelate-s5*mnr*mce*rel_mce*"])

        # a second run with two xdist workers: the same numbers, and nothing generated again
        again = run_bench("-k", CELLS, "-n", "2", n_samples=N)
        again.result.assert_outcomes(passed=20)
        for rec in again.data["results"]:
            assert rec["metrics"] == records[rec["cell"]]["metrics"]
            assert rec["correct"] == records[rec["cell"]]["correct"]
        assert _sidecars(home) == sidecars  # same files, same builder pid: reused, not rebuilt
