"""Input normalization buffers: non-persistent, per-model, and applied in forward."""

from __future__ import annotations

import pytest
import torch

from robustmq.models import IMAGENET_MEAN, IMAGENET_STD, create_model, list_models
from robustmq.models.normalize import NormalizedInputMixin, channel_buffer


class TestChannelBuffer:
    def test_shape_and_dtype(self) -> None:
        """channel_buffer gives a float32 (1, 3, 1, 1) tensor of the values."""
        buffer = channel_buffer([1, 2, 3])
        assert buffer.shape == (1, 3, 1, 1)
        assert buffer.dtype == torch.float32
        assert buffer.flatten().tolist() == [1.0, 2.0, 3.0]

    def test_rejects_wrong_length(self) -> None:
        """Anything but 3 values is a ValueError."""
        with pytest.raises(ValueError, match="3 per-channel"):
            channel_buffer([0.5, 0.5])


@pytest.mark.parametrize("name", list_models())
class TestInputNormalization:
    def test_buffers_are_not_in_state_dict(self, name: str) -> None:
        """input_mean/input_std never appear in state_dict."""
        model = create_model(name, width=0.25)
        assert not any("input_mean" in k or "input_std" in k for k in model.state_dict())

    def test_buffers_hold_mean_and_std(self, name: str) -> None:
        """The model owns (1, 3, 1, 1) buffers holding the requested mean and std."""
        model = create_model(name, width=0.25, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
        assert isinstance(model, NormalizedInputMixin)
        buffers = dict(model.named_buffers())
        assert buffers["input_mean"].shape == (1, 3, 1, 1)
        assert buffers["input_std"].shape == (1, 3, 1, 1)
        torch.testing.assert_close(buffers["input_mean"].flatten(), torch.tensor([0.1, 0.2, 0.3]))
        torch.testing.assert_close(buffers["input_std"].flatten(), torch.tensor([0.4, 0.5, 0.6]))

    def test_default_buffers_are_imagenet_statistics(self, name: str) -> None:
        """Without mean/std the buffers hold the ImageNet statistics."""
        buffers = dict(create_model(name, width=0.25).named_buffers())
        assert buffers["input_mean"].flatten().tolist() == pytest.approx(IMAGENET_MEAN)
        assert buffers["input_std"].flatten().tolist() == pytest.approx(IMAGENET_STD)

    def test_changing_mean_changes_output(self, name: str) -> None:
        """The forward pass uses the buffers: another mean gives other logits."""
        torch.manual_seed(0)
        model = create_model(name, num_classes=4, width=0.25).eval()
        x = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            before = model(x)
            dict(model.named_buffers())["input_mean"].fill_(0.0)
            after = model(x)
        assert not torch.allclose(before, after)

    def test_forward_equals_unnormalized_model_on_normalized_input(self, name: str) -> None:
        """With mean 0.5 and std 0.25, model(x) equals the same weights with identity
        normalization applied to (x - 0.5) / 0.25."""
        torch.manual_seed(0)
        model = create_model(name, num_classes=4, width=0.25, mean=(0.5,) * 3, std=(0.25,) * 3)
        plain = create_model(name, num_classes=4, width=0.25, mean=(0.0,) * 3, std=(1.0,) * 3)
        plain.load_state_dict(model.state_dict(), strict=True)
        model.eval()
        plain.eval()
        x = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(model(x), plain((x - 0.5) / 0.25))

    def test_buffers_follow_dtype_conversion(self, name: str) -> None:
        """model.double() converts the buffers too, so float64 inputs work."""
        model = create_model(name, num_classes=4, width=0.25).double().eval()
        assert dict(model.named_buffers())["input_mean"].dtype == torch.float64
        with torch.no_grad():
            assert model(torch.rand(1, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64
