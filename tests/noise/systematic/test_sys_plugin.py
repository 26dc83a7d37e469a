"""The systematic cells through pytester: ids, markers, records, summaries and the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robustmq.checkpoints import save_checkpoint
from robustmq.data import ensure_synthetic
from robustmq.models import create_model

BENCH = Path(__file__).resolve().parents[3] / "benchmarks"
CELLS = "resnet18 and fp32 and (decoder or resize_opencv_area)"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny synthetic folder (3 val images per class) and an untrained resnet18 checkpoint."""
    root = tmp_path_factory.mktemp("sys_assets")
    data = ensure_synthetic(root / "data", train_per_class=1, val_per_class=3, size=40)
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10, width=0.25)
    save_checkpoint(model, root / "ckpt" / "resnet18-fp32.safetensors", profile="test")
    return {"data": data, "ckpt": root / "ckpt"}


def _files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_systematic=(BENCH / "test_systematic.py").read_text(),
        test_clean=(BENCH / "test_clean.py").read_text(),
    )


def _collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    return [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "::" in line]


class TestCollection:
    def test_ids_and_markers(self, pytester: pytest.Pytester) -> None:
        """52 x 14 cells; -k picks the named cells; markers systematic, decoder and resize."""
        _files(pytester)
        everything = _collected(pytester, "test_systematic.py")
        assert len(everything) == 52 * 14
        assert "mobilenet_v2-lsq-2bit-resize_pil_nearest" in everything
        assert "resnet18-fp32-decoder_opencv" in everything
        picked = _collected(pytester, "-k", "mobilenet_v2 and resize_pil_nearest")
        assert len(picked) == 13
        assert all(i.startswith("mobilenet_v2-") for i in picked)
        assert len(_collected(pytester, "-m", "systematic and decoder")) == 52 * 3
        assert len(_collected(pytester, "-m", "systematic and resize")) == 52 * 11
        assert len(_collected(pytester, "-m", "systematic and not (decoder or resize)")) == 0


class TestRun:
    def test_records_summary_and_table(
        self, pytester: pytest.Pytester, assets: dict[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """4 systematic cells and the clean cell: records, ACCs summary and table columns."""
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny models: threads only add contention
        _files(pytester)
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--rmq-data-root={assets['data']}",
            f"--rmq-checkpoints={assets['ckpt']}",
            "--rmq-n-samples=30",
            "--rmq-device=cpu",
            "--rmq-output=out",
            "-k",
            f"({CELLS}) or (test_clean and resnet18-fp32)",
        )
        result.assert_outcomes(passed=5)
        data = json.loads((pytester.path / "out" / "results.json").read_text())
        records = {r["cell"]: r for r in data["results"]}
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
        header = (pytester.path / "out" / "table.md").read_text().splitlines()[0]
        for column in ("decoder_ffmpeg", "resize_opencv_area", "accs", "accs_std", "accs_range"):
            assert f" {column} |" in header
        result.stdout.fnmatch_lines(["arch*decoder_pil*accs*accs_std*accs_range*"])
