"""Input normalization baked into every model: inputs are float images in ``[0, 1]``, NCHW."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel (RGB) mean of ImageNet images in ``[0, 1]``."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel (RGB) standard deviation of ImageNet images in ``[0, 1]``."""


def channel_buffer(values: Sequence[float]) -> Tensor:
    """A float32 tensor of shape ``(1, 3, 1, 1)`` holding the three per-channel ``values``."""
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float32)
    if tensor.numel() != 3:
        raise ValueError(f"expected 3 per-channel values, got {len(tensor)}")
    return tensor.view(1, 3, 1, 1)


class NormalizedInputMixin(nn.Module):
    """Gives a model the buffers ``input_mean``/``input_std`` and :meth:`normalize_input`.

    The buffers are non-persistent: they follow ``.to()``/``.cuda()``/``.double()`` but never
    appear in ``state_dict()``, so state dicts stay interchangeable with torchvision's. Call
    :meth:`init_input_normalization` once in ``__init__`` and :meth:`normalize_input` first thing
    in ``forward``. The mixin defines no ``__init__`` of its own.
    """

    input_mean: Tensor
    input_std: Tensor

    def init_input_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Register the non-persistent ``(1, 3, 1, 1)`` buffers ``input_mean`` and ``input_std``."""
        self.register_buffer("input_mean", channel_buffer(mean), persistent=False)
        self.register_buffer("input_std", channel_buffer(std), persistent=False)

    def normalize_input(self, x: Tensor) -> Tensor:
        """``(x - input_mean) / input_std``, broadcast over N, H and W (fx-traceable)."""
        return (x - self.input_mean) / self.input_std
