"""quantizer_report: each quantizer's step or range, grid and the levels it spans."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from robustmq.models import create_model
from robustmq.quant import describe_quantization, quantize_model, quantizer_report

HALF = (0.5, 0.5, 0.5)  # normalization that maps an image in [0, 1] to [-1, 1]


def _model(quantizer: str, bits: int) -> Any:
    """A quantized resnet18 (width 0.25) whose normalization maps [0, 1] to [-1, 1]."""
    torch.manual_seed(0)
    float_model = create_model("resnet18", num_classes=10, width=0.25, mean=HALF, std=HALF)
    return quantize_model(float_model, quantizer, bits).eval()


def test_lsq_first_input_levels_per_channel() -> None:
    """Step 0.25 on the normalized [-1, 1]: codes -4..4, 9 levels, 0.125 of the image per step."""
    model = _model("lsq", 4)
    with torch.no_grad():
        model.conv1.input_quantizer.step.fill_(0.25)
    rows = quantizer_report(model)
    first = rows[1]
    assert (first.layer, first.role, first.kind, first.bits, first.signed) == (
        "conv1",
        "input",
        "LSQQuantizer",
        8,
        True,
    )
    assert (first.parameter, first.value, first.learned, first.step) == ("step", 0.25, True, 0.25)
    assert (first.grid_levels, first.levels, first.image_step) == (256, (9, 9, 9), (0.125,) * 3)
    inner = rows[3]
    assert (inner.bits, inner.signed, inner.grid_levels, inner.levels) == (4, False, 16, None)


def test_lsq_weight_levels_span_the_weight() -> None:
    model = _model("lsq", 4)
    with torch.no_grad():
        model.conv1.weight.zero_()
        model.conv1.weight[0, 0, 0, :2] = torch.tensor([-0.375, 0.5])
        model.conv1.weight_quantizer.step.fill_(0.125)
    weight = quantizer_report(model)[0]
    assert (weight.role, weight.step, weight.levels, weight.image_step) == (
        "weight",
        0.125,
        (8,),
        None,
    )


@pytest.mark.parametrize(
    ("quantizer", "parameter", "learned"), [("dorefa", "range", False), ("pact", "alpha", True)]
)
def test_clip_quantizers_report_their_bound(quantizer: str, parameter: str, learned: bool) -> None:
    """Bound 0.5 on the signed 8-bit grid: [-1, 1] clips to all 255 levels, step 0.5 / 127."""
    model = _model(quantizer, 4)
    with torch.no_grad():
        getattr(model.conv1.input_quantizer, parameter).fill_(0.5)
        model.conv1.weight.zero_()
        model.conv1.weight[0, 0, 0, :2] = torch.tensor([-1.0, 1.0])
    weight, first, *_ = quantizer_report(model)
    assert (weight.kind, weight.parameter, weight.value, weight.learned) == (
        "DoReFaWeightQuantizer",
        "range",
        1.0,
        False,
    )
    assert (weight.step, weight.grid_levels, weight.levels) == (2 / 255, 256, (256,))
    assert (first.parameter, first.value, first.learned) == (parameter, 0.5, learned)
    assert first.step == pytest.approx(0.5 / 127)
    assert (first.grid_levels, first.levels) == (255, (255, 255, 255))
    assert first.image_step == pytest.approx((0.25 / 127,) * 3)


def test_float_bits_and_no_state_change() -> None:
    model = _model("pact", 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = quantizer_report(model)
    assert len(rows) == 2 * len(describe_quantization(model))
    assert all((r.parameter, r.value, r.step, r.levels) == ("", None, None, None) for r in rows)
    quantized = _model("lsq", 2)
    state = {k: v.clone() for k, v in quantized.state_dict().items()}
    quantizer_report(quantized)
    assert all(torch.equal(state[k], v) for k, v in quantized.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
