"""Quantizer modules and the quantizer registry."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from robustmq.quant import Quantizer, get_quantizer, list_quantizers
from robustmq.quant.lsq import LSQQuantizer, LSQWeightQuantizer
from robustmq.quant.pact import PACT_ALPHA_INIT, PACTActivationQuantizer

FAMILIES = ["dorefa", "lsq", "pact"]


def _all_quantizers(bits: int, weight: torch.Tensor) -> list[Quantizer]:
    out: list[Quantizer] = []
    for name in FAMILIES:
        family = get_quantizer(name)
        out.append(family.weight_quantizer(weight, bits))
        out.append(family.activation_quantizer(bits, signed=False))
        out.append(family.activation_quantizer(bits, signed=True))
    return out


class TestRegistry:
    def test_list_quantizers(self) -> None:
        """The three protocol quantizers are registered, sorted."""
        assert list_quantizers() == ["dorefa", "lsq", "pact"]


class TestIdentityAt32Bits:
    @pytest.mark.parametrize("name", FAMILIES)
    def test_bits_32_is_identity(self, name: str) -> None:
        """bits=32 turns every quantizer of every family into the identity."""
        x = torch.randn(4, 8) * 10
        for q in _all_quantizers(32, x):
            assert not q.enabled
            assert torch.equal(q(x), x)


class TestEvalForwardIsPure:
    @given(st.sampled_from([2, 4, 8]), st.integers(0, 2**16))
    def test_eval_forward_changes_no_state(self, bits: int, seed: int) -> None:
        """Eval forward (with or without gradients) leaves parameters and buffers bit-identical."""
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(16, 8, generator=g)
        x = torch.randn(4, 16, generator=g).requires_grad_(True)
        for q in _all_quantizers(bits, w):
            q.eval()
            before = {k: v.clone() for k, v in q.state_dict().items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                q(x).sum().backward()
                with torch.no_grad():
                    q(x)
            after = q.state_dict()
            assert all(torch.equal(before[k], after[k]) for k in before)


class TestOneArithmetic:
    @pytest.mark.slow
    @given(st.sampled_from([2, 4, 6, 8]), st.integers(0, 2**16))
    def test_every_path_gives_the_same_bits(self, bits: int, seed: int) -> None:
        """no_grad, inference_mode and autograd forwards of every quantizer (weights and signed
        and unsigned activations, trainable or frozen) give bit-identical values."""
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(16, 8, 3, 3, generator=g) * 0.1
        x = torch.randn(4, 16, 8, 8, generator=g) * 2
        for q in _all_quantizers(bits, w):
            if isinstance(q, LSQQuantizer) and not bool(q.initialized):
                q.step.data.fill_(0.173)
                q.initialized.fill_(True)
            if isinstance(q, PACTActivationQuantizer):
                q.alpha.data.fill_(2.5)
            q.eval()
            for value in (w, x):
                with torch.no_grad():
                    plain = q(value)
                with torch.inference_mode():
                    inference = q(value)
                tracked = q(value.clone().requires_grad_(True)).detach()
                q.requires_grad_(False)
                frozen = q(value.clone().requires_grad_(True)).detach()
                q.requires_grad_(True)
                assert torch.equal(plain, inference), type(q).__name__
                assert torch.equal(plain, tracked), type(q).__name__
                assert torch.equal(plain, frozen), type(q).__name__


class TestLSQInit:
    @given(st.sampled_from([2, 3, 4, 6, 8]), st.integers(0, 2**16))
    def test_weight_step_init(self, bits: int, seed: int) -> None:
        """LSQ weight steps start at 2 mean|w| / sqrt(Q_P)."""
        w = torch.randn(32, 16, generator=torch.Generator().manual_seed(seed))
        q = LSQWeightQuantizer(bits, w)
        q_p = 2 ** (bits - 1) - 1
        step = float(q.step.detach())
        assert math.isclose(step, 2 * float(w.abs().mean()) / math.sqrt(q_p), rel_tol=1e-5)
        assert bool(q.initialized)

    def test_uninitialised_activation_warns_once(self) -> None:
        """Using an LSQ activation step before calibration warns (once)."""
        q = LSQQuantizer(4, signed=False).eval()
        with pytest.warns(RuntimeWarning, match="calibrate"):
            q(torch.rand(3))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            q(torch.rand(3))


class TestPACTInit:
    def test_alpha_starts_large(self) -> None:
        """PACT alpha starts at the paper's large initial value."""
        assert float(PACTActivationQuantizer(4, signed=False).alpha.detach()) == PACT_ALPHA_INIT
