"""MobileNetV2 with built-in input normalization and a channel-width multiplier."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor
from torchvision.models import mobilenetv2 as tv_mobilenetv2

from robustmq.models.normalize import IMAGENET_MEAN, IMAGENET_STD, NormalizedInputMixin
from robustmq.models.registry import register_model


class MobileNetV2(NormalizedInputMixin, tv_mobilenetv2.MobileNetV2):
    """torchvision's MobileNetV2 (``width_mult=width``) that normalizes its ``[0, 1]`` input first.

    Channels follow torchvision's rounding (multiples of 8, last layer kept at 1280 for
    ``width <= 1``). ``forward(x)`` equals torchvision's ``forward((x - mean) / std)``.
    """

    # Untyped torchvision method, declared so that nn.Module.__getattr__ does not hide it.
    _forward_impl: Callable[[Tensor], Tensor]

    def __init__(
        self,
        num_classes: int = 1000,
        width: float = 1.0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__(num_classes=num_classes, width_mult=width)
        self.init_input_normalization(mean, std)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the ``[0, 1]`` images ``x`` (N, 3, H, W)."""
        return self._forward_impl(self.normalize_input(x))


@register_model("mobilenet_v2")
def mobilenet_v2(
    num_classes: int = 1000,
    width: float = 1.0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> MobileNetV2:
    """MobileNetV2; ``width == 1`` matches ``torchvision.models.mobilenet_v2``."""
    return MobileNetV2(num_classes, width, mean, std)
