"""What a (trained) quantized model's quantizers hold: step or range, grid, levels used.

One :class:`QuantizerRow` per weight and input quantizer of every quantized layer. The *grid
step* is the spacing of the values a quantizer outputs: LSQ's step ``s``; ``r / n`` for DoReFa's
fixed activation range r and ``alpha / n`` for PACT's learned clip (n = 2^b - 1, or 2^(b-1) - 1
on the symmetric signed grid); ``2 / (2^b - 1)`` for DoReFa/PACT weights, whose tanh-normalized
values are quantized on [-1, 1]. *Levels over the data range* counts the grid values a quantizer's
output spans, ``(q(hi) - q(lo)) / step + 1``, where [lo, hi] is a range known without data:

- weights: the weight tensor's own range (the span of the quantized weight);
- the first layer's input: one image channel over [0, 1], normalized by the model's
  ``input_mean``/``input_std`` (per channel; ``image_step`` is then the grid step in [0, 1] image
  units, so 1/255 gives 256 levels);
- every other input depends on the data: no count (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from robustmq.quant.base import Quantizer
from robustmq.quant.dorefa import DoReFaActivationQuantizer, DoReFaWeightQuantizer
from robustmq.quant.functional import unit_levels
from robustmq.quant.layers import QuantConv2d, QuantLinear
from robustmq.quant.lsq import LSQQuantizer
from robustmq.quant.pact import PACTActivationQuantizer

#: The report's definitions, one line each (the CLI prints them above the table).
DEFINITIONS = (
    "grid step: spacing of the quantizer's output values (LSQ: s; DoReFa: r/n; PACT: alpha/n; "
    "DoReFa/PACT weights: 2/(2^b-1) on the tanh-normalized [-1, 1]), n = 2^b-1 (2^(b-1)-1 signed)",
    "levels: grid values the output spans over a range known without data, (q(hi)-q(lo))/step + 1:"
    " weights over the weight's own range; the first layer's input per channel over an image "
    "in [0, 1] (normalized by the model's mean/std); other inputs: - (data-dependent)",
    "image step: the first layer's grid step in units of 1/255 of the [0, 1] image, per channel",
)


@dataclass(frozen=True)
class QuantizerRow:
    """One quantizer of a quantized layer (see the module docstring for the definitions).

    ``parameter`` names the quantizer's scale (``step``, ``alpha`` or ``range``; ``""`` for an
    identity or unknown quantizer) and ``value`` its value; ``learned`` whether QAT trains it.
    ``levels`` has one entry for a weight and one per channel for the first layer's input.
    """

    layer: str
    role: str
    kind: str
    bits: int
    signed: bool
    parameter: str
    value: float | None
    learned: bool
    step: float | None
    grid_levels: int | None
    levels: tuple[int, ...] | None = None
    image_step: tuple[float, ...] | None = None


def _scale(q: Quantizer) -> tuple[str, float | None, bool, float | None, int | None]:
    """``(parameter, value, learned, grid step, grid levels)`` of ``q``."""
    if not q.enabled:
        return "", None, False, None, None
    if isinstance(q, LSQQuantizer):
        step = float(q.step.detach())
        return "step", step, True, step, q.q_n + q.q_p + 1
    if isinstance(q, DoReFaWeightQuantizer):
        n, _ = unit_levels(q.bits, signed=False)
        return "range", 1.0, False, 2.0 / n, int(n) + 1
    if isinstance(q, (DoReFaActivationQuantizer, PACTActivationQuantizer)):
        learned = isinstance(q, PACTActivationQuantizer)
        bound = float((q.alpha if learned else q.range).detach())  # type: ignore[operator]
        n, low = unit_levels(q.bits, q.signed)
        return ("alpha" if learned else "range"), bound, learned, bound / n, int(n * (1 - low)) + 1
    return "", None, False, None, None


def _span(q: Quantizer, lo: Tensor, hi: Tensor, step: float) -> tuple[int, ...]:
    """Grid values ``q``'s output spans between ``lo`` and ``hi`` (elementwise; q is monotone)."""
    with torch.no_grad():
        out_lo, out_hi = q.quantize(lo.clone()), q.quantize(hi.clone())
    return tuple(int(v) for v in torch.round((out_hi - out_lo) / step).add(1).tolist())


def _image_range(model: nn.Module, layer: nn.Module) -> tuple[Tensor, Tensor, Tensor] | None:
    """``(lo, hi, std)`` per channel of the normalized [0, 1] image ``layer`` receives, if known."""
    mean, std = getattr(model, "input_mean", None), getattr(model, "input_std", None)
    if not isinstance(mean, Tensor) or not isinstance(std, Tensor):
        return None
    if not isinstance(layer, QuantConv2d) or layer.in_channels != mean.numel():
        return None
    mean, std = mean.detach().flatten().float(), std.detach().flatten().float()
    return (0 - mean) / std, (1 - mean) / std, std


def quantizer_report(model: nn.Module) -> list[QuantizerRow]:
    """One row per weight and input quantizer of ``model``'s quantized layers, layer by layer.

    The first quantized layer in registration order (the one fed the normalized image in every
    registered architecture) gets per-channel input levels when the model carries
    ``input_mean``/``input_std``. Reads the model only; its parameters and buffers are unchanged.
    """
    rows: list[QuantizerRow] = []
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (QuantConv2d, QuantLinear))]
    for index, (name, layer) in enumerate(layers):
        for role, q in (("weight", layer.weight_quantizer), ("input", layer.input_quantizer)):
            parameter, value, learned, step, grid = _scale(q)
            levels: tuple[int, ...] | None = None
            image_step: tuple[float, ...] | None = None
            if step is not None and role == "weight":
                with torch.no_grad():
                    qw = q.quantize(layer.weight.detach().clone())
                levels = (round(float(qw.max() - qw.min()) / step) + 1,)
            elif step is not None and index == 0:
                image = _image_range(model, layer)
                if image is not None:
                    lo, hi, std = image
                    device = layer.weight.device
                    levels = _span(q, lo.to(device), hi.to(device), step)
                    image_step = tuple(float(v) for v in (step * std).tolist())
            rows.append(
                QuantizerRow(
                    layer=name,
                    role=role,
                    kind=type(q).__name__,
                    bits=q.bits,
                    signed=q.signed,
                    parameter=parameter,
                    value=value,
                    learned=learned,
                    step=step,
                    grid_levels=grid,
                    levels=levels,
                    image_step=image_step,
                )
            )
    return rows
