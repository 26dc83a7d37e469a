"""PACT quantization (Choi et al. 2018, arXiv 1805.06085).

Activations: ``y = clip(x, 0, alpha)`` with a learnable alpha per layer, quantized to k bits on
[0, alpha]; alpha's gradient is 1 where ``x >= alpha`` (the paper's eq. 3). Signed inputs use the
symmetric variant ``clip(x, -alpha, alpha)``. Weights are quantized as in DoReFa, as the PACT paper
does. Alpha starts at 10 (the paper's "large value") and calibration, when run, sets it to the
99.9th percentile of the observed input (of |x| when signed), which lets short fine-tuning converge.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robustmq.quant.base import Quantizer, QuantizerFamily, register_quantizer
from robustmq.quant.dorefa import DoReFaWeightQuantizer
from robustmq.quant.functional import observed_quantile, pact_quantize

#: Initial clipping level before calibration (PACT paper: a large value).
PACT_ALPHA_INIT = 10.0


class PACTActivationQuantizer(Quantizer):
    """PACT activation quantizer with a learnable clipping level ``alpha``."""

    def __init__(self, bits: int, signed: bool, alpha: float = PACT_ALPHA_INIT) -> None:
        super().__init__(bits, signed)
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))
        self._observed: float = 0.0

    def quantize(self, x: Tensor) -> Tensor:
        return pact_quantize(x, self.alpha, self.bits, self.signed)

    def observe(self, x: Tensor) -> None:
        self._observed = max(self._observed, observed_quantile(x, self.signed))

    def finish_calibration(self) -> None:
        if self._observed > 0:
            with torch.no_grad():
                self.alpha.fill_(self._observed)
        self._observed = 0.0


@register_quantizer("pact")
class PACT(QuantizerFamily):
    """PACT activations with DoReFa weights."""

    description = "PACT: learnable activation clipping alpha, DoReFa weights"
    # 2: activation values are ``round(clip(x / s, 0, n)) * s`` (s = alpha / n), as evaluation
    # computed them; training computed ``round(clip(x, 0, alpha) / alpha * n) / n * alpha``
    arithmetic_version = 2

    @classmethod
    def weight_quantizer(cls, weight: Tensor, bits: int) -> Quantizer:
        return DoReFaWeightQuantizer(bits)

    @classmethod
    def activation_quantizer(cls, bits: int, signed: bool) -> Quantizer:
        return PACTActivationQuantizer(bits, signed)
