"""Which layer inputs are provably non-negative: a walk over the model's torch.fx graph.

An input is non-negative when it comes from ReLU / ReLU6 / Sigmoid, possibly through ops that keep
the sign (pooling, flatten, dropout, reshapes, concatenation or sums of non-negative tensors).
Anything else (the normalized image, a linear bottleneck, a residual sum with a signed branch) is
treated as signed.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import torch
from torch import fx, nn
from torch.nn import functional as F

_NONNEG_MODULES = (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Softmax)
_SIGN_KEEPING_MODULES = (
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
    nn.Flatten,
    nn.Identity,
)
_NONNEG_FUNCTIONS: set[Callable[..., object]] = {
    F.relu,
    F.relu6,
    torch.relu,
    torch.sigmoid,
    F.sigmoid,
    F.softmax,
}
_SIGN_KEEPING_FUNCTIONS: set[Callable[..., object]] = {
    torch.flatten,
    F.adaptive_avg_pool2d,
    F.adaptive_max_pool2d,
    F.avg_pool2d,
    F.max_pool2d,
    F.dropout,
    torch.reshape,
}
_ALL_ARGS_FUNCTIONS: set[Callable[..., object]] = {operator.add, torch.add, torch.cat}
_NONNEG_METHODS = {"relu", "sigmoid", "softmax"}
_SIGN_KEEPING_METHODS = {"flatten", "view", "reshape", "contiguous", "mean", "permute"}


def _is_nonneg(node: object, modules: dict[str, nn.Module]) -> bool:
    if not isinstance(node, fx.Node):
        return isinstance(node, (int, float)) and node >= 0
    if node.op == "call_module":
        module = modules[str(node.target)]
        if isinstance(module, nn.Hardtanh):  # ReLU6 is a Hardtanh
            return module.min_val >= 0
        if isinstance(module, _NONNEG_MODULES):
            return True
        if isinstance(module, _SIGN_KEEPING_MODULES):
            return _is_nonneg(node.args[0], modules)
        return False
    if node.op == "call_function":
        if node.target in _NONNEG_FUNCTIONS:
            return True
        if node.target in _SIGN_KEEPING_FUNCTIONS:
            return _is_nonneg(node.args[0], modules)
        if node.target in _ALL_ARGS_FUNCTIONS:
            args = node.args[0] if node.target is torch.cat else node.args
            return all(_is_nonneg(a, modules) for a in args)  # type: ignore[union-attr]
        return False
    if node.op == "call_method":
        if node.target in _NONNEG_METHODS:
            return True
        if node.target in _SIGN_KEEPING_METHODS:
            return _is_nonneg(node.args[0], modules)
    return False


def trace_layer_inputs(
    model: nn.Module, layer_types: tuple[type[nn.Module], ...]
) -> dict[str, bool]:
    """Map each ``layer_types`` module, in execution order, to whether its input may be negative.

    Raises whatever ``torch.fx.symbolic_trace`` raises for an untraceable model.
    """
    graph_module = fx.symbolic_trace(model)
    modules = dict(graph_module.named_modules())
    signed: dict[str, bool] = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_module" and isinstance(modules[str(node.target)], layer_types):
            name = str(node.target)
            if name not in signed:
                signed[name] = not _is_nonneg(node.args[0], modules)
    return signed
