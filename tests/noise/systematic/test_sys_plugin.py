"""The systematic cells through pytester: ids, markers, records, summaries and the table."""

from __future__ import annotations

from typing import Any

import pytest

CELLS = "resnet18 and fp32 and (decoder or resize_opencv_area)"
RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


@pytest.fixture
def bench_files() -> tuple[str, ...]:
    """``run_bench`` works on the systematic cells and the clean ones (their reference)."""
    return ("test_systematic", "test_clean")


class TestCollection:
    def test_ids_and_markers(self, run_bench: RunBench) -> None:
        """52 x 14 cells; -k picks the named cells; markers systematic, decoder and resize."""
        everything = run_bench.cells("test_systematic.py")
        assert len(everything) == 52 * 14
        assert "mobilenet_v2-lsq-2bit-resize_pil_nearest" in everything
        assert "resnet18-fp32-decoder_opencv" in everything
        picked = run_bench.cells("-k", "mobilenet_v2 and resize_pil_nearest")
        assert len(picked) == 13
        assert all(i.startswith("mobilenet_v2-") for i in picked)
        assert len(run_bench.cells("-m", "systematic and decoder")) == 52 * 3
        assert len(run_bench.cells("-m", "systematic and resize")) == 52 * 11
        assert len(run_bench.cells("-m", "systematic and not (decoder or resize)")) == 0


@pytest.mark.slow
class TestRun:
    def test_records_summary_and_table(self, run_bench: RunBench) -> None:
        """4 systematic cells and the clean cell: records, ACCs summary and table columns."""
        run = run_bench("-k", f"({CELLS}) or (test_clean and resnet18-fp32)")
        run.result.assert_outcomes(passed=5)
        data, records = run.data, run.records
        assert set(records) == {
            "resnet18-fp32",
            "resnet18-fp32-decoder_pil",
            "resnet18-fp32-decoder_opencv",
            "resnet18-fp32-decoder_ffmpeg",
            "resnet18-fp32-resize_opencv_area",
        }
        clean = records.pop("resnet18-fp32")
        reference = records["resnet18-fp32-decoder_pil"]
        # the reference variant is the clean pipeline: same per-sample correctness
        assert reference["correct"] == clean["correct"]
        assert reference["metrics"]["accuracy"] == clean["metrics"]["accuracy"]
        assert reference["metrics"]["delta_vs_reference"] == 0.0
        # OpenCV decodes these JPEGs bit for bit as Pillow: same predictions
        assert records["resnet18-fp32-decoder_opencv"]["correct"] == reference["correct"]
        for cell, r in records.items():
            assert r["family"] == "systematic"
            assert r["n_samples"] == 30
            assert r["params"]["variant"] == r["noise"] == cell.removeprefix("resnet18-fp32-")
            assert r["params"]["geometry"] == r["settings"]["resize_geometry"] == "aspect"
            assert r["settings"]["pipeline"]["decoder"] == r["params"]["decoder"]
            assert r["settings"]["reference_pipeline"]["decoder"] == "pil"
            assert "av" in r["settings"]["decoder_versions"]
            metrics = r["metrics"]
            assert metrics["delta_vs_reference"] == pytest.approx(
                metrics["accuracy"] - metrics["reference_accuracy"]
            )
        summary = data["summaries"]["resnet18-fp32"]
        accuracies = [r["metrics"]["accuracy"] for r in records.values()]
        assert summary["values"]["accs"] == pytest.approx(sum(accuracies) / 4)
        assert summary["values"]["accs_range"] == pytest.approx(max(accuracies) - min(accuracies))
        assert summary["flags"] == ["accs_partial"]
        header = (run.out / "table.md").read_text().splitlines()[0]
        for column in ("decoder_ffmpeg", "resize_opencv_area", "accs", "accs_std", "accs_range"):
            assert f" {column} |" in header
        run.result.stdout.fnmatch_lines(["arch*decoder_pil*accs*accs_std*accs_range*"])
