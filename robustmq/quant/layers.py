"""Quantized Conv2d and Linear: float layers whose weight and input pass through quantizers.

Parameter names stay those of the float layer (``weight``, ``bias``), so a quantized model's
state_dict is the float one plus the quantizers' entries (``weight_quantizer.*``,
``input_quantizer.*``).

In eval mode the quantized weight is computed once and cached until the weight or the weight
quantizer changes (tracked by tensor versions); it is then a constant, so no gradient reaches the
float weight in eval mode. Train mode recomputes it on every forward.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from robustmq.quant.base import Quantizer
from robustmq.quant.functional import rounding_enabled


class QuantLayerMixin:
    """Shared weight-quantization logic of :class:`QuantConv2d` and :class:`QuantLinear`."""

    weight: Tensor
    weight_quantizer: Quantizer
    input_quantizer: Quantizer
    training: bool
    _wq_cache: tuple[tuple[Any, ...], Tensor] | None

    def _cache_key(self) -> tuple[Any, ...]:
        state = [*self.weight_quantizer.parameters(), *self.weight_quantizer.buffers()]
        w = self.weight
        return (
            w._version,
            w.data_ptr(),
            w.device,
            w.dtype,
            rounding_enabled(),
            self.weight_quantizer.calibrating,
            # a weight cached under inference_mode cannot enter autograd later
            torch.is_inference_mode_enabled(),
            tuple((t._version, t.data_ptr()) for t in state),
        )

    def quantized_weight(self) -> Tensor:
        """The fake-quantized weight (cached and detached in eval mode)."""
        if self.training:
            self._wq_cache = None
            return self.weight_quantizer(self.weight)
        key = self._cache_key()
        cache = getattr(self, "_wq_cache", None)
        if cache is None or cache[0] != key:
            with torch.no_grad():
                cache = (key, self.weight_quantizer(self.weight).detach())
            self._wq_cache = cache
        return cache[1]


class QuantConv2d(QuantLayerMixin, nn.Conv2d):
    """Conv2d with quantized weight and quantized input."""

    @classmethod
    def from_float(
        cls, conv: nn.Conv2d, weight_quantizer: Quantizer, input_quantizer: Quantizer
    ) -> QuantConv2d:
        """Wrap ``conv``'s parameters (shared, not copied) with the given quantizers."""
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,  # type: ignore[arg-type]
            stride=conv.stride,  # type: ignore[arg-type]
            padding=conv.padding,  # type: ignore[arg-type]
            dilation=conv.dilation,  # type: ignore[arg-type]
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device="meta",
        )
        layer.weight, layer.bias = conv.weight, conv.bias
        return _attach(layer, conv, weight_quantizer, input_quantizer)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(self.input_quantizer(x), self.quantized_weight(), self.bias)


class QuantLinear(QuantLayerMixin, nn.Linear):
    """Linear with quantized weight and quantized input."""

    @classmethod
    def from_float(
        cls, linear: nn.Linear, weight_quantizer: Quantizer, input_quantizer: Quantizer
    ) -> QuantLinear:
        """Wrap ``linear``'s parameters (shared, not copied) with the given quantizers."""
        layer = cls(
            linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta"
        )
        layer.weight, layer.bias = linear.weight, linear.bias
        return _attach(layer, linear, weight_quantizer, input_quantizer)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.input_quantizer(x), self.quantized_weight(), self.bias)


_Q = TypeVar("_Q", QuantConv2d, QuantLinear)


def _attach(layer: _Q, source: nn.Module, weight_q: Quantizer, input_q: Quantizer) -> _Q:
    layer.weight_quantizer = weight_q
    layer.input_quantizer = input_q
    layer._wq_cache = None
    layer.train(source.training)
    return layer


#: Float layer type -> its quantized replacement.
QUANT_LAYERS: dict[type[nn.Module], type[QuantConv2d] | type[QuantLinear]] = {
    nn.Conv2d: QuantConv2d,
    nn.Linear: QuantLinear,
}
