"""DoReFa-Net quantization (Zhou et al. 2016, arXiv 1606.06160).

Weights: ``tanh(w) / (2 max|tanh(w)|) + 1/2`` quantized to k bits on [0, 1], mapped to [-1, 1].
Activations: non-negative inputs are clipped to [0, 1] and quantized to k bits (the paper), after
division by a fixed per-layer range r: ``r * quantize_k(clip(x / r, 0, 1))``. r is a buffer, never
learned: 1 (exactly the paper) until calibration sets it to the 99.9th percentile of the float
model's input. Dividing by r is the same as dividing the preceding BatchNorm's affine parameters by
r, a re-parametrisation that lets QAT from float weights start from the float model's function
instead of one whose activations are all saturated at 1. Signed inputs (which the paper does not
cover: the normalized image, MobileNetV2's linear bottlenecks) use [-r, r] on the symmetric k-bit
grid, r from the 99.9th percentile of |x|. Computed as the same grid on integers,
``round(clip(x / s, 0, n)) * s`` with ``s = r / n`` (``functional.clip_quantize``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustmq.quant.base import Quantizer, QuantizerFamily, register_quantizer
from robustmq.quant.functional import (
    clip_quantize,
    dorefa_weight,
    observed_quantile,
)


class DoReFaWeightQuantizer(Quantizer):
    """DoReFa weight quantizer (stateless)."""

    def __init__(self, bits: int) -> None:
        super().__init__(bits, signed=True)

    def quantize(self, x: Tensor) -> Tensor:
        return dorefa_weight(x, self.bits)


class DoReFaActivationQuantizer(Quantizer):
    """DoReFa activation quantizer: [0, 1] for non-negative inputs, [-r, r] for signed ones."""

    range: Tensor

    def __init__(self, bits: int, signed: bool) -> None:
        super().__init__(bits, signed)
        self.register_buffer("range", torch.tensor(1.0))
        self._observed = 0.0

    def quantize(self, x: Tensor) -> Tensor:
        return clip_quantize(x, self.range, self.bits, self.signed)

    def observe(self, x: Tensor) -> None:
        self._observed = max(self._observed, observed_quantile(x, self.signed))

    def finish_calibration(self) -> None:
        if self._observed > 0:
            self.range.fill_(self._observed)
        self._observed = 0.0


@register_quantizer("dorefa")
class DoReFa(QuantizerFamily):
    """DoReFa weights and fixed-range activations."""

    description = "DoReFa-Net: tanh-normalized weights, activations clipped to [0, 1]"
    # 2: activations are ``round(clip(x / s, 0, n)) * s`` (s = r / n) in training as in evaluation;
    # training computed ``round(clip(x / r, 0, 1) * n) / n * r``, except for the first layer's input
    arithmetic_version = 2

    @classmethod
    def weight_quantizer(cls, weight: Tensor, bits: int) -> Quantizer:
        return DoReFaWeightQuantizer(bits)

    @classmethod
    def activation_quantizer(cls, bits: int, signed: bool) -> Quantizer:
        return DoReFaActivationQuantizer(bits, signed)
