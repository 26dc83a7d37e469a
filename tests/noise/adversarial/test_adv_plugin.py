"""The adversarial cells through the plugin (pytester, tiny synthetic set, untrained models)."""

from __future__ import annotations

from typing import Any

import pytest

FOUR = "resnet18 and (fp32 or (lsq and 4bit)) and (fgsm_linf-eps8 or pgd_linf-eps2)"
RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


@pytest.fixture
def bench_files() -> tuple[str, ...]:
    """``run_bench`` works on the adversarial cells."""
    return ("test_adversarial",)


class TestCollection:
    def test_cells_of_one_model(self, run_bench: RunBench) -> None:
        """-k "resnet18 and dorefa and 4bit" collects its 13 cells; markers select attacks."""
        ids = run_bench.cells("-k", "resnet18 and dorefa and 4bit")
        assert ids[0] == "resnet18-dorefa-4bit-fgsm_linf-eps0.5"
        assert "resnet18-dorefa-4bit-pgd_l2-eps2" in ids
        assert "resnet18-dorefa-4bit-autoattack_linf-eps8" in ids
        assert ids[-1] == "resnet18-dorefa-4bit-pgd_linf-eps64"
        assert len(ids) == 13
        autoattack = run_bench.collect("-m", "autoattack", "-k", "dorefa and 4bit")
        assert len(autoattack) == 12  # 4 archs x 3 budgets


@pytest.mark.slow
class TestRun:
    def test_records_table_and_xdist(self, run_bench: RunBench) -> None:
        """Cells record robust accuracy, AR, params and diagnostics, the table shows WCAR, and
        pytest -n 2 gives the same per-sample results."""
        run = run_bench("-k", FOUR, n_samples=10)
        run.result.assert_outcomes(passed=4)
        serial = run.records
        assert set(serial) == {
            "resnet18-fp32-fgsm_linf-eps8",
            "resnet18-fp32-pgd_linf-eps2",
            "resnet18-lsq-4bit-fgsm_linf-eps8",
            "resnet18-lsq-4bit-pgd_linf-eps2",
        }
        pgd = serial["resnet18-lsq-4bit-pgd_linf-eps2"]
        assert pgd["family"] == "adversarial"
        assert pgd["params"]["norm"] == "linf"
        assert pgd["params"]["eps"] == pytest.approx(2 / 255)
        assert pgd["params"]["steps"] == 20
        metrics = pgd["metrics"]
        assert {"robust_accuracy", "ar", "transfer_robust_accuracy"} <= set(metrics)
        assert metrics["robust_accuracy"] <= metrics["clean_accuracy"]
        header = next(line for line in run.result.outlines if line.startswith("arch "))
        assert "pgd_linf-eps2" in header
        assert "wcar" in header
        again = run_bench("-k", FOUR, "-n", "2", n_samples=10)
        again.result.assert_outcomes(passed=4)
        parallel = again.records
        for cell, record in serial.items():
            assert parallel[cell]["correct"] == record["correct"]
            assert parallel[cell]["metrics"] == record["metrics"]

    def test_fail_on_masking_keeps_the_record(
        self, pytester: pytest.Pytester, run_bench: RunBench
    ) -> None:
        """--rmq-fail-on-masking fails a flagged cell, and its record still reaches results."""
        pytester.makeconftest(
            "import robustmq.noise.adversarial.masking as m\nm.SANITY_MAX_ACCURACY = -1.0\n"
        )
        run = run_bench("-k", "resnet18 and fp32 and eps64", "--rmq-fail-on-masking", n_samples=10)
        run.result.assert_outcomes(failed=1)
        run.result.stdout.fnmatch_lines(["*masking:sanity_not_zero*--rmq-fail-on-masking*"])
        record = run.records["resnet18-fp32-pgd_linf-eps64"]
        assert record["flags"] == ["masking:sanity_not_zero"]
        assert record["params"]["diagnostic"] is True
