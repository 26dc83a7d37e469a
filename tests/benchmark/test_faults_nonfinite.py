"""Fault injection on models (issue 15, defect 5: a model with NaN weights gave chance accuracy
without any flag): NaN/inf weights and outputs flag the cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from robustmq.benchmark.finite import NONFINITE_OUTPUT, NONFINITE_WEIGHTS, watch
from robustmq.checkpoints import load_checkpoint, save_checkpoint

RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def test_nonfinite_weights_and_outputs_are_flagged() -> None:
    """Defect 5: NaN weights are found once per model; an inf output flags until reset."""
    model = _Scale()
    found = watch(model)
    assert watch(model) is found
    assert found.flags() == []
    model(torch.tensor([1.0, float("inf"), 0.0]))
    assert found.flags() == [NONFINITE_OUTPUT]
    found.reset()
    model(torch.ones(3))
    assert found.flags() == []
    broken = _Scale()
    with torch.no_grad():
        broken.weight[1] = float("nan")
    assert watch(broken).flags() == [NONFINITE_WEIGHTS]


@pytest.mark.slow
def test_nan_weights_flag_the_cell_and_the_table(
    run_bench: RunBench, assets: dict[str, Path], tmp_path: Path
) -> None:
    """Defect 5 (a model with NaN weights gives 10 % accuracy without any flag)."""
    model = load_checkpoint(assets["ckpt"] / "resnet18-fp32.safetensors")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    save_checkpoint(model, tmp_path / "nan" / "resnet18-fp32.safetensors", profile="test")
    run = run_bench("-k", "resnet18 and fp32", checkpoints=tmp_path / "nan")
    run.result.assert_outcomes(passed=1)
    flags = run.records["resnet18-fp32"]["flags"]
    assert {NONFINITE_WEIGHTS, NONFINITE_OUTPUT} <= set(flags)
    run.result.stdout.fnmatch_lines(["resnet18*fp32*nonfinite_output, nonfinite_weights*"])
    assert "nonfinite_weights" in (run.out / "table.md").read_text()
