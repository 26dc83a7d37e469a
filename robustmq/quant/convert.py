"""Turn a float model into a fake-quantized one: ``quantize_model`` and ``calibrate``.

Every Conv2d and Linear becomes a :class:`QuantConv2d` / :class:`QuantLinear` that quantizes its
weight (signed, per tensor) and its input activation (unsigned where the input is provably
non-negative, signed otherwise; see :mod:`robustmq.quant.signedness`).

Policies:
- ``academic`` (MQBench's convention, the default): the first conv and the last linear layer get
  8-bit weights and 8-bit inputs, every other layer ``bits``;
- ``all``: every layer gets ``bits``.

A model holding another layer with weights (Conv1d/Conv3d, a transposed convolution, a subclass
of Conv2d or Linear, Bilinear, attention, recurrent or embedding layers) is refused with an
:class:`~robustmq.exceptions.UnsupportedLayerError` naming the layers, rather than left partly
float.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robustmq.exceptions import InvalidOptionError, UnsupportedLayerError
from robustmq.quant.base import Quantizer, get_quantizer, validate_bits
from robustmq.quant.functional import FLOAT_BITS
from robustmq.quant.layers import QUANT_LAYERS, QuantConv2d, QuantLinear
from robustmq.quant.signedness import trace_layer_inputs

POLICIES = ("academic", "all")
#: Bit-width of the first and last layer under the ``academic`` policy.
ACADEMIC_EDGE_BITS = 8


@dataclass(frozen=True)
class LayerQuantization:
    """How one layer of a quantized model is quantized."""

    name: str
    kind: str
    weight_bits: int
    input_bits: int
    input_signed: bool


#: Layers with weights that ``quantize_model`` does not convert (it converts exactly
#: ``nn.Conv2d`` and ``nn.Linear``: see ``QUANT_LAYERS``).
_WEIGHTED_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.conv._ConvNd,
    nn.Linear,
    nn.Bilinear,
    nn.MultiheadAttention,
    nn.RNNBase,
    nn.RNNCellBase,
    nn.Embedding,
    nn.EmbeddingBag,
)
_LISTED = 5  # how many unsupported layers a message names


def unsupported_layers(model: nn.Module) -> list[tuple[str, str]]:
    """``(name, type name)`` of every layer with weights that :func:`quantize_model` cannot
    convert (the outermost one where they nest), in registration order."""
    found: list[tuple[str, str]] = []
    for name, module in model.named_modules():
        if type(module) in QUANT_LAYERS or isinstance(module, (QuantConv2d, QuantLinear)):
            continue
        if any(name.startswith(outer + ".") for outer, _ in found):
            continue
        if isinstance(module, _WEIGHTED_LAYERS):
            found.append((name, type(module).__name__))
    return found


def _check_convertible(model: nn.Module, quantizer: str) -> None:
    found = unsupported_layers(model)
    if not found:
        return
    arch = getattr(model, "robustmq_config", {}).get("arch")
    what = f"model {arch!r} ({type(model).__name__})" if arch else type(model).__name__
    listed = ", ".join(f"{name or '<root>'} ({kind})" for name, kind in found[:_LISTED])
    more = f" and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
    raise UnsupportedLayerError(
        f"{what}: quantizer {quantizer!r} cannot convert {len(found)} layer(s): {listed}{more}; "
        "expected every layer with weights to be exactly nn.Conv2d or nn.Linear (not a "
        "subclass), the layer types RobustMQ's quantizers convert"
    )


def _float_layers(model: nn.Module) -> dict[str, bool]:
    """Conv2d/Linear names in execution order -> whether their input may be negative."""
    layer_types = tuple(QUANT_LAYERS)
    try:
        return trace_layer_inputs(model, layer_types)
    except Exception as exc:  # an untraceable model: keep working, assume signed inputs
        warnings.warn(
            f"could not trace {type(model).__name__} with torch.fx ({exc}); every layer input "
            "is treated as signed and layers are taken in registration order",
            RuntimeWarning,
            stacklevel=3,
        )
        return {n: True for n, m in model.named_modules() if type(m) in layer_types}


def quantize_model(
    model: nn.Module, quantizer: str, bits: int, policy: str = "academic"
) -> nn.Module:
    """A new model in which every Conv2d and Linear quantizes its weight and its input.

    ``model`` is left untouched (the result holds deep copies of its parameters). ``bits == 32``
    gives identity quantizers. The result's ``robustmq_config`` records quantizer, bits, policy.
    Another layer type with weights raises :class:`~robustmq.exceptions.UnsupportedLayerError`.
    """
    family = get_quantizer(quantizer)
    bits = validate_bits(bits)
    if policy not in POLICIES:
        raise InvalidOptionError(
            f"policy={policy!r} ({type(policy).__name__}) is not a quantization policy; "
            f"expected one of {', '.join(POLICIES)}"
        )
    if any(isinstance(m, (QuantConv2d, QuantLinear)) for m in model.modules()):
        raise InvalidOptionError(
            f"{type(model).__name__} is already quantized; quantize_model expects a float model"
        )
    _check_convertible(model, family.name)
    layers = _float_layers(model)
    names = list(layers)
    edges = {names[0], names[-1]} if policy == "academic" and names else set()
    qmodel = copy.deepcopy(model)
    modules = dict(qmodel.named_modules())
    for name, signed in layers.items():
        float_layer = modules[name]
        layer_bits = ACADEMIC_EDGE_BITS if name in edges and bits != FLOAT_BITS else bits
        quant_cls = QUANT_LAYERS[type(float_layer)]
        layer = quant_cls.from_float(
            float_layer,
            family.weight_quantizer(float_layer.weight, layer_bits),
            family.activation_quantizer(layer_bits, signed),
        )
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else qmodel, child, layer)
    config: dict[str, Any] = dict(getattr(model, "robustmq_config", {}))
    config.update(quantizer=family.name, bits=bits, policy=policy)
    setattr(qmodel, "robustmq_config", config)  # noqa: B010 - not an nn.Module attribute
    return qmodel


def describe_quantization(model: nn.Module) -> list[LayerQuantization]:
    """One entry per quantized layer of ``model``: its bit-widths and input signedness."""
    return [
        LayerQuantization(
            name=name,
            kind=type(m).__name__,
            weight_bits=m.weight_quantizer.bits,
            input_bits=m.input_quantizer.bits,
            input_signed=m.input_quantizer.signed,
        )
        for name, m in model.named_modules()
        if isinstance(m, (QuantConv2d, QuantLinear))
    ]


def quantizers(model: nn.Module) -> list[Quantizer]:
    """Every quantizer module of ``model``."""
    return [m for m in model.modules() if isinstance(m, Quantizer)]


@torch.no_grad()
def calibrate(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Initialise data-dependent quantizer parameters from ``batches``; returns images seen.

    Runs the model in eval mode (BatchNorm statistics untouched), lets every activation quantizer
    observe its input, then sets LSQ steps, PACT alphas and DoReFa signed ranges. The model's
    train/eval mode is restored afterwards.
    """
    qs = quantizers(model)
    was_training = model.training
    model.eval()
    seen = 0
    try:
        for q in qs:
            q.calibrating = True
        for batch in batches:
            model(batch)
            seen += int(batch.shape[0])
    finally:
        for q in qs:
            q.calibrating = False
        model.train(was_training)
    if seen:
        for q in qs:
            q.finish_calibration()
    return seen
