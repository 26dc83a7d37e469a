"""The adversarial cells through the plugin (pytester, tiny synthetic set, untrained models)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from robustmq.checkpoints import save_checkpoint
from robustmq.data import ensure_synthetic
from robustmq.models import create_model
from robustmq.quant import calibrate, quantize_model

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "test_adversarial.py"
FOUR = "resnet18 and (fp32 or (lsq and 4bit)) and (fgsm_linf-eps8 or pgd_linf-eps2)"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny synthetic image folder and two untrained resnet18 checkpoints (fp32, LSQ 4-bit)."""
    root = tmp_path_factory.mktemp("adv_assets")
    data = ensure_synthetic(root / "data", train_per_class=1, val_per_class=1, size=40)
    ckpt = root / "ckpt"
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10, width=0.25)
    save_checkpoint(model, ckpt / "resnet18-fp32.safetensors", profile="test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = quantize_model(model, "lsq", 4)
        calibrate(q, [torch.rand(8, 3, 32, 32)])
    save_checkpoint(q, ckpt / "resnet18-lsq-4bit.safetensors", profile="test")
    return {"data": data, "ckpt": ckpt}


@pytest.fixture(autouse=True)
def _one_thread_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny models: one torch thread per process beats two on a busy 2-core machine (~10x)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _run(pytester: pytest.Pytester, assets: dict[str, Path], *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_adversarial=BENCH.read_text())
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--rmq-data-root={assets['data']}",
        f"--rmq-checkpoints={assets['ckpt']}",
        "--rmq-n-samples=10",
        "--rmq-device=cpu",
        "--rmq-output=out",
        *args,
    )


def _records(pytester: pytest.Pytester) -> dict[str, dict[str, object]]:
    data = json.loads((pytester.path / "out" / "results.json").read_text())
    return {r["cell"]: r for r in data["results"]}


class TestCollection:
    def test_cells_of_one_model(self, pytester: pytest.Pytester) -> None:
        """-k "resnet18 and dorefa and 4bit" collects its 13 cells; markers select attacks."""
        pytester.makepyfile(test_adversarial=BENCH.read_text())
        result = pytester.runpytest("--collect-only", "-q", "-k", "resnet18 and dorefa and 4bit")
        ids = [line.split("[")[1].rstrip("]") for line in result.outlines if "::" in line]
        assert ids[0] == "resnet18-dorefa-4bit-fgsm_linf-eps0.5"
        assert "resnet18-dorefa-4bit-pgd_l2-eps2" in ids
        assert "resnet18-dorefa-4bit-autoattack_linf-eps8" in ids
        assert ids[-1] == "resnet18-dorefa-4bit-pgd_linf-eps64"
        assert len(ids) == 13
        result = pytester.runpytest(
            "--collect-only", "-q", "-m", "autoattack", "-k", "dorefa and 4bit"
        )
        assert sum("::" in line for line in result.outlines) == 12  # 4 archs x 3 budgets


class TestRun:
    def test_records_table_and_xdist(
        self, pytester: pytest.Pytester, assets: dict[str, Path]
    ) -> None:
        """Cells record robust accuracy, AR, params and diagnostics; the table shows WCAR;
        pytest -n 2 gives the same per-sample results."""
        result = _run(pytester, assets, "-k", FOUR)
        result.assert_outcomes(passed=4)
        serial = _records(pytester)
        assert set(serial) == {
            "resnet18-fp32-fgsm_linf-eps8",
            "resnet18-fp32-pgd_linf-eps2",
            "resnet18-lsq-4bit-fgsm_linf-eps8",
            "resnet18-lsq-4bit-pgd_linf-eps2",
        }
        pgd = serial["resnet18-lsq-4bit-pgd_linf-eps2"]
        assert pgd["family"] == "adversarial"
        assert pgd["params"]["norm"] == "linf"  # type: ignore[index]
        assert pgd["params"]["eps"] == pytest.approx(2 / 255)  # type: ignore[index]
        assert pgd["params"]["steps"] == 20  # type: ignore[index]
        metrics = pgd["metrics"]
        assert {"robust_accuracy", "ar", "transfer_robust_accuracy"} <= set(metrics)  # type: ignore[arg-type]
        assert metrics["robust_accuracy"] <= metrics["clean_accuracy"]  # type: ignore[index]
        header = next(line for line in result.outlines if line.startswith("arch "))
        assert "pgd_linf-eps2" in header
        assert "wcar" in header
        _run(pytester, assets, "-k", FOUR, "-n", "2").assert_outcomes(passed=4)
        parallel = _records(pytester)
        for cell, record in serial.items():
            assert parallel[cell]["correct"] == record["correct"]
            assert parallel[cell]["metrics"] == record["metrics"]

    def test_fail_on_masking_keeps_the_record(
        self, pytester: pytest.Pytester, assets: dict[str, Path]
    ) -> None:
        """--rmq-fail-on-masking fails a flagged cell, and its record still reaches results."""
        pytester.makeconftest(
            "import robustmq.noise.adversarial.masking as m\nm.SANITY_MAX_ACCURACY = -1.0\n"
        )
        result = _run(
            pytester, assets, "-k", "resnet18 and fp32 and eps64", "--rmq-fail-on-masking"
        )
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*masking:sanity_not_zero*--rmq-fail-on-masking*"])
        record = _records(pytester)["resnet18-fp32-pgd_linf-eps64"]
        assert record["flags"] == ["masking:sanity_not_zero"]
        assert record["params"]["diagnostic"] is True  # type: ignore[index]
