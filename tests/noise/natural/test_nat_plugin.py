"""The natural cells through pytester: ids, markers, records, summaries, the shared generation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "test_natural.py"
CELLS = "resnet18 and (fp32 or lsq-4bit) and (impulse_noise or pixelate)"
N = 10  # images: 10 x 10 sets stays under the pool threshold (generated in the cell's process)


def _collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    pytester.makepyfile(test_natural=BENCH.read_text())
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    return [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "::" in line]


def _run(pytester: pytest.Pytester, assets: dict[str, Path], *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_natural=BENCH.read_text())
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--rmq-data-root={assets['data']}",
        f"--rmq-checkpoints={assets['ckpt']}",
        f"--rmq-n-samples={N}",
        "--rmq-device=cpu",
        "--rmq-output=out",
        "-k",
        CELLS,
        *args,
    )


def _sidecars(home: Path) -> dict[str, dict[str, object]]:
    return {p.name: json.loads(p.read_text()) for p in (home / "natural").glob("*.json")}


class TestCollection:
    def test_ids_and_markers(self, pytester: pytest.Pytester) -> None:
        """52 x 15 x 5 cells named model-corruption-sS, marked natural and with their group."""
        everything = _collected(pytester)
        assert len(everything) == 3900
        assert "resnet50-pact-4bit-impulse_noise-s3" in everything
        assert "mobilenet_v2-fp32-jpeg_compression-s5" in everything
        for group, n in (("noise", 3), ("blur", 4), ("weather", 4), ("digital", 4)):
            assert len(_collected(pytester, "-m", f"natural and {group}")) == 52 * n * 5
        picked = _collected(pytester, "-k", "resnet50 and (pact or lsq) and impulse_noise")
        assert len(picked) == 40


class TestRun:
    def test_records_summary_table_and_sharing(
        self,
        pytester: pytest.Pytester,
        assets: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ) -> None:
        """20 cells: records, mNR/mCE/rel_mCE, the table; 10 sets made once, reused by -n 2."""
        home = tmp_path / "home"
        monkeypatch.setenv("ROBUSTMQ_HOME", str(home))
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads only add contention
        result = _run(pytester, assets)
        result.assert_outcomes(passed=20)
        data = json.loads((pytester.path / "out" / "results.json").read_text())
        records = {r["cell"]: r for r in data["results"]}
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
        }
        assert r["n_samples"] == N
        ids = data["run"]["sample_sets"][r["settings"]["sample_ids_sha256"]]
        assert len(ids) == N  # the natural cells' own sample set travels with the run
        assert r["settings"]["natural_set"]["package"] == "imagecorruptions-imaug 1.1.5"
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
        result.stdout.fnmatch_lines(["arch*impulse_noise-s1*pixelate-s5*mnr*mce*rel_mce*"])

        # a second run with two xdist workers: the same numbers, and nothing generated again
        _run(pytester, assets, "-n", "2").assert_outcomes(passed=20)
        again = json.loads((pytester.path / "out" / "results.json").read_text())
        for rec in again["results"]:
            assert rec["metrics"] == records[rec["cell"]]["metrics"]
            assert rec["correct"] == records[rec["cell"]]["correct"]
        assert _sidecars(home) == sidecars  # same files, same builder pid: reused, not rebuilt
