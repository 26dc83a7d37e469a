"""Regression gate and crash-safe resume, driven through pytester on real (tiny) checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from robustmq.checkpoints import load_checkpoint, save_checkpoint
from robustmq.data import get_eval_data, load_tensors

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "test_clean.py"
SMALL = "resnet18 and (fp32 or (lsq and 4bit) or (dorefa and 2bit))"
KILLER = """
import os, signal

def pytest_runtest_call(item):
    if os.environ.get("RMQ_TEST_KILL") and "lsq-4bit" in item.nodeid:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _run(pytester: pytest.Pytester, data: Path, ckpt: Path, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_clean=BENCH.read_text())
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--rmq-data-root={data}",
        f"--rmq-checkpoints={ckpt}",
        "--rmq-n-samples=30",
        "--rmq-device=cpu",
        "--rmq-output=out",
        *args,
    )


def _records(path: Path) -> dict[str, dict[str, object]]:
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
        self, pytester: pytest.Pytester, assets: dict[str, Path], tmp_path: Path
    ) -> None:
        good = tmp_path / "good"
        assert _fitted_copy(assets, good) >= 0.9
        base = pytester.path / "baseline.json"
        first = _run(pytester, assets["data"], good, "-k", SMALL, f"--rmq-save-baseline={base}")
        first.assert_outcomes(passed=3)
        assert _records(base)["resnet18-fp32"]["metrics"]["accuracy"] >= 0.9  # type: ignore[index]

        same = _run(pytester, assets["data"], good, "-k", SMALL, f"--rmq-baseline={base}")
        same.assert_outcomes(passed=3)

        # the original, untrained float model stands in for a worsened one
        worse = _run(
            pytester, assets["data"], assets["ckpt"], "-k", SMALL, f"--rmq-baseline={base}"
        )
        worse.assert_outcomes(passed=2, failed=1)
        worse.stdout.fnmatch_lines(
            ["*resnet18-fp32: accuracy fell from *% (baseline) to *allowed * points*"]
        )
        # the failing cell's record is still written
        assert "resnet18-fp32" in _records(pytester.path / "out" / "results.json")


class TestResume:
    def test_a_killed_run_resumes_to_the_uninterrupted_table(
        self, pytester: pytest.Pytester, assets: dict[str, Path], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _run(pytester, assets["data"], assets["ckpt"], "-k", SMALL).assert_outcomes(passed=3)
        complete = _records(pytester.path / "out" / "results.json")
        shutil.rmtree(pytester.path / "out")

        pytester.makeconftest(KILLER)
        monkeypatch.setenv("RMQ_TEST_KILL", "1")
        killed = _run(pytester, assets["data"], assets["ckpt"], "-k", SMALL)
        assert killed.ret not in (0, 1)  # died from the signal
        journal = (pytester.path / "out" / "journal.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["record"]["cell"] for line in journal) == [
            "resnet18-dorefa-2bit",
            "resnet18-fp32",
        ]

        monkeypatch.delenv("RMQ_TEST_KILL")
        resumed = _run(pytester, assets["data"], assets["ckpt"], "-k", SMALL, "--rmq-resume")
        resumed.assert_outcomes(passed=3)
        resumed.stdout.fnmatch_lines(["2 cells resumed from the journal"])
        final = _records(pytester.path / "out" / "results.json")
        assert final.keys() == complete.keys()
        for cell, record in complete.items():
            assert final[cell]["metrics"] == record["metrics"]
            assert final[cell]["correct"] == record["correct"]
        assert len((pytester.path / "out" / "journal.jsonl").read_text().splitlines()) == 3

    def test_resume_reruns_cells_whose_settings_changed(
        self, pytester: pytest.Pytester, assets: dict[str, Path]
    ) -> None:
        _run(pytester, assets["data"], assets["ckpt"], "-k", "resnet18 and fp32").assert_outcomes(
            passed=1
        )
        again = _run(
            pytester,
            assets["data"],
            assets["ckpt"],
            "-k",
            "resnet18 and fp32",
            "--rmq-resume",
            "--rmq-seed=1",
        )
        again.assert_outcomes(passed=1)
        assert "resumed from the journal" not in again.stdout.str()
