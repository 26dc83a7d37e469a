"""Quantization: pure functions -> quantizer modules -> quantized layers -> model conversion."""

from robustmq.quant import dorefa, lsq, pact  # noqa: F401  (register the quantizer families)
from robustmq.quant.base import (
    QUANTIZERS,
    Quantizer,
    QuantizerFamily,
    get_quantizer,
    list_quantizers,
    validate_bits,
)
from robustmq.quant.convert import (
    POLICIES,
    LayerQuantization,
    calibrate,
    describe_quantization,
    quantize_model,
    quantizers,
)
from robustmq.quant.functional import rounding_disabled
from robustmq.quant.inspect import QuantizerRow, quantizer_report
from robustmq.quant.layers import QuantConv2d, QuantLinear

__all__ = [
    "POLICIES",
    "QUANTIZERS",
    "LayerQuantization",
    "QuantConv2d",
    "QuantLinear",
    "Quantizer",
    "QuantizerFamily",
    "QuantizerRow",
    "calibrate",
    "describe_quantization",
    "get_quantizer",
    "list_quantizers",
    "quantize_model",
    "quantizer_report",
    "quantizers",
    "rounding_disabled",
    "validate_bits",
]
