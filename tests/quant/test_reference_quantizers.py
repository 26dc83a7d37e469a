"""DoReFa, PACT and LSQ against the papers' equations and MQBench (issue 14, part 6, quantizers).

Each quantizer module of robustmq (robustmq/quant/dorefa.py, pact.py, lsq.py, built on
functional.py) is compared at 2, 4, 6 and 8 bits, forward values and gradients (with respect to
the input and to the learned parameter: PACT's alpha, LSQ's step), with

(a) the papers' equations, implemented again in this file from the papers, not from robustmq:
    - DoReFa-Net: S. Zhou et al. 2016, arXiv:1606.06160;
    - PACT: J. Choi et al. 2018, arXiv:1805.06085;
    - LSQ: S. K. Esser et al. 2020 (ICLR), arXiv:1902.08153;
(b) MQBench: the kernel that MQBench's per-tensor LSQ calls (torch's
    ``_fake_quantize_learnable_per_tensor_affine``, part of torch, always checked) and, where the
    torch-2 build of MQBench (``mqbench-torch2`` 0.1.1) is installed, MQBench's own LSQ, PACT and
    DoReFa fake-quantize modules (``pytest.importorskip``). MQBench's PACT and DoReFa are not the
    papers' functions; what they compute differently is pinned down below, not used as truth.

Exactness. Where robustmq evaluates a paper's formula with the same IEEE operations in the same
order (LSQ's forward, DoReFa's weight forward) the values must be bit-identical. Where the two
evaluate the same real number differently (PACT's ``y * n / alpha`` against robustmq's
``x / (alpha / n)``; MQBench's ``x * (1 / s)`` against ``x / s``), the computed quotients differ by
an ulp or two, which can only change the rounding next to a tie: inputs within 16 ulps of a tie or
of an integer are moved off it (:func:`_off_ties`); the levels must then agree exactly and the
values to 4 ulps (the step is multiplied back in a different order). Input gradients that autograd
forms as ``(u * s) / s`` get a relative tolerance of 2 ulps. Gradient sums over n elements get the
classical bound of recursive summation, ``(n + 8) * eps * sum|terms|``, which every summation order
satisfies. Upstream gradients are small integers, so PACT's alpha gradient (a sum of them) is exact
and compared exactly.

Deviations from the papers, each tested explicitly here rather than skipped:
- signed activations (the normalized image, MobileNetV2's linear bottlenecks): DoReFa and PACT
  quantize them on [-r, r] and [-alpha, alpha] with the symmetric grid of 2^(k-1) - 1 steps a
  side (functional.unit_levels, clip_quantize, pact_clip); both papers only treat non-negative
  activations. (The LSQ paper covers signed data: Q_N = 2^(b-1), Q_P = 2^(b-1) - 1.)
- calibration: DoReFa's activation range r is 1, the paper's, until calibration sets it to the
  99.9th percentile of the input (dorefa.py); LSQ's activation step is initialised from the mean
  |x| of every calibration batch, the paper's from the first batch (lsq.py, finish_calibration).
- PACT's input gradient at exactly x = 0 is 0 (torch.relu's subgradient in functional.pact_clip);
  eq. (1) gives 1 on [0, alpha). Behind a ReLU both are 0.
- all-zero DoReFa weights: eq. (9) divides 0 by 0; robustmq clamps max|tanh w| at 1e-12
  (functional.dorefa_weight_transform), so every weight becomes 1/n.
- gradients at the exact clipping bounds (x / s = -Q_N or Q_P) follow torch.clamp's convention
  (functional.uniform_quantize): the installed torch (2.14) gives 0 there, the LSQ paper's value;
  torch releases before the minimum-norm change (pytorch/pytorch#184574) gave 1.
- first and last layer: the papers keep them at a higher precision than the other layers;
  robustmq's ``academic`` policy (MQBench's academic setting) gives both 8-bit weights and inputs,
  tested in tests/quant/test_convert.py
  (TestConversion.test_academic_policy_keeps_first_and_last_at_8_bits).
- rounding ties: the papers do not say how round() breaks them; torch.round (robustmq) rounds
  half to even. The comparisons here move inputs off ties, so they pin no tie rule.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor

from robustmq.quant import functional as Q
from robustmq.quant.dorefa import DoReFaActivationQuantizer, DoReFaWeightQuantizer
from robustmq.quant.lsq import LSQQuantizer, LSQWeightQuantizer
from robustmq.quant.pact import PACTActivationQuantizer

BITS = (2, 4, 6, 8)
bits_st = st.sampled_from(BITS)
seed_st = st.integers(min_value=0, max_value=2**31 - 1)
#: LSQ step sizes and PACT alphas / DoReFa ranges, log-uniform over four decades
step_st = st.floats(min_value=-3.0, max_value=1.0).map(lambda e: 10.0**e)
#: how far the inputs spread relative to the clipping range (some clip, some do not)
spread_st = st.floats(min_value=0.2, max_value=2.0)
F32, F64 = torch.float32, torch.float64

WEIGHT_SHAPE = (8, 4, 3, 3)  # N_W = 288
ACT_SHAPE = (3, 4, 5, 5)  # batch 3, N_F = 100 features per sample


# ------------------------------------------------------------------------------------- helpers


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(seed: int, shape: tuple[int, ...], scale: float = 1.0, dtype=F64) -> Tensor:
    return (torch.randn(shape, generator=_gen(seed), dtype=F64) * scale).to(dtype)


def _upstream(seed: int, shape: tuple[int, ...], dtype=F64) -> Tensor:
    """Upstream gradients: non-zero integers in [-4, 4], so that sums of them are exact."""
    g = _gen(seed + 1)
    magnitude = torch.randint(1, 5, shape, generator=g)
    sign = torch.randint(0, 2, shape, generator=g) * 2 - 1
    return (magnitude * sign).to(dtype)


def _off_ties(x: Tensor, step: float) -> Tensor:
    """``x`` with every element whose ``x / step`` lies within 16 ulps (of x's dtype) of a rounding
    tie ``k + 1/2`` or of an integer moved to ``(k + 1/4) * step``.

    Two float evaluations of the same real quotient differ by an ulp or two, so only there may
    they round to neighbouring levels, or fall on either side of a clipping bound.
    """
    eps = torch.finfo(x.dtype).eps
    v = x.double() / step
    k = torch.floor(v)
    frac = v - k
    tol = 16 * eps * v.abs().clamp_min(1.0)
    near = ((frac - 0.5).abs() <= tol) | (frac <= tol) | (1 - frac <= tol)
    return torch.where(near, ((k + 0.25) * step).to(x.dtype), x)


def _sum_bound(terms_abs: Tensor, dtype: torch.dtype) -> float:
    """Rounding-error bound of a float sum of ``terms_abs.numel()`` terms of these magnitudes."""
    return (terms_abs.numel() + 8) * torch.finfo(dtype).eps * float(terms_abs.sum())


def _clamp_gradient_at_bound() -> float:
    """torch.clamp's gradient at a scalar bound: 0 in the installed torch (2.14, minimum-norm
    subgradient, pytorch/pytorch#184574), 1 in earlier releases."""
    x = torch.zeros(1, requires_grad=True)
    torch.clamp(x, 0.0, 1.0).sum().backward()
    return float(x.grad)


def _run(quantizer, x: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """``quantizer(x)`` and the gradient of ``sum(u * quantizer(x))`` with respect to ``x``."""
    x = x.clone().requires_grad_(True)
    y = quantizer(x)
    (y * u).sum().backward()
    return y.detach(), x.grad


# ------------------------------------------------- DoReFa-Net (Zhou et al. 2016, arXiv:1606.06160)


def dorefa_quantize_k(r: Tensor, k: int) -> Tensor:
    """quantize_k (Section 2): r_o = round((2^k - 1) r_i) / (2^k - 1) for r_i in [0, 1].

    Its backward is the straight-through estimator dc/dr_i = dc/dr_o. The paper writes the factor
    1/(2^k - 1) in front; dividing gives the correctly rounded quotient of the same real number.
    """
    n = 2**k - 1
    return torch.round(n * r) / n


def dorefa_weight_ref(w: Tensor, k: int) -> Tensor:
    """Eq. (9): r_o = 2 quantize_k(tanh(r_i) / (2 max(|tanh(r_i)|)) + 1/2) - 1."""
    t = torch.tanh(w)
    return 2 * dorefa_quantize_k(t / (2 * t.abs().max()) + 0.5, k) - 1


def dorefa_weight_grad_ref(w: Tensor, u: Tensor) -> Tensor:
    """d sum(u * eq. (9)) / dw: the chain rule, with quantize_k's straight-through estimator.

    With t = tanh(w) and M = max|t| attained at a single index m (the max differentiated like any
    other operation): u_i (1 - t_i^2) / M, and at m additionally
    -sign(t_m) (1 - t_m^2) sum_j u_j t_j / M^2.
    """
    t, uf = torch.tanh(w).flatten(), u.flatten()
    m = int(t.abs().argmax())
    big_m = t.abs()[m]
    dt = 1 - t * t
    grad = uf * dt / big_m
    grad[m] = grad[m] - torch.sign(t[m]) * dt[m] * (uf * t).sum() / big_m**2
    return grad.reshape(w.shape)


def dorefa_activation_ref(x: Tensor, k: int) -> Tensor:
    """Activations (Section 2): clipped to [0, 1], then quantize_k; gradient 1 on (0, 1)."""
    return dorefa_quantize_k(torch.clamp(x, 0.0, 1.0), k)


# -------------------------------------------------------- PACT (Choi et al. 2018, arXiv:1805.06085)


def pact_ref(x: Tensor, alpha: float, k: int) -> Tensor:
    """Eq. (1): y = 0.5 (|x| - |x - alpha| + alpha), i.e. 0 for x < 0, x on [0, alpha), alpha for
    x >= alpha (the piecewise form, evaluated without the closed form's cancellations);
    eq. (2): y_q = round(y (2^k - 1) / alpha) alpha / (2^k - 1)."""
    n = 2**k - 1
    y = torch.clamp(x, 0.0, alpha)
    return torch.round(y * n / alpha) * alpha / n


def pact_grads_ref(x: Tensor, alpha: float, u: Tensor) -> tuple[Tensor, Tensor]:
    """The input gradient, STE (dy_q/dy = 1) times eq. (1)'s derivative: 1 on [0, alpha), 0
    elsewhere; eq. (3): dy_q/dalpha = 1 for x >= alpha, 0 for x < alpha. Both times ``u``."""
    dx = torch.where((x >= 0) & (x < alpha), u, 0.0)
    return dx, u[x >= alpha].sum()


# -------------------------------------------------------- LSQ (Esser et al. 2020, arXiv:1902.08153)


def lsq_ref(v: Tensor, s: float, q_n: int, q_p: int) -> Tensor:
    """Eq. (1): v_bar = round(clip(v / s, -Q_N, Q_P)); eq. (2): v_hat = v_bar * s."""
    return torch.round(torch.clamp(v / s, -q_n, q_p)) * s


def lsq_grads_ref(
    v: Tensor, s: float, q_n: int, q_p: int, u: Tensor, g: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of sum(u * v_hat): the input's, by the straight-through estimator of Section 2
    (dv_hat/dv = 1 if -Q_N < v/s < Q_P, else 0); the step's, eq. (3)
    (dv_hat/ds = -v/s + round(v/s) if -Q_N < v/s < Q_P, -Q_N if v/s <= -Q_N, Q_P if v/s >= Q_P)
    times the gradient scale g of Section 2.2. Also the magnitudes the step gradient's rounding
    error scales with (autograd forms -v/s as -(u s) v / s^2)."""
    r = v / s
    dx = torch.where((r > -q_n) & (r < q_p), u, 0.0)
    eq3 = torch.where(r <= -q_n, -float(q_n), torch.where(r >= q_p, float(q_p), torch.round(r) - r))
    return dx, g * (u * eq3).sum(), g * u.abs() * (r.abs() + max(q_n, q_p))


def lsq_g(n: int, q_p: int) -> float:
    """Section 2.2: g = 1 / sqrt(N Q_P), N the weights in the layer (N_W) or the features of one
    input (N_F)."""
    return 1.0 / math.sqrt(n * q_p)


def _lsq_range(bits: int, signed: bool) -> tuple[int, int]:
    """Q_N, Q_P of Section 2: 0 and 2^b - 1 for unsigned data, 2^(b-1) and 2^(b-1) - 1 signed."""
    return (2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


# ===================================================================================== DoReFa


class TestDoReFaAgainstPaper:
    @given(bits_st, seed_st, st.floats(min_value=0.01, max_value=2.0))
    def test_weights_eq9_values_and_gradient(self, bits: int, seed: int, scale: float) -> None:
        """Weights are eq. (9) bit for bit; their gradient is eq. (9)'s chain rule with the STE."""
        w = _randn(seed, WEIGHT_SHAPE, scale)
        u = _upstream(seed, WEIGHT_SHAPE)
        y, grad = _run(DoReFaWeightQuantizer(bits), w, u)
        expected = dorefa_weight_ref(w, bits)
        assert torch.equal(y, expected)  # same operations, same order: exact
        assert y.abs().max() == 1.0  # the largest |w| maps to +-1
        ref_grad = dorefa_weight_grad_ref(w, u)
        t = torch.tanh(w)
        big_m = float(t.abs().max())
        # autograd and the closed form sum sum_j u_j t_j in different orders
        atol = _sum_bound((u * t).abs(), F64) / big_m**2
        torch.testing.assert_close(grad, ref_grad, rtol=16 * torch.finfo(F64).eps, atol=atol)

    @pytest.mark.parametrize("bits", BITS)
    def test_all_zero_weights_deviation(self, bits: int) -> None:
        """Deviation: eq. (9) is 0/0 for an all-zero tensor; robustmq clamps max|tanh w| at 1e-12
        (functional.dorefa_weight_transform), so the normalized weight is 1/2 and quantize_k's
        round-half-even gives the level 2^(k-1), i.e. 2 * 2^(k-1) / n - 1 = 1/n."""
        w = torch.zeros(WEIGHT_SHAPE, dtype=F64)
        assert torch.isnan(dorefa_weight_ref(w, bits)).all()
        n = 2**bits - 1
        y = DoReFaWeightQuantizer(bits)(w)
        assert torch.equal(y, torch.full_like(w, 2 * (2 ** (bits - 1) / n) - 1))
        assert y[0, 0, 0, 0].item() == pytest.approx(1 / n, rel=1e-15)

    @given(bits_st, seed_st, spread_st)
    def test_activations_on_the_unit_range(self, bits: int, seed: int, spread: float) -> None:
        """Before calibration (r = 1): clip to [0, 1], quantize_k; gradient 1 on (0, 1), else 0."""
        n = 2**bits - 1
        x = _off_ties(_randn(seed, ACT_SHAPE, spread), 1.0 / n)
        u = _upstream(seed, ACT_SHAPE)
        q = DoReFaActivationQuantizer(bits, signed=False).double()
        assert float(q.range) == 1.0
        y, grad = _run(q, x, u)
        eps = torch.finfo(F64).eps
        torch.testing.assert_close(y, dorefa_activation_ref(x, bits), rtol=4 * eps, atol=0)
        inside = (x > 0) & (x < 1)
        torch.testing.assert_close(grad, torch.where(inside, u, 0.0), rtol=2 * eps, atol=0)

    @given(bits_st, seed_st, step_st)
    def test_calibrated_range_deviation(self, bits: int, seed: int, scale: float) -> None:
        """Deviation (dorefa.py): calibration sets r to the 99.9th percentile of the input and the
        quantizer becomes r * quantize_k(clip(x / r, 0, 1)): the paper's function of x / r."""
        n = 2**bits - 1
        q = DoReFaActivationQuantizer(bits, signed=False).double()
        calibration = _randn(seed + 7, ACT_SHAPE, scale).relu()
        q.observe(calibration)
        q.finish_calibration()
        r = float(q.range)
        # functional.observed_quantile interpolates in float32 (weight 0.999 * (n - 1) rounded)
        assert r == pytest.approx(float(torch.quantile(calibration, 0.999)), rel=1e-4)
        x = _off_ties(_randn(seed, ACT_SHAPE, scale), r / n)
        u = _upstream(seed, ACT_SHAPE)
        y, grad = _run(q, x, u)
        eps = torch.finfo(F64).eps
        torch.testing.assert_close(y, r * dorefa_activation_ref(x / r, bits), rtol=8 * eps, atol=0)
        inside = (x > 0) & (x < r)
        torch.testing.assert_close(grad, torch.where(inside, u, 0.0), rtol=2 * eps, atol=0)

    @given(bits_st, seed_st, step_st)
    def test_signed_activation_deviation(self, bits: int, seed: int, scale: float) -> None:
        """Deviation (dorefa.py, functional.unit_levels): signed inputs, which the paper does not
        cover, are clipped to [-r, r] (r: 99.9th percentile of |x|) and quantized on the symmetric
        grid of m = 2^(k-1) - 1 steps a side: r * round(clip(x / r, -1, 1) * m) / m."""
        m = 2 ** (bits - 1) - 1
        q = DoReFaActivationQuantizer(bits, signed=True).double()
        q.observe(_randn(seed + 7, ACT_SHAPE, scale))
        q.finish_calibration()
        r = float(q.range)
        x = _off_ties(_randn(seed, ACT_SHAPE, scale), r / m)
        u = _upstream(seed, ACT_SHAPE)
        y, grad = _run(q, x, u)
        eps = torch.finfo(F64).eps
        expected = r * (torch.round(torch.clamp(x / r, -1.0, 1.0) * m) / m)
        torch.testing.assert_close(y, expected, rtol=8 * eps, atol=0)
        inside = (x > -r) & (x < r)
        torch.testing.assert_close(grad, torch.where(inside, u, 0.0), rtol=2 * eps, atol=0)


# ======================================================================================= PACT


class TestPACTAgainstPaper:
    @given(bits_st, step_st, spread_st, seed_st)
    def test_eq1_to_eq3(self, bits: int, alpha: float, spread: float, seed: int) -> None:
        """Values are eqs. (1)-(2); d/dalpha is eq. (3) (x = alpha included); d/dx is 1 on
        (0, alpha)."""
        n = 2**bits - 1
        q = PACTActivationQuantizer(bits, signed=False, alpha=alpha).double()
        alpha = float(q.alpha.detach())  # the float32 parameter's value
        x = _off_ties(_randn(seed, ACT_SHAPE, alpha * spread), alpha / n).flatten()
        x[:3] = alpha  # eq. (3)'s closed end: x >= alpha
        x = x.reshape(ACT_SHAPE)
        u = _upstream(seed, ACT_SHAPE)
        y, grad = _run(q, x, u)
        torch.testing.assert_close(
            y, pact_ref(x, alpha, bits), rtol=4 * torch.finfo(F64).eps, atol=0
        )
        dx, dalpha = pact_grads_ref(x, alpha, u)
        assert not (x == 0).any()  # x = 0: see test_zero_input_deviation
        assert torch.equal(grad, dx)  # where / relu pass u through unchanged
        assert torch.equal(q.alpha.grad, dalpha)  # a sum of small integers: exact

    @pytest.mark.parametrize("bits", BITS)
    def test_zero_input_deviation(self, bits: int) -> None:
        """Deviation (functional.pact_clip uses torch.relu): at exactly x = 0 the input gradient is
        0, eq. (1)'s piecewise derivative 1. Behind a ReLU, the usual producer of PACT's input,
        the ReLU's own gradient at 0 is 0, so the chain gives 0 either way."""
        q = PACTActivationQuantizer(bits, signed=False, alpha=2.0).double()
        x = torch.zeros(4, dtype=F64)
        u = torch.ones(4, dtype=F64)
        _, grad = _run(q, x, u)
        assert torch.equal(grad, torch.zeros(4, dtype=F64))
        assert torch.equal(pact_grads_ref(x, 2.0, u)[0], torch.ones(4, dtype=F64))
        _, through_relu = _run(lambda t: q(torch.relu(t)), x, u)
        assert torch.equal(through_relu, torch.zeros(4, dtype=F64))

    @given(bits_st, step_st, spread_st, seed_st)
    def test_signed_deviation(self, bits: int, alpha: float, spread: float, seed: int) -> None:
        """Deviation (pact.py): signed inputs use clip(x, -alpha, alpha) on the symmetric grid of
        m = 2^(k-1) - 1 steps a side; d/dalpha is +1 for x >= alpha and -1 for x <= -alpha (eq. (3)
        mirrored), d/dx is 1 on (-alpha, alpha)."""
        m = 2 ** (bits - 1) - 1
        q = PACTActivationQuantizer(bits, signed=True, alpha=alpha).double()
        alpha = float(q.alpha.detach())  # the float32 parameter's value
        x = _off_ties(_randn(seed, ACT_SHAPE, alpha * spread), alpha / m).flatten()
        x[:2], x[2:4] = alpha, -alpha
        x = x.reshape(ACT_SHAPE)
        u = _upstream(seed, ACT_SHAPE)
        y, grad = _run(q, x, u)
        expected = torch.round(torch.clamp(x, -alpha, alpha) * m / alpha) * alpha / m
        torch.testing.assert_close(y, expected, rtol=4 * torch.finfo(F64).eps, atol=0)
        assert torch.equal(grad, torch.where((x > -alpha) & (x < alpha), u, 0.0))
        assert torch.equal(q.alpha.grad, u[x >= alpha].sum() - u[x <= -alpha].sum())


# ======================================================================================== LSQ

kind_st = st.sampled_from(["weight", "signed", "unsigned"])


def _lsq_case(
    kind: str, bits: int, step: float, spread: float, seed: int, dtype=F64
) -> tuple[LSQQuantizer, Tensor, Tensor, int, int, float]:
    """An LSQ quantizer of ``kind`` with step ``step``, an input, upstream gradients, Q_N, Q_P and
    the paper's g (N_W: every weight; N_F: the features of one sample)."""
    signed = kind != "unsigned"
    q_n, q_p = _lsq_range(bits, signed)
    shape = WEIGHT_SHAPE if kind == "weight" else ACT_SHAPE
    x = _randn(seed, shape, step * q_p * spread, dtype)
    if kind == "weight":
        q: LSQQuantizer = LSQWeightQuantizer(bits, x)
        n = x.numel()
    else:
        q = LSQQuantizer(bits, signed, step=step, initialized=True)
        n = x[0].numel()
    q = q.to(dtype)
    with torch.no_grad():
        q.step.fill_(step)
    x = _off_ties(x, float(q.step.detach()))
    return q, x, _upstream(seed, shape, dtype), q_n, q_p, lsq_g(n, q_p)


class TestLSQAgainstPaper:
    @given(bits_st, kind_st, step_st, spread_st, seed_st)
    def test_eq1_to_eq3_and_gradient_scale(
        self, bits: int, kind: str, step: float, spread: float, seed: int
    ) -> None:
        """Values are eqs. (1)-(2) bit for bit; d/dx is the STE of Section 2; d/ds is eq. (3)
        scaled by g = 1/sqrt(N_W Q_P) (weights) or 1/sqrt(N_F Q_P) (activations), Section 2.2."""
        q, x, u, q_n, q_p, g = _lsq_case(kind, bits, step, spread, seed)
        y, grad = _run(q, x, u)
        assert torch.equal(y, lsq_ref(x, step, q_n, q_p))  # same operations, same order
        dx, ds, magnitudes = lsq_grads_ref(x, step, q_n, q_p, u, g)
        torch.testing.assert_close(grad, dx, rtol=2 * torch.finfo(F64).eps, atol=0)
        assert abs(float(q.step.grad) - float(ds)) <= _sum_bound(magnitudes, F64)

    @pytest.mark.parametrize("bits", BITS)
    @pytest.mark.parametrize("signed", [False, True])
    def test_gradients_at_the_clipping_bounds(self, bits: int, signed: bool) -> None:
        """At x / s = -Q_N and Q_P exactly, eq. (3) gives -Q_N and Q_P and the STE 0. robustmq
        inherits torch.clamp's convention there (functional.uniform_quantize): the installed torch
        (2.14) matches the paper; torch before pytorch/pytorch#184574 gave the bounds gradient 1,
        i.e. eq. (3)'s inside branch round(v/s) - v/s = 0 and d/dx = 1."""
        q_n, q_p = _lsq_range(bits, signed)
        s = 0.25  # a power of two: x = Q s and x / s are exact
        for v, paper_ds in ((-q_n * s, -q_n), (q_p * s, q_p)):
            x = torch.tensor([v], dtype=F64, requires_grad=True)
            step = torch.tensor(s, dtype=F64, requires_grad=True)
            Q.lsq_quantize(x, step, q_n, q_p, 1.0).sum().backward()
            if _clamp_gradient_at_bound() == 0.0:
                assert (float(x.grad), float(step.grad)) == (0.0, paper_ds)
            else:  # a torch from before the minimum-norm clamp subgradient
                assert (float(x.grad), float(step.grad)) == (1.0, 0.0)

    @given(bits_st, st.booleans(), seed_st)
    def test_activation_step_initialisation_deviation(
        self, bits: int, signed: bool, seed: int
    ) -> None:
        """Section 2 initialises s to 2<|v|>/sqrt(Q_P) on the first batch of activations;
        robustmq's calibration (lsq.py, finish_calibration) averages |v| over every calibration
        batch. One batch: the paper's value; two: the mean over both, not the first's."""
        _, q_p = _lsq_range(bits, signed)
        first = _randn(seed, ACT_SHAPE)
        second = _randn(seed + 1, ACT_SHAPE, 3.0)
        one, two = LSQQuantizer(bits, signed), LSQQuantizer(bits, signed)
        one.observe(first)
        for batch in (first, second):
            two.observe(batch)
        for q in (one, two):
            q.finish_calibration()
            assert bool(q.initialized)
        paper = 2 * float(first.abs().mean()) / math.sqrt(q_p)
        assert float(one.step.detach()) == pytest.approx(paper, rel=1e-6)  # float32 parameter
        both = 2 * float(torch.cat([first, second]).abs().mean()) / math.sqrt(q_p)
        assert float(two.step.detach()) == pytest.approx(both, rel=1e-6)
        assert float(two.step.detach()) != pytest.approx(paper, rel=1e-2)


# ================================================== MQBench's LSQ kernel (torch, always checked)


def _mqbench_lsq_grads(
    v: Tensor, s: float, q_n: int, q_p: int, u: Tensor, g: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The gradients torch's learnable fake-quantize kernel (MQBench's per-tensor LSQ) computes,
    stated against the paper: it decides "inside" on the rounded quotient, round(v/s) in
    [-Q_N, Q_P], so on the half step just outside the clipping range, Q_P <= v/s < Q_P + 1/2 and
    -Q_N - 1/2 < v/s <= -Q_N (the "band"), d/dx is 1 instead of the STE's 0 and d/ds is
    round(v/s) - v/s instead of eq. (3)'s +-Q: the paper's value minus v/s."""
    r = v.double() / s
    band = ((r >= q_p) & (r < q_p + 0.5)) | ((r <= -q_n) & (r > -q_n - 0.5))
    dx, ds, magnitudes = lsq_grads_ref(v.double(), s, q_n, q_p, u.double(), g)
    return (
        torch.where(band, u.double(), dx),
        ds - g * (u.double() * r)[band].sum(),
        magnitudes,
        band,
    )


class TestLSQAgainstTorchLearnableFakeQuantize:
    @given(bits_st, st.booleans(), step_st, spread_st, seed_st)
    def test_values_and_gradients(
        self, bits: int, signed: bool, step: float, spread: float, seed: int
    ) -> None:
        """torch._fake_quantize_learnable_per_tensor_affine, the kernel MQBench's
        LearnableFakeQuantize calls per tensor, on the same float32 input, step and g: identical
        values; identical input gradients and eq. (3) step gradients except on the band where the
        kernel's own convention differs from the paper's (see _mqbench_lsq_grads)."""
        q_n, q_p = _lsq_range(bits, signed)
        s = float(torch.tensor(step, dtype=F32))
        x = _off_ties(_randn(seed, (64, 16), s * q_p * spread, F32), s)
        u = _upstream(seed, (64, 16), F32)
        g = lsq_g(x.numel(), q_p)
        ours_x, ours_s = x.clone().requires_grad_(True), torch.tensor(s, requires_grad=True)
        ours = Q.lsq_quantize(ours_x, ours_s, q_n, q_p, g)
        (ours * u).sum().backward()
        ref_x = x.clone().requires_grad_(True)
        ref_s = torch.tensor([s], requires_grad=True)
        ref = torch._fake_quantize_learnable_per_tensor_affine(
            ref_x, ref_s, torch.zeros(1), -q_n, q_p, g
        )
        (ref * u).sum().backward()
        assert torch.equal(ours.detach(), ref.detach())
        dx, ds, magnitudes = lsq_grads_ref(x.double(), s, q_n, q_p, u.double(), g)
        eps = torch.finfo(F32).eps
        torch.testing.assert_close(ours_x.grad, dx.float(), rtol=2 * eps, atol=0)
        assert abs(float(ours_s.grad) - float(ds)) <= _sum_bound(magnitudes, F32)
        k_dx, k_ds, _, band = _mqbench_lsq_grads(x, s, q_n, q_p, u, g)
        assert torch.equal(ref_x.grad, k_dx.float())
        assert torch.equal(ref_x.grad[band], u[band])  # the paper: 0 there
        assert abs(float(ref_s.grad) - float(k_ds)) <= _sum_bound(magnitudes, F32)


# ================================================================= MQBench modules (if installed)


@pytest.fixture(scope="module")
def mqb() -> SimpleNamespace:
    """MQBench's fake-quantize modules and observers; skips where mqbench-torch2 is absent."""
    fake_quantize = pytest.importorskip("mqbench.fake_quantize")
    observer = pytest.importorskip("mqbench.observer")
    return SimpleNamespace(
        lsq=fake_quantize.LearnableFakeQuantize,
        pact=fake_quantize.PACTFakeQuantize,
        dorefa=fake_quantize.DoReFaFakeQuantize,
        minmax=observer.MinMaxObserver,
        lsq_observer=observer.LSQObserver,
    )


def _mq_kwargs(bits: int, signed: bool) -> dict:
    """MQBench observer settings for a per-tensor b-bit grid (symmetric when signed)."""
    if signed:
        return {
            "dtype": torch.qint8,
            "qscheme": torch.per_tensor_symmetric,
            "quant_min": -(2 ** (bits - 1)),
            "quant_max": 2 ** (bits - 1) - 1,
        }
    return {
        "dtype": torch.quint8,
        "qscheme": torch.per_tensor_affine,
        "quant_min": 0,
        "quant_max": 2**bits - 1,
    }


class TestAgainstMQBench:
    @given(bits=bits_st, kind=kind_st, step=step_st, spread=spread_st, seed=seed_st)
    def test_lsq_module(
        self, mqb: SimpleNamespace, bits: int, kind: str, step: float, spread: float, seed: int
    ) -> None:
        """MQBench's LearnableFakeQuantize against robustmq's LSQ modules (float32): identical
        values and input gradients off the kernel's band. The step gradient's g: both use
        N_W = every weight for weights; for activations MQBench uses X.numel(), batch included,
        robustmq and the paper N_F = the features of one sample, so MQBench's g is smaller by
        sqrt(batch)."""
        q, x, u, q_n, q_p, g = _lsq_case(kind, bits, step, spread, seed, F32)
        s = float(q.step.detach())
        fq = mqb.lsq(mqb.lsq_observer, **_mq_kwargs(bits, kind != "unsigned"))
        fq.disable_observer()
        with torch.no_grad():
            fq.scale.fill_(s)
        ours, ours_grad = _run(q, x, u)
        theirs, their_grad = _run(fq, x, u)
        assert torch.equal(ours, theirs)
        g_mq = lsq_g(x.numel(), q_p)
        assert g_mq == pytest.approx(g if kind == "weight" else g / math.sqrt(ACT_SHAPE[0]))
        k_dx, k_ds, magnitudes, _ = _mqbench_lsq_grads(x, s, q_n, q_p, u, g_mq)
        assert torch.equal(their_grad, k_dx.float())
        assert abs(float(fq.scale.grad) - float(k_ds)) <= _sum_bound(magnitudes, F32)
        dx, ds, magnitudes = lsq_grads_ref(x.double(), s, q_n, q_p, u.double(), g)
        torch.testing.assert_close(ours_grad, dx.float(), rtol=2 * torch.finfo(F32).eps, atol=0)
        assert abs(float(q.step.grad) - float(ds)) <= _sum_bound(magnitudes, F32)

    @given(bits=bits_st, signed=st.booleans(), seed=seed_st)
    def test_lsq_step_initialisation(
        self, mqb: SimpleNamespace, bits: int, signed: bool, seed: int
    ) -> None:
        """MQBench's LSQObserver and robustmq both start s at 2 mean|v| / sqrt(Q_P) (LSQ Section
        2): on the weight, and on one batch of activations."""
        w = _randn(seed, WEIGHT_SHAPE, 0.1, F32)
        x = _randn(seed + 1, ACT_SHAPE, dtype=F32)
        x = x if signed else x.abs()  # unsigned: non-negative, else MQBench adds a zero point
        for value, ours, mq_signed in (
            (w, LSQWeightQuantizer(bits, w), True),
            (x, LSQQuantizer(bits, signed), signed),
        ):
            if not bool(ours.initialized):  # activations: calibrated on the one batch
                ours.observe(value)
                ours.finish_calibration()
            fq = mqb.lsq(mqb.lsq_observer, **_mq_kwargs(bits, mq_signed))
            fq(value)  # observer enabled: sets the scale
            assert float(fq.scale.detach()) == pytest.approx(float(ours.step.detach()), rel=1e-6)
            assert float(fq.zero_point.detach()) == 0.0

    @given(bits=bits_st, alpha=step_st, spread=spread_st, seed=seed_st)
    def test_pact_while_observing(
        self, mqb: SimpleNamespace, bits: int, alpha: float, spread: float, seed: int
    ) -> None:
        """MQBench's PACTFakeQuantize clips at alpha only while its observer is enabled (its
        training mode; see test_pact_alpha_frozen_without_observer). There, on non-negative
        inputs, the values are robustmq's; the conventions at the two ends differ: MQBench passes
        d/dx = 1 at x = 0 (eq. (1): 1; robustmq: 0) and at x = alpha (eq. (1): 0), and sends
        d/dalpha only for x > alpha (eq. (3) and robustmq: x >= alpha)."""
        n = 2**bits - 1
        a = float(torch.tensor(alpha, dtype=F32))
        x = _off_ties(_randn(seed, ACT_SHAPE, a * spread, F32).abs(), a / n).flatten()
        x[:2], x[2:4] = 0.0, a
        x = x.reshape(ACT_SHAPE)
        u = _upstream(seed, ACT_SHAPE, F32)
        ours_q = PACTActivationQuantizer(bits, signed=False, alpha=a)
        fq = mqb.pact(mqb.minmax, alpha=a, **_mq_kwargs(bits, signed=False))
        ours, ours_grad = _run(ours_q, x, u)
        theirs, their_grad = _run(fq, x, u)
        assert torch.equal(ours, theirs)
        assert torch.equal(ours_grad, torch.where((x > 0) & (x < a), u, 0.0))
        assert torch.equal(their_grad, torch.where(x <= a, u, 0.0))
        assert torch.equal(ours_q.alpha.grad, u[x >= a].sum())
        assert torch.equal(fq.alpha.grad, u[x > a].sum().reshape(1))

    def test_pact_alpha_frozen_without_observer(self, mqb: SimpleNamespace) -> None:
        """With its observer disabled (MQBench's quantization-only mode) MQBench's PACT is a fixed
        fake-quantizer: alpha gets no gradient. robustmq's alpha always gets eq. (3)'s."""
        x = torch.tensor([0.5, 1.0, 3.0, 5.0], requires_grad=True)
        fq = mqb.pact(mqb.minmax, alpha=2.0, **_mq_kwargs(4, signed=False))
        fq(x)
        fq.disable_observer()
        fq(x).sum().backward()
        assert x.grad is not None
        assert fq.alpha.grad is None
        ours = PACTActivationQuantizer(4, signed=False, alpha=2.0)
        ours(x).sum().backward()
        assert float(ours.alpha.grad) == 2.0

    @pytest.mark.parametrize("bits", BITS)
    def test_pact_signed_grid_differs(self, mqb: SimpleNamespace, bits: int) -> None:
        """On signed inputs MQBench's PACT uses torch's symmetric grid, step 2 alpha / (2^k - 1),
        whose largest level (2^(k-1) - 1) * step lies below alpha; robustmq's symmetric PACT has
        step alpha / (2^(k-1) - 1) and reaches +-alpha. Not compared further."""
        alpha = 2.0
        x = torch.linspace(-3.0, 3.0, 61)
        fq = mqb.pact(mqb.minmax, alpha=alpha, **_mq_kwargs(bits, signed=True))
        theirs = fq(x).detach()
        assert float(fq.scale.detach()) == pytest.approx(2 * alpha / (2**bits - 1), rel=1e-6)
        assert float(theirs.max()) < alpha
        ours = PACTActivationQuantizer(bits, signed=True, alpha=alpha)(x).detach()
        assert float(ours.max()) == pytest.approx(alpha, rel=1e-6)  # m * (alpha / m) in float32
        assert float(ours.min()) == pytest.approx(-alpha, rel=1e-6)

    @pytest.mark.parametrize("bits", BITS)
    def test_dorefa_is_not_eq9(self, mqb: SimpleNamespace, bits: int) -> None:
        """MQBench's DoReFaFakeQuantize divides tanh(w) by max|tanh(w)| + 1e-5 and fake-quantizes
        on a grid that holds 0; eq. (9)'s grid {2i/n - 1} has no 0 and its extremes are +-1.
        robustmq follows eq. (9) (test_weights_eq9_values_and_gradient); MQBench's is not it."""
        w = torch.tensor([-1.3, -0.4, 0.0, 0.2, 0.7, 1.1])
        theirs = mqb.dorefa(mqb.minmax, **_mq_kwargs(bits, signed=True))(w)
        ours = DoReFaWeightQuantizer(bits)(w)
        assert torch.equal(ours, dorefa_weight_ref(w, bits))
        assert float(theirs[2]) == 0.0
        assert float(ours[2]) == pytest.approx(1 / (2**bits - 1), abs=1e-7)  # 2 q - 1, float32
        assert float(ours.abs().max()) == 1.0
        assert float(theirs.abs().max()) != 1.0
