"""LSQ quantization (Esser et al. 2020, arXiv 1902.08153).

``v_q = round(clip(v / s, -Q_N, Q_P)) * s`` with a learnable step size ``s`` per tensor, whose
gradient is scaled by ``g = 1 / sqrt(N * Q_P)`` (N: weights in the layer, or features per sample
for activations). Weights and signed activations use Q_N = 2^(b-1), Q_P = 2^(b-1) - 1; non-negative
activations Q_N = 0, Q_P = 2^b - 1. Steps start at ``2 mean(|v|) / sqrt(Q_P)``: for weights at
conversion, for activations from the data seen during calibration.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor, nn

from robustmq.quant.base import Quantizer, QuantizerFamily, register_quantizer
from robustmq.quant.functional import lsq_quantize, signed_range, unsigned_range


def lsq_init_step(values: Tensor, q_p: int) -> float:
    """LSQ's initial step size ``2 mean(|v|) / sqrt(Q_P)`` (never zero)."""
    return max(2.0 * float(values.abs().mean()) / math.sqrt(q_p), 1e-8)


class LSQQuantizer(Quantizer):
    """LSQ quantizer with a learnable step size."""

    initialized: Tensor

    def __init__(self, bits: int, signed: bool, step: float = 1.0, initialized: bool = False):
        super().__init__(bits, signed)
        self.q_n, self.q_p = signed_range(bits) if signed else unsigned_range(bits)
        self.step = nn.Parameter(torch.tensor(float(step)))
        self.register_buffer("initialized", torch.tensor(initialized))
        self._abs_sum = 0.0
        self._count = 0
        self._warned = False

    def forward(self, x: Tensor) -> Tensor:
        if not self._warned and self.enabled and not self.calibrating:
            self._warned = True  # checked once: bool() of a tensor synchronises a GPU
            if not bool(self.initialized):
                warnings.warn(
                    "LSQ step size used before initialisation (step=1.0); run "
                    "robustmq.quant.calibrate(model, batches) or load a trained checkpoint",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return super().forward(x)

    def quantize(self, x: Tensor) -> Tensor:
        n = x.numel() if x.dim() < 2 or self._is_weight else x[0].numel()
        grad_factor = 1.0 / math.sqrt(n * self.q_p)
        return lsq_quantize(x, self.step, self.q_n, self.q_p, grad_factor)

    _is_weight = False

    def observe(self, x: Tensor) -> None:
        self._abs_sum += float(x.abs().sum())
        self._count += x.numel()

    def finish_calibration(self) -> None:
        if self._count:
            with torch.no_grad():
                self.step.fill_(max(2.0 * self._abs_sum / self._count / math.sqrt(self.q_p), 1e-8))
                self.initialized.fill_(True)
        self._abs_sum, self._count = 0.0, 0


class LSQWeightQuantizer(LSQQuantizer):
    """LSQ weight quantizer: signed, step initialised from the weight it quantizes."""

    _is_weight = True

    def __init__(self, bits: int, weight: Tensor | None = None) -> None:
        super().__init__(bits, signed=True)
        if weight is not None and self.enabled:
            with torch.no_grad():
                self.step.fill_(lsq_init_step(weight.detach(), self.q_p))
                self.initialized.fill_(True)

    def observe(self, x: Tensor) -> None:  # weights are initialised at conversion
        pass


@register_quantizer("lsq")
class LSQ(QuantizerFamily):
    """LSQ weights and activations."""

    description = "LSQ: learned step size for weights and activations"
    # 2: the gradient-scaled step equals the step bit for bit in training (it was one ulp off in
    # 3 of the 1,456 quantizer calls of a forward pass through the 16 trained synthetic models)
    arithmetic_version = 2

    @classmethod
    def weight_quantizer(cls, weight: Tensor, bits: int) -> Quantizer:
        return LSQWeightQuantizer(bits, weight)

    @classmethod
    def activation_quantizer(cls, bits: int, signed: bool) -> Quantizer:
        return LSQQuantizer(bits, signed)
