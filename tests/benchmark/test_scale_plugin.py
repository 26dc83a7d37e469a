"""Regression gate and crash-safe resume, driven through pytester on real (tiny) checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from robustmq.checkpoints import load_checkpoint, save_checkpoint
from robustmq.data import get_eval_data, load_tensors

pytestmark = pytest.mark.slow  # every test runs benchmark cells in subprocesses (10-30 s each)
SMALL = "resnet18 and (fp32 or (lsq and 4bit) or (dorefa and 2bit))"
RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py
KILLER = """
import os, signal

def pytest_runtest_call(item):
    if os.environ.get("RMQ_TEST_KILL") and "lsq-4bit" in item.nodeid:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _records(path: Path) -> dict[str, dict[str, Any]]:
    return {r["cell"]: r for r in json.loads(path.read_text())["results"]}


def _fitted_copy(assets: dict[str, Path], target: Path) -> float:
    """Write a resnet18-fp32 whose last layer is fitted to the 30 eval images; its accuracy."""
    model = load_checkpoint(assets["ckpt"] / "resnet18-fp32.safetensors")
    dataset, pipeline = get_eval_data("synthetic", data_root=assets["data"], n_per_class=3)
    data = load_tensors(dataset, pipeline, cache=False)
    fc: nn.Linear = model.fc  # type: ignore[assignment]
    model.fc = nn.Identity()  # type: ignore[assignment]
    with torch.no_grad():
        features = model(data.images)
    model.fc = fc
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(fc.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        nn.functional.cross_entropy(fc(features), data.labels).backward()
        optimizer.step()
    target.mkdir(parents=True, exist_ok=True)
    for f in assets["ckpt"].iterdir():
        shutil.copy(f, target / f.name)
    save_checkpoint(model, target / "resnet18-fp32.safetensors", profile="test")
    with torch.no_grad():
        return float((fc(features).argmax(1) == data.labels).float().mean())


class TestRegressionGate:
    def test_a_worsened_model_fails_the_gate_and_an_equal_one_passes(
        self, run_bench: RunBench, assets: dict[str, Path], tmp_path: Path
    ) -> None:
        """A cell whose accuracy fell beyond the allowance fails; an equal run passes."""
        good = tmp_path / "good"
        assert _fitted_copy(assets, good) >= 0.9
        base = tmp_path / "baseline.json"
        first = run_bench("-k", SMALL, f"--rmq-save-baseline={base}", checkpoints=good)
        first.result.assert_outcomes(passed=3)
        assert _records(base)["resnet18-fp32"]["metrics"]["accuracy"] >= 0.9

        same = run_bench("-k", SMALL, f"--rmq-baseline={base}", checkpoints=good)
        same.result.assert_outcomes(passed=3)

        # the original, untrained float model stands in for a worsened one
        worse = run_bench("-k", SMALL, f"--rmq-baseline={base}")
        worse.result.assert_outcomes(passed=2, failed=1)
        worse.result.stdout.fnmatch_lines(
            ["*resnet18-fp32: accuracy fell from *% (baseline) to *allowed * points*"]
        )
        # the failing cell's record is still written
        assert "resnet18-fp32" in worse.records


class TestResume:
    def test_a_killed_run_resumes_to_the_uninterrupted_table(
        self, pytester: pytest.Pytester, run_bench: RunBench, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A run killed mid-way and resumed with --rmq-resume records what an unbroken run does."""
        uninterrupted = run_bench("-k", SMALL)
        uninterrupted.result.assert_outcomes(passed=3)
        complete = uninterrupted.records
        shutil.rmtree(uninterrupted.out)

        pytester.makeconftest(KILLER)
        monkeypatch.setenv("RMQ_TEST_KILL", "1")
        killed = run_bench("-k", SMALL)
        assert killed.result.ret not in (0, 1)  # died from the signal
        journal = (killed.out / "journal.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["record"]["cell"] for line in journal) == [
            "resnet18-dorefa-2bit",
            "resnet18-fp32",
        ]

        monkeypatch.delenv("RMQ_TEST_KILL")
        resumed = run_bench("-k", SMALL, "--rmq-resume")
        resumed.result.assert_outcomes(passed=3)
        resumed.result.stdout.fnmatch_lines(["2 cells resumed from the journal"])
        final = resumed.records
        assert final.keys() == complete.keys()
        for cell, record in complete.items():
            assert final[cell]["metrics"] == record["metrics"]
            assert final[cell]["correct"] == record["correct"]
        assert len((resumed.out / "journal.jsonl").read_text().splitlines()) == 3

    def test_resume_reruns_cells_whose_settings_changed(self, run_bench: RunBench) -> None:
        """--rmq-resume reruns a journalled cell when a setting that changes numbers changed."""
        run_bench("-k", "resnet18 and fp32").result.assert_outcomes(passed=1)
        again = run_bench("-k", "resnet18 and fp32", "--rmq-resume", "--rmq-seed=1").result
        again.assert_outcomes(passed=1)
        assert "resumed from the journal" not in again.stdout.str()
