"""robustmq.ptq_perf: the PTQ-vs-QAT table reads the zoo, never trains it, and renders gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustmq import ptq_perf, zoo
from robustmq.cells import ModelSpec
from robustmq.ptq_perf import GapRow, measure, render


def test_a_missing_zoo_is_reported_not_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty zoo folder: every row says what is missing; nothing is built."""

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("ptq_perf must not train")

    monkeypatch.setattr(zoo, "build_model", no_training)
    monkeypatch.setattr(ptq_perf, "ensure_ptq_checkpoint", no_training)
    specs = [ModelSpec("resnet18", "lsq", 4), ModelSpec("resnet18", "pact", 2)]
    rows = [
        row for row, _ in measure("synthetic", specs, [8], root=tmp_path, zoo_root=str(tmp_path))
    ]
    assert [(r.qat, r.ptq, r.float_accuracy) for r in rows] == [(None, {}, None)] * 2
    assert rows[0].note == (
        f"missing: {tmp_path / 'resnet18-fp32.safetensors'}; "
        f"missing: {tmp_path / 'resnet18-lsq-4bit.safetensors'}"
    )


def test_render_gives_gaps_in_points_and_means() -> None:
    rows = [
        GapRow(ModelSpec("resnet18", "lsq", 4), 0.924, 0.914, {256: 0.884}),
        GapRow(ModelSpec("resnet50", "lsq", 4), 0.914, 0.914, {256: 0.908}),
        GapRow(ModelSpec("resnet50", "pact", 2), None, None, {}, "missing: x"),
    ]
    lines = render(rows, [256], "# header")
    assert lines[0] == "# header"
    assert "| resnet18-lsq-4bit | 92.4 | 91.4 | 88.4 | -3.0 |  |" in lines
    assert "| resnet50-pact-2bit | - | - | - | - | missing: x |" in lines
    assert lines[-2:] == ["| lsq | 4 | -1.8 |", "| pact | 2 | - |"]
