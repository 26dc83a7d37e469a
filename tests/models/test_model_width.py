"""Width multipliers below 1: channel rounding, RegNet parameters and the resulting models."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustmq.models import create_model, list_models, model_config
from robustmq.models._widths import scale_channels
from robustmq.models.regnet import regnetx_600m_params

WIDTHS = st.floats(min_value=1e-3, max_value=1.0, exclude_min=False, allow_nan=False)


@functools.cache
def _num_params(name: str, width: float) -> int:
    model = create_model(name, num_classes=10, width=width)
    return sum(p.numel() for p in model.parameters())


class TestScaleChannels:
    @given(channels=st.integers(1, 4096))
    def test_width_one_is_identity(self, channels: int) -> None:
        """width 1.0 leaves any channel count unchanged."""
        assert scale_channels(channels, 1.0) == channels

    @given(channels=st.integers(1, 4096).map(lambda c: 8 * c), width=WIDTHS)
    def test_scaled_channels_are_multiples_of_eight(self, channels: int, width: float) -> None:
        """width < 1 gives a multiple of 8, at least 8 and at least 90 % of channels * width."""
        scaled = scale_channels(channels, width)
        assert scaled % 8 == 0
        assert scaled >= 8
        assert scaled >= 0.9 * channels * width
        assert scaled <= max(8, channels * width + 8)

    @given(channels=st.integers(1, 512).map(lambda c: 8 * c), a=WIDTHS, b=WIDTHS)
    def test_scaling_is_monotone_in_width(self, channels: int, a: float, b: float) -> None:
        """A larger width never gives fewer channels."""
        low, high = sorted((a, b))
        assert scale_channels(channels, low) <= scale_channels(channels, high)

    def test_examples(self) -> None:
        """Typical widths give the expected ResNet stage channels."""
        assert [scale_channels(c, 0.5) for c in (64, 128, 256, 512)] == [32, 64, 128, 256]
        assert [scale_channels(c, 0.25) for c in (64, 128, 256, 512)] == [16, 32, 64, 128]
        assert [scale_channels(c, 0.1) for c in (64, 128, 256, 512)] == [8, 16, 24, 48]


class TestRegNetParams:
    def test_width_one_is_pycls_regnetx_600mf(self) -> None:
        """width 1 gives pycls RegNetX-600MF: depths 1,3,5,7, widths 48..528, groups of 24."""
        params, stem = regnetx_600m_params(1.0)
        assert stem == 32
        assert params.depths == [1, 3, 5, 7]
        assert params.widths == [48, 96, 240, 528]
        assert params.group_widths == [24, 24, 24, 24]
        assert params.bottleneck_multipliers == [1.0] * 4
        assert params.se_ratio is None

    @given(width=WIDTHS)
    def test_scaled_params_are_valid(self, width: float) -> None:
        """Any width keeps 4 stages of depths 1,3,5,7 with widths divisible by their group width."""
        params, stem = regnetx_600m_params(width)
        assert stem % 8 == 0
        assert stem >= 8
        assert params.depths == [1, 3, 5, 7]
        for stage_width, group_width in zip(params.widths, params.group_widths, strict=True):
            assert group_width >= 8
            assert stage_width % group_width == 0
            assert stage_width % 8 == 0
        assert params.widths == sorted(params.widths)
        assert all(w <= full for w, full in zip(params.widths, [48, 96, 240, 528], strict=True))

    @pytest.mark.slow
    @settings(max_examples=8, deadline=None)
    @given(width=WIDTHS)
    def test_scaled_regnet_builds_and_runs(self, width: float) -> None:
        """A RegNet at any width builds and maps a 1x3x32x32 batch to (1, num_classes)."""
        model = create_model("regnetx_600m", num_classes=5, width=width).eval()
        with torch.no_grad():
            assert model(torch.rand(1, 3, 32, 32)).shape == (1, 5)


@pytest.mark.parametrize("width", [0.25, 0.5])
@pytest.mark.parametrize("name", list_models())
class TestNarrowModels:
    def test_forward_gives_logits(self, name: str, width: float) -> None:
        """A narrow model maps a 2x3x64x64 batch to (2, num_classes) finite logits."""
        model = create_model(name, num_classes=7, width=width).eval()
        with torch.no_grad():
            logits = model(torch.rand(2, 3, 64, 64))
        assert logits.shape == (2, 7)
        assert torch.isfinite(logits).all()

    def test_fewer_parameters_than_width_one(self, name: str, width: float) -> None:
        """A narrow model has fewer parameters than the same architecture at width 1."""
        assert _num_params(name, width) < _num_params(name, 1.0)

    def test_config_records_width(self, name: str, width: float) -> None:
        """The config of a narrow model records its width."""
        assert model_config(create_model(name, num_classes=7, width=width))["width"] == width


class TestWidthOrdering:
    @pytest.mark.parametrize("name", list_models())
    def test_parameters_grow_with_width(self, name: str) -> None:
        """Parameter counts grow strictly from width 0.25 to 0.5 to 1."""
        assert _num_params(name, 0.25) < _num_params(name, 0.5) < _num_params(name, 1.0)
