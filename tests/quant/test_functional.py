"""Properties of the pure quantization functions."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

from robustmq.quant import functional as Q

bits_st = st.integers(min_value=2, max_value=8)
seed_st = st.integers(min_value=0, max_value=2**31 - 1)
scale_st = st.floats(min_value=0.05, max_value=20.0)


def _randn(seed: int, n: int = 512, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g, dtype=torch.float64) * scale


class TestRoundSTE:
    @given(seed_st)
    def test_rounds_forward_and_passes_gradient(self, seed: int) -> None:
        """round_ste rounds like torch.round and its gradient is exactly 1."""
        x = _randn(seed, scale=5.0).requires_grad_(True)
        y = Q.round_ste(x)
        assert torch.equal(y, torch.round(x.detach()))
        y.sum().backward()
        assert torch.equal(x.grad, torch.ones_like(x))

    def test_rounding_disabled_is_identity(self) -> None:
        """Inside rounding_disabled() round_ste returns its input."""
        x = torch.tensor([0.3, 1.7, -2.5])
        with Q.rounding_disabled():
            assert torch.equal(Q.round_ste(x), x)
        assert torch.equal(Q.round_ste(x), torch.round(x))


class TestGradScale:
    @given(st.floats(min_value=1e-4, max_value=10.0), seed_st)
    def test_value_unchanged_gradient_scaled(self, factor: float, seed: int) -> None:
        """grad_scale keeps the value bit for bit and multiplies the gradient by the factor."""
        x = _randn(seed, n=4096).float().requires_grad_(True)
        y = Q.grad_scale(x, factor)
        assert torch.equal(y, x.detach())
        y.sum().backward()
        assert torch.allclose(x.grad, torch.full_like(x, factor))


class TestQuantizeUnit:
    @given(bits_st, seed_st)
    def test_on_grid_idempotent_half_step(self, bits: int, seed: int) -> None:
        """Values in [0,1] land on the 2^k-level grid, within half a step, idempotently."""
        x = torch.rand(1000, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        q = Q.quantize_unit(x, bits)
        n = 2**bits - 1
        assert torch.allclose(q * n, torch.round(q * n))
        assert q.unique().numel() <= 2**bits
        assert (q - x).abs().max() <= 0.5 / n + 1e-12
        assert torch.equal(Q.quantize_unit(q, bits), q)


class TestLSQQuantize:
    @given(bits_st, st.booleans(), scale_st, seed_st)
    def test_grid_idempotence_error(self, bits: int, signed: bool, step: float, seed: int) -> None:
        """LSQ output is an integer multiple of s in [-Q_N s, Q_P s], idempotent, error <= s/2."""
        q_n, q_p = Q.signed_range(bits) if signed else Q.unsigned_range(bits)
        x = _randn(seed, scale=step * q_p / 2)
        s = torch.tensor(step, dtype=torch.float64)
        q = Q.lsq_quantize(x, s, q_n, q_p, 1.0)
        k = q / step
        assert torch.allclose(k, torch.round(k), atol=1e-9)
        assert k.min() >= -q_n - 1e-9
        assert k.max() <= q_p + 1e-9
        assert q.unique().numel() <= 2**bits
        assert torch.allclose(Q.lsq_quantize(q, s, q_n, q_p, 1.0), q)
        inside = (x >= -q_n * step) & (x <= q_p * step)
        assert ((q - x).abs()[inside] <= step / 2 + 1e-9).all()

    @given(bits_st, st.booleans(), scale_st, seed_st)
    def test_gradients_follow_the_paper(
        self, bits: int, signed: bool, step: float, seed: int
    ) -> None:
        """dq/dx is 1 inside the range and 0 outside; dq/ds is LSQ's eq. 3 times g."""
        q_n, q_p = Q.signed_range(bits) if signed else Q.unsigned_range(bits)
        x = _randn(seed, n=256, scale=step * q_p).requires_grad_(True)
        s = torch.tensor(step, dtype=torch.float64, requires_grad=True)
        g = 1.0 / math.sqrt(x.numel() * q_p)
        Q.lsq_quantize(x, s, q_n, q_p, g).sum().backward()
        v = x.detach() / step
        inside = (v > -q_n) & (v < q_p)
        assert torch.equal(x.grad, inside.double())
        expected = torch.where(v <= -q_n, -float(q_n), torch.where(v >= q_p, float(q_p), 0.0))
        expected = torch.where(inside, torch.round(v) - v, expected)
        assert torch.allclose(s.grad, expected.sum() * g, rtol=1e-9, atol=1e-9)


class TestPACT:
    @given(bits_st, st.booleans(), st.floats(min_value=0.1, max_value=10.0), seed_st)
    def test_grid_idempotence_error(self, bits: int, signed: bool, alpha: float, seed: int) -> None:
        """PACT output lies in [0, a] (or [-a, a]) on the k-bit grid, within half a step."""
        a = torch.tensor(alpha, dtype=torch.float64)
        x = _randn(seed, scale=alpha)
        q = Q.pact_quantize(x, a, bits, signed)
        levels = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
        step = alpha / levels
        assert q.min() >= (-alpha if signed else 0.0) - 1e-9
        assert q.max() <= alpha + 1e-9
        assert torch.allclose(q / step, torch.round(q / step), atol=1e-7)
        assert q.unique().numel() <= 2**bits
        assert torch.allclose(Q.pact_quantize(q, a, bits, signed), q)
        inside = (x <= alpha) & (x >= (-alpha if signed else 0.0))
        assert ((q - x).abs()[inside] <= step / 2 + 1e-9).all()

    @given(bits_st, st.floats(min_value=0.1, max_value=10.0), seed_st)
    def test_alpha_gradient_is_pact_eq3(self, bits: int, alpha: float, seed: int) -> None:
        """d/d(alpha) = sum of upstream gradients where x >= alpha; d/dx = 1 on [0, alpha)."""
        x = _randn(seed, n=256, scale=alpha).requires_grad_(True)
        a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
        upstream = _randn(seed + 1, n=256)
        (Q.pact_quantize(x, a, bits, signed=False) * upstream).sum().backward()
        xd = x.detach()
        assert torch.allclose(a.grad, upstream[xd >= alpha].sum())
        assert torch.equal(x.grad, torch.where((xd > 0) & (xd < alpha), upstream, 0.0))

    def test_signed_alpha_gradient(self) -> None:
        """Signed PACT sends +1 to alpha above alpha and -1 below -alpha."""
        x = torch.tensor([-3.0, -0.5, 0.5, 3.0], requires_grad=True)
        a = torch.tensor(1.0, requires_grad=True)
        Q.pact_quantize(x, a, 4, signed=True).sum().backward()
        assert a.grad.item() == 0.0  # +1 (x=3) and -1 (x=-3) cancel
        assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0, 0.0]))


class TestDoReFaWeight:
    @given(bits_st, seed_st)
    def test_weights_on_grid_in_unit_range(self, bits: int, seed: int) -> None:
        """DoReFa weights map to 2^k levels in [-1, 1] and the extreme weight maps to +-1."""
        w = _randn(seed, scale=0.1)
        q = Q.dorefa_weight(w, bits)
        n = 2**bits - 1
        assert q.abs().max() == 1.0
        assert torch.allclose((q + 1) / 2 * n, torch.round((q + 1) / 2 * n), atol=1e-9)
        assert q.unique().numel() <= 2**bits

    @given(bits_st, seed_st)
    def test_quantize_step_is_idempotent(self, bits: int, seed: int) -> None:
        """Re-quantizing the normalized weights changes nothing (tanh itself is no projection)."""
        t = Q.dorefa_weight_transform(_randn(seed))
        once = Q.quantize_unit(t, bits)
        assert torch.equal(Q.quantize_unit(once, bits), once)

    @given(bits_st, seed_st)
    def test_error_within_half_step_of_transform(self, bits: int, seed: int) -> None:
        """The quantized weight is within one step (2/n on [-1,1]) of 2 * transform - 1."""
        w = _randn(seed)
        ref = 2 * Q.dorefa_weight_transform(w) - 1
        n = 2**bits - 1
        assert (Q.dorefa_weight(w, bits) - ref).abs().max() <= 1.0 / n + 1e-9


class TestClipQuantize:
    @given(bits_st, st.booleans(), seed_st)
    def test_ste_gradient_inside_range_only(self, bits: int, signed: bool, seed: int) -> None:
        """Gradient is 1 strictly inside the clipping range and 0 outside."""
        x = _randn(seed, scale=2.0).requires_grad_(True)
        Q.clip_quantize(x, 1.0, bits, signed).sum().backward()
        lo = -1.0 if signed else 0.0
        xd = x.detach()
        inside = (xd > lo) & (xd < 1.0)
        assert torch.equal(x.grad[inside], torch.ones(int(inside.sum()), dtype=x.dtype))
        assert torch.equal(
            x.grad[(xd < lo) | (xd > 1.0)], torch.zeros_like(x.grad[(xd < lo) | (xd > 1.0)])
        )


def _both_paths(fn, x: torch.Tensor, *params: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``fn(x, *params)`` without autograd, with an input gradient, and with every gradient."""
    with torch.no_grad():
        plain = fn(x, *params)
    tracked_x = fn(x.clone().requires_grad_(True), *params)
    tracked_all = fn(
        x.clone().requires_grad_(True), *(p.clone().requires_grad_(True) for p in params)
    )
    return plain, tracked_x.detach(), tracked_all.detach()


dtype_st = st.sampled_from([torch.float32, torch.float64])


class TestOnePathBits:
    """Every quantization function gives the same bits with and without autograd."""

    @given(bits_st, st.booleans(), scale_st, seed_st, dtype_st)
    def test_lsq(self, bits: int, signed: bool, step: float, seed: int, dtype) -> None:
        q_n, q_p = Q.signed_range(bits) if signed else Q.unsigned_range(bits)
        x = _randn(seed, n=4096, scale=step * q_p).to(dtype)
        s = torch.tensor(step, dtype=dtype)
        plain, *tracked = _both_paths(lambda v, t: Q.lsq_quantize(v, t, q_n, q_p, 0.01), x, s)
        for t in tracked:
            assert torch.equal(plain, t)

    @given(bits_st, st.booleans(), scale_st, seed_st, dtype_st)
    def test_clip_and_pact(self, bits: int, signed: bool, bound: float, seed: int, dtype) -> None:
        x = _randn(seed, n=4096, scale=bound).to(dtype)
        b = torch.tensor(bound, dtype=dtype)
        for fn in (Q.clip_quantize, Q.pact_quantize):
            plain, *tracked = _both_paths(lambda v, t, f=fn: f(v, t, bits, signed), x, b)
            for t in tracked:
                assert torch.equal(plain, t)

    @given(bits_st, seed_st, dtype_st)
    def test_dorefa_weight(self, bits: int, seed: int, dtype) -> None:
        w = _randn(seed, n=4096, scale=0.1).to(dtype)
        plain, *tracked = _both_paths(lambda v: Q.dorefa_weight(v, bits), w)
        for t in tracked:
            assert torch.equal(plain, t)

    @given(bits_st, st.booleans(), scale_st, seed_st)
    def test_range_quantizers_are_the_integer_grid(
        self, bits: int, signed: bool, bound: float, seed: int
    ) -> None:
        """DoReFa and PACT activations are ``round(x / s)`` clipped to the integer grid, times
        ``s = bound / n``: the numbers evaluation has always computed (clip and round commute on
        integer bounds)."""
        x = _randn(seed, n=4096, scale=bound * 1.5).float()
        b = torch.tensor(bound)
        levels = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
        s = b / levels
        reference = torch.div(x, s).round().clamp(-levels if signed else 0, levels) * s
        assert torch.equal(Q.clip_quantize(x, b, bits, signed), reference)
        assert torch.equal(Q.pact_quantize(x, b, bits, signed), reference)

    def test_no_input_is_modified(self) -> None:
        """The in-place steps only ever touch the fresh tensor a function made itself."""
        x = torch.randn(64) * 3
        original = x.clone()
        with torch.no_grad():
            Q.lsq_quantize(x, torch.tensor(0.3), 8, 7, 0.1)
            Q.clip_quantize(x, torch.tensor(2.0), 4, True)
            Q.pact_quantize(x, torch.tensor(2.0), 4, False)
            Q.dorefa_weight(x, 4)
            Q.quantize_unit(x, 4)
        assert torch.equal(x, original)

    def test_rounding_disabled_on_both_paths(self) -> None:
        """Inside rounding_disabled() both paths clip and scale alike and round nothing."""
        x = torch.randn(256) * 3
        b = torch.tensor(1.7)
        with Q.rounding_disabled():
            plain, *tracked = _both_paths(lambda v, t: Q.clip_quantize(v, t, 4, True), x, b)
        for t in tracked:
            assert torch.equal(plain, t)
        s = b / 7.0
        assert torch.equal(plain, torch.clamp(x / s, -7.0, 7.0) * s)
