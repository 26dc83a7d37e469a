"""Pure quantization functions with straight-through gradients.

Everything here is stateless: tensors in, tensors out. The quantizer modules build on these.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import torch
from torch import Tensor

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


def round_ste(x: Tensor) -> Tensor:
    """Round to the nearest integer; the gradient passes through unchanged (STE).

    Inside :func:`rounding_disabled` this is the identity.
    """
    if not _ROUNDING_ENABLED.get():
        return x
    return x + (torch.round(x) - x).detach()


def grad_scale(x: Tensor, scale: float) -> Tensor:
    """Return ``x`` unchanged, with its gradient multiplied by ``scale`` (LSQ's g)."""
    scaled = x * scale
    return (x - scaled).detach() + scaled


def quantize_unit(x: Tensor, bits: int) -> Tensor:
    """Quantize values in [0, 1] to the ``bits``-bit uniform grid {0, 1/n, ..., 1}, n = 2^bits - 1.

    DoReFa's ``quantize_k``; gradient 1 (STE).
    """
    levels = float(2**bits - 1)
    return round_ste(x * levels) / levels


def quantize_symmetric(x: Tensor, bits: int) -> Tensor:
    """Quantize values in [-1, 1] to the grid {-m, ..., 0, ..., m} / m, m = 2^(bits-1) - 1.

    The grid holds zero and 2^bits - 1 values (the "restricted range" of symmetric quantizers);
    gradient 1 (STE).
    """
    levels = float(2 ** (bits - 1) - 1)
    return round_ste(x * levels) / levels


def unsigned_range(bits: int) -> tuple[int, int]:
    """(Q_N, Q_P) of an unsigned ``bits``-bit integer grid: (0, 2^bits - 1)."""
    return 0, 2**bits - 1


def signed_range(bits: int) -> tuple[int, int]:
    """(Q_N, Q_P) of a signed ``bits``-bit integer grid: (2^(bits-1), 2^(bits-1) - 1)."""
    return 2 ** (bits - 1), 2 ** (bits - 1) - 1


def lsq_quantize(x: Tensor, step: Tensor, q_n: int, q_p: int, grad_factor: float) -> Tensor:
    """LSQ fake quantization: ``round(clip(x / s, -Q_N, Q_P)) * s``.

    The gradient with respect to ``x`` is 1 inside the clipping range and 0 outside; the gradient
    with respect to the step size ``s`` follows the LSQ paper (Esser et al. 2020, eq. 3), scaled by
    ``grad_factor`` (the paper's g = 1 / sqrt(N * Q_P)).
    """
    s = grad_scale(step, grad_factor)
    return round_ste(torch.clamp(x / s, -q_n, q_p)) * s


def dorefa_weight_transform(w: Tensor) -> Tensor:
    """DoReFa's weight normalization: ``tanh(w) / (2 max|tanh(w)|) + 1/2``, in [0, 1]."""
    t = torch.tanh(w)
    return t / (2 * t.abs().max().clamp_min(1e-12)) + 0.5


def dorefa_weight(w: Tensor, bits: int) -> Tensor:
    """DoReFa weight quantization: normalize to [0, 1], quantize to k bits, map to [-1, 1]."""
    return 2 * quantize_unit(dorefa_weight_transform(w), bits) - 1


def pact_clip(x: Tensor, alpha: Tensor, signed: bool) -> Tensor:
    """PACT's clip ``clip(x, 0, alpha)`` (or ``clip(x, -alpha, alpha)`` when ``signed``).

    Gradients follow the PACT paper: d/dx is 1 inside the range, 0 outside; d/d(alpha) is 1 where
    ``x >= alpha`` (and -1 where ``x <= -alpha`` when signed), 0 elsewhere.
    """
    upper = torch.where(x >= alpha, alpha.expand_as(x), x)
    if signed:
        return torch.where(x <= -alpha, -alpha.expand_as(x), upper)
    return torch.relu(upper)


def pact_quantize(x: Tensor, alpha: Tensor, bits: int, signed: bool) -> Tensor:
    """PACT activation quantization on [0, alpha] (or [-alpha, alpha] when ``signed``).

    Non-negative inputs use the unsigned grid {0, ..., 2^bits - 1} * alpha / (2^bits - 1); signed
    inputs the symmetric grid of :func:`quantize_symmetric` scaled by alpha.

    The rounding error is added as a constant (straight-through), so the gradient with respect to
    ``alpha`` is exactly the clip's (PACT eq. 3): 1 where ``x >= alpha``, else 0.
    """
    y = pact_clip(x, alpha, signed)
    a = alpha.detach()
    unit = y.detach() / a
    q = (quantize_symmetric(unit, bits) if signed else quantize_unit(unit, bits)) * a
    return y + (q - y.detach())


def clip_quantize(x: Tensor, bound: float | Tensor, bits: int, signed: bool) -> Tensor:
    """Quantize ``x`` on the fixed range [0, bound] (or [-bound, bound] when ``signed``).

    Used for DoReFa activations (bound 1 for non-negative inputs). Gradient: 1 inside the range,
    0 outside (clip then STE).
    """
    if signed:
        return quantize_symmetric(torch.clamp(x / bound, -1.0, 1.0), bits) * bound
    return quantize_unit(torch.clamp(x / bound, 0.0, 1.0), bits) * bound


#: Quantile of a layer's input that calibration turns into a clipping range (PACT, DoReFa).
CALIBRATION_QUANTILE = 0.999
_MAX_QUANTILE_SAMPLES = 1 << 20


def observed_quantile(x: Tensor, signed: bool, q: float = CALIBRATION_QUANTILE) -> float:
    """The ``q`` quantile of ``x`` (of ``|x|`` when ``signed``), on a strided subsample if large."""
    v = (x.abs() if signed else x).flatten().float()
    if v.numel() > _MAX_QUANTILE_SAMPLES:  # deterministic subsample: torch.quantile's size limit
        v = v[:: v.numel() // _MAX_QUANTILE_SAMPLES + 1]
    return float(torch.quantile(v, q))


def range_grid(bound: float | Tensor, bits: int, signed: bool) -> tuple[float | Tensor, int, int]:
    """``(scale, q_min, q_max)`` of the k-bit grid on [0, bound] (signed: [-bound, bound])."""
    if signed:
        m = 2 ** (bits - 1) - 1
        return bound / m, -m, m
    n = 2**bits - 1
    return bound / n, 0, n


def fake_quantize_fused(x: Tensor, scale: float | Tensor, q_min: int, q_max: int) -> Tensor:
    """``clamp(round(x / scale), q_min, q_max) * scale`` for the inference path (no autograd).

    One allocation and in-place steps: several times faster than
    ``torch.fake_quantize_per_tensor_affine`` on the CPU, which also builds a gradient mask.
    The same float operations as :func:`lsq_quantize`, so the values are identical to it.
    Inside :func:`rounding_disabled` it only clips.
    """
    if not _ROUNDING_ENABLED.get():
        return torch.clamp(x, q_min * scale, q_max * scale)  # type: ignore[arg-type]
    return torch.div(x, scale).round_().clamp_(q_min, q_max).mul_(scale)
