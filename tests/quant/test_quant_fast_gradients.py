"""The faster autograd of the activation quantizers (a clamp whose backward is two vectorized
threshold passes; PACT's input gradient for a constant alpha in one node) gives the bits of the
expressions they replace: values and gradients, at the bounds, at zeros of both signs and at NaN."""

from __future__ import annotations

from collections.abc import Callable

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustmq.quant.functional import (
    attach_gradient,
    clip_quantize,
    lsq_quantize,
    pact_clip,
    pact_quantize,
    uniform_quantize,
    unit_levels,
)

Fn = Callable[[torch.Tensor], torch.Tensor]


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.int32)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit patterns, NaNs of any payload counted equal."""
    nan = torch.isnan(a)
    return bool(torch.equal(nan, torch.isnan(b)) and torch.equal(_bits(a)[~nan], _bits(b)[~nan]))


def _inputs(seed: int, step: float, q_min: float, q_max: float) -> torch.Tensor:
    """Normal values plus the grid's bounds, points beyond them, steps, +-0, NaN and +-inf."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 6, 6, generator=g) * step * (q_max - q_min) / 2
    special = [q_min * step, q_max * step, (q_min - 1) * step, (q_max + 1) * step, 0.5 * step]
    special += [-0.5 * step, 0.0, -0.0, float("nan"), float("inf"), float("-inf")]
    x.view(-1)[: len(special)] = torch.tensor(special)
    return x


def _run(fn: Fn, x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    out = fn(x)
    (grad,) = torch.autograd.grad(out, x, weight)
    return out.detach(), grad


def _weights(x: torch.Tensor, seed: int) -> torch.Tensor:
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    w.view(-1)[-3:] = torch.tensor([0.0, -0.0, 1.0])
    return w


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    bits=st.integers(2, 8),
    signed=st.booleans(),
    step=st.floats(1e-3, 10.0),
    as_tensor=st.booleans(),
)
def test_uniform_quantize_keeps_the_expressions_bits(
    seed: int, bits: int, signed: bool, step: float, as_tensor: bool
) -> None:
    """DoReFa's and LSQ's grid with an input gradient: value and gradient bits of
    ``attach_gradient(round(c), c) * s`` with ``c = torch.clamp(x / s, q_min, q_max)``."""
    levels, low = unit_levels(bits, signed)
    q_min, q_max = low * levels, levels
    x = _inputs(seed, step, q_min, q_max)
    s: float | torch.Tensor = torch.tensor(step) if as_tensor else step
    weight = _weights(x, seed + 1)

    def reference(t: torch.Tensor) -> torch.Tensor:
        c = torch.clamp(torch.div(t, s), q_min, q_max)
        return attach_gradient(torch.round(c.detach()), c) * s

    out, grad = _run(lambda t: uniform_quantize(t, s, q_min, q_max), x, weight)
    ref, ref_grad = _run(reference, x, weight)
    assert _same_bits(out, ref)
    assert _same_bits(grad, ref_grad)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), bits=st.integers(2, 8), step=st.floats(1e-2, 2.0))
def test_lsq_step_gradient_keeps_its_bits(seed: int, bits: int, step: float) -> None:
    """LSQ in training (the step tracked too): the step's gradient is the expression's."""
    q_n, q_p = 2 ** (bits - 1), 2 ** (bits - 1) - 1
    x = _inputs(seed, step, -q_n, q_p)[:, :, 2:]  # finite values only
    weight = _weights(x, seed + 1)

    def step_grad(fn: Callable[..., torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        xs = x.clone().requires_grad_(True)
        st_ = torch.tensor(step, requires_grad=True)
        gx, gs = torch.autograd.grad(fn(xs, st_), (xs, st_), weight)
        return gx, gs

    def reference(t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        s = attach_gradient(s, s * 0.5)
        c = torch.clamp(torch.div(t, s), -q_n, q_p)
        return attach_gradient(torch.round(c.detach()), c) * s

    gx, gs = step_grad(lambda t, s: lsq_quantize(t, s, q_n, q_p, 0.5))
    rx, rs = step_grad(reference)
    assert _same_bits(gx, rx)
    assert _same_bits(gs, rs)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    bits=st.integers(2, 8),
    signed=st.booleans(),
    alpha=st.floats(0.05, 8.0),
)
def test_pact_with_a_constant_alpha_keeps_the_expressions_bits(
    seed: int, bits: int, signed: bool, alpha: float
) -> None:
    """PACT in evaluation and attacks: value and input-gradient bits of
    ``attach_gradient(clip_quantize(x), pact_clip(x, alpha))``."""
    a = torch.tensor(alpha)
    levels, low = unit_levels(bits, signed)
    x = _inputs(seed, alpha / levels, low * levels, levels)
    x.view(-1)[-2:] = torch.tensor([alpha, -alpha])
    weight = _weights(x, seed + 1)

    def reference(t: torch.Tensor) -> torch.Tensor:
        return attach_gradient(clip_quantize(t.detach(), a, bits, signed), pact_clip(t, a, signed))

    out, grad = _run(lambda t: pact_quantize(t, a, bits, signed), x, weight)
    ref, ref_grad = _run(reference, x, weight)
    assert _same_bits(out, ref)
    assert _same_bits(grad, ref_grad)


def test_a_tracked_alpha_keeps_the_expression() -> None:
    """PACT in training (alpha learned): alpha still gets its gradient."""
    x = torch.randn(50, requires_grad=True)
    alpha = torch.tensor(1.0, requires_grad=True)
    pact_quantize(x, alpha, 4, False).sum().backward()
    assert alpha.grad is not None
    assert float(alpha.grad) == float((x.detach() >= 1.0).sum())
