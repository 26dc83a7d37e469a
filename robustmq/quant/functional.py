"""Pure quantization functions with straight-through gradients.

Everything here is stateless: tensors in, tensors out. The quantizer modules build on these.
Each quantizer's arithmetic is written once and gives the same bits whether or not autograd
records it, so an attack differentiates exactly the function that evaluation measures.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

_ROUNDING_ENABLED: ContextVar[bool] = ContextVar("robustmq_rounding_enabled", default=True)

#: The bit-width that means "not quantized".
FLOAT_BITS = 32
#: The quantized bit-widths this package supports.
MIN_BITS, MAX_BITS = 2, 8


@contextlib.contextmanager
def rounding_disabled() -> Iterator[None]:
    """Within this block every quantizer clips and scales but does not round.

    The result is the quantized model's "infinite precision" counterpart: comparing a model's
    output with and without rounding isolates the error that rounding itself introduces.
    """
    token = _ROUNDING_ENABLED.set(False)
    try:
        yield
    finally:
        _ROUNDING_ENABLED.reset(token)


def rounding_enabled() -> bool:
    """Whether quantizers currently round (see :func:`rounding_disabled`)."""
    return _ROUNDING_ENABLED.get()


def attach_gradient(value: Tensor, surrogate: Tensor) -> Tensor:
    """``value``, bit for bit, carrying the gradient of ``surrogate`` (straight-through).

    ``surrogate - surrogate.detach()`` is an exact zero (for finite values) whose gradient is
    ``surrogate``'s, so the result's value never depends on how the surrogate was computed.
    """
    return value.detach() + (surrogate - surrogate.detach())


def round_ste(x: Tensor) -> Tensor:
    """Round to the nearest integer; the gradient passes through unchanged (STE).

    Inside :func:`rounding_disabled` this is the identity.
    """
    if not _ROUNDING_ENABLED.get():
        return x
    return attach_gradient(torch.round(x.detach()), x)


def grad_scale(x: Tensor, scale: float) -> Tensor:
    """``x``'s value exactly, with its gradient multiplied by ``scale`` (LSQ's g)."""
    return attach_gradient(x, x * scale)


# The arithmetic of every quantizer is written once, in terms of the steps below. Each step works
# in place on a tensor that no autograd graph records (the fast inference path: one allocation,
# no bookkeeping) and out of place, with straight-through rounding, on one that does (training and
# input gradients). Either way the float operations and their order are the same, so both paths
# give the same bits. The first step of a function must not be one of these: it makes the fresh
# tensor that the others may overwrite.


def _tracked(t: Tensor) -> bool:
    return t.requires_grad and torch.is_grad_enabled()


def _mul(t: Tensor, factor: float | Tensor) -> Tensor:
    return t * factor if _tracked(t) else t.mul_(factor)


def _div(t: Tensor, divisor: float | Tensor) -> Tensor:
    return t / divisor if _tracked(t) else t.div_(divisor)


def _add(t: Tensor, summand: float) -> Tensor:
    return t + summand if _tracked(t) else t.add_(summand)


def _clamp(t: Tensor, low: float, high: float) -> Tensor:
    if not _tracked(t):
        return t.clamp_(low, high)
    if _clamp_blocks_bounds():
        return _Clamp.apply(t, low, high)
    return torch.clamp(t, low, high)


@functools.cache
def _clamp_blocks_bounds() -> bool:
    """Whether ``torch.clamp``'s gradient is 0 at a bound exactly (torch 2.14; 1 before)."""
    t = torch.tensor([0.0, 1.0], requires_grad=True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(torch.clamp(t, 0.0, 1.0).sum(), t)
    return bool((grad == 0).all())


def _pass_between(grad: Tensor, above: Tensor, below: Tensor) -> Tensor:
    """``grad`` where ``above > 0`` and ``below > 0``, +0.0 elsewhere (NaN passes), in two
    vectorized ``threshold_backward`` passes (``torch.where`` on a boolean mask is ~8 x slower
    on the CPU)."""
    passed = torch.ops.aten.threshold_backward(grad, above, 0)
    return torch.ops.aten.threshold_backward(passed, below, 0)


class _Clamp(torch.autograd.Function):
    """``torch.clamp(t, low, high)`` with the same value and gradient bits as torch 2.14's own:
    the gradient where ``low < t < high`` (``t - low`` and ``high - t`` are positive exactly
    then), +0.0 elsewhere and at NaN. Only faster."""

    @staticmethod
    def forward(ctx: Any, t: Tensor, low: float, high: float) -> Tensor:
        ctx.save_for_backward(t)
        ctx.bounds = (low, high)
        return torch.clamp(t, low, high)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        (t,) = ctx.saved_tensors
        low, high = ctx.bounds
        # torch's mask is False at NaN, threshold's passes it; a NaN (or inf - inf) makes the sum
        # NaN: one vectorized pass instead of isnan's two
        if bool(torch.isnan(t.sum())):
            return torch.where((t > low).logical_and_(t < high), grad, 0.0), None, None
        return _pass_between(grad, t - low, high - t), None, None


def _round(t: Tensor) -> Tensor:
    if not _ROUNDING_ENABLED.get():
        return t
    return round_ste(t) if _tracked(t) else t.round_()


def unit_levels(bits: int, signed: bool) -> tuple[float, float]:
    """``(levels, low)`` of the k-bit grid on [0, 1] (``2^k - 1`` steps) or on [-1, 1] (signed).

    The signed grid is symmetric and holds zero: ``2^(k-1) - 1`` steps each side.
    """
    if signed:
        return float(2 ** (bits - 1) - 1), -1.0
    return float(2**bits - 1), 0.0


def quantize_unit(x: Tensor, bits: int) -> Tensor:
    """Quantize values in [0, 1] to the ``bits``-bit uniform grid {0, 1/n, ..., 1}, n = 2^bits - 1.

    DoReFa's ``quantize_k``: ``round(x * n) / n``; gradient 1 (STE).
    """
    levels, _ = unit_levels(bits, signed=False)
    return _div(_round(torch.mul(x, levels)), levels)


def unsigned_range(bits: int) -> tuple[int, int]:
    """(Q_N, Q_P) of an unsigned ``bits``-bit integer grid: (0, 2^bits - 1)."""
    return 0, 2**bits - 1


def signed_range(bits: int) -> tuple[int, int]:
    """(Q_N, Q_P) of a signed ``bits``-bit integer grid: (2^(bits-1), 2^(bits-1) - 1)."""
    return 2 ** (bits - 1), 2 ** (bits - 1) - 1


def uniform_quantize(x: Tensor, scale: float | Tensor, q_min: float, q_max: float) -> Tensor:
    """``round(clip(x / s, q_min, q_max)) * s``: the integer grid of every activation quantizer.

    ``q_min`` and ``q_max`` are integers, so clipping before rounding gives the same numbers as
    rounding before clipping. Gradient (straight-through): 1 where ``x / s`` lies strictly inside
    (q_min, q_max), 0 outside; at a bound exactly it is ``torch.clamp``'s: 0 on torch 2.14 (as
    LSQ eq. 3 wants), 1 on releases before pytorch/pytorch#184574; through ``s`` as
    autograd differentiates the expression (tests/quant/test_reference_quantizers.py).
    """
    return _mul(_round(_clamp(torch.div(x, scale), q_min, q_max)), scale)


def lsq_quantize(x: Tensor, step: Tensor, q_n: int, q_p: int, grad_factor: float) -> Tensor:
    """LSQ fake quantization: ``round(clip(x / s, -Q_N, Q_P)) * s`` (:func:`uniform_quantize`).

    The gradient with respect to ``x`` is 1 inside the clipping range and 0 outside; the gradient
    with respect to the step size ``s`` follows the LSQ paper (Esser et al. 2020, eq. 3), scaled by
    ``grad_factor`` (the paper's g = 1 / sqrt(N * Q_P)).
    """
    s = grad_scale(step, grad_factor) if _tracked(step) else step
    return uniform_quantize(x, s, -q_n, q_p)


def dorefa_weight_transform(w: Tensor) -> Tensor:
    """DoReFa's weight normalization: ``tanh(w) / (2 max|tanh(w)|) + 1/2``, in [0, 1]."""
    t = torch.tanh(w)
    return _add(_div(t, 2 * t.abs().max().clamp_min(1e-12)), 0.5)


def dorefa_weight(w: Tensor, bits: int) -> Tensor:
    """DoReFa weight quantization: normalize to [0, 1], quantize to k bits, map to [-1, 1]."""
    return _add(_mul(quantize_unit(dorefa_weight_transform(w), bits), 2.0), -1.0)


def pact_clip(x: Tensor, alpha: Tensor, signed: bool) -> Tensor:
    """PACT's clip ``clip(x, 0, alpha)`` (or ``clip(x, -alpha, alpha)`` when ``signed``).

    Gradients follow the PACT paper: d/dx is 1 inside the range, 0 outside; d/d(alpha) is 1 where
    ``x >= alpha`` (and -1 where ``x <= -alpha`` when signed), 0 elsewhere.
    """
    upper = torch.where(x >= alpha, alpha.expand_as(x), x)
    if signed:
        return torch.where(x <= -alpha, -alpha.expand_as(x), upper)
    return torch.relu(upper)


def clip_quantize(x: Tensor, bound: float | Tensor, bits: int, signed: bool) -> Tensor:
    """Quantize ``x`` on the fixed range [0, bound] (or [-bound, bound] when ``signed``).

    DoReFa's ``quantize_k(clip(x / r, 0, 1)) * r`` (bound r; 1 in the paper, a calibrated range
    here) and the values of PACT's, written as the same grid on integers:
    ``round(clip(x / s, low * n, n)) * s`` with ``s = r / n`` and ``(n, low)`` of
    :func:`unit_levels`. Gradient 1 inside the range, 0 outside (clip, then STE).
    """
    levels, low = unit_levels(bits, signed)
    return uniform_quantize(x, bound / levels, low * levels, levels)


def pact_quantize(x: Tensor, alpha: Tensor, bits: int, signed: bool) -> Tensor:
    """PACT activation quantization on [0, alpha] (or [-alpha, alpha] when ``signed``).

    The value is :func:`clip_quantize` with bound alpha, computed without autograd. The gradient is
    the clip's, carried straight through (PACT eq. 3): d/dx is 1 strictly inside the range,
    d/d(alpha) is 1 where ``x >= alpha``, else 0.
    """
    value = clip_quantize(x.detach(), alpha.detach(), bits, signed)
    if not (_tracked(x) or _tracked(alpha)):
        return value
    if not _tracked(alpha):  # evaluation and attacks: the same bits in fewer passes
        return _PactInput.apply(x, value, alpha.detach(), signed)
    return attach_gradient(value, pact_clip(x, alpha, signed))


class _PactInput(torch.autograd.Function):
    """``attach_gradient(value, pact_clip(x, alpha))`` for a constant alpha: the value plus the
    surrogate's exact zero, and pact_clip's input gradient (its ``where`` / ``relu`` chain passes
    it where ``-alpha`` (signed) or 0 ``< x < alpha``, and at NaN)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, value: Tensor, alpha: Tensor, signed: bool) -> Tensor:
        ctx.save_for_backward(x, alpha)
        ctx.signed = signed
        return value.add_(0.0)  # "+ (s - s)": -0.0 becomes +0.0, as in attach_gradient

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:
        x, alpha = ctx.saved_tensors
        above = x + alpha if ctx.signed else x
        return _pass_between(grad, above, alpha - x), None, None, None


#: Quantile of a layer's input that calibration turns into a clipping range (PACT, DoReFa).
CALIBRATION_QUANTILE = 0.999
_MAX_QUANTILE_SAMPLES = 1 << 20


def observed_quantile(x: Tensor, signed: bool, q: float = CALIBRATION_QUANTILE) -> float:
    """The ``q`` quantile of ``x`` (of ``|x|`` when ``signed``), on a strided subsample if large."""
    v = (x.abs() if signed else x).flatten().float()
    if v.numel() > _MAX_QUANTILE_SAMPLES:  # deterministic subsample: torch.quantile's size limit
        v = v[:: v.numel() // _MAX_QUANTILE_SAMPLES + 1]
    return float(torch.quantile(v, q))
