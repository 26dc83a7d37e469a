"""MobileNetV2 with built-in input normalization and a channel-width multiplier."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor
from torchvision.models import mobilenetv2 as tv_mobilenetv2

from robustmq.models._widths import check_stem, first_conv
from robustmq.models.normalize import IMAGENET_MEAN, IMAGENET_STD, NormalizedInputMixin
from robustmq.models.registry import register_model


class MobileNetV2(NormalizedInputMixin, tv_mobilenetv2.MobileNetV2):
    """torchvision's MobileNetV2 (``width_mult=width``) that normalizes its ``[0, 1]`` input first.

    Channels follow torchvision's rounding (multiples of 8, last layer kept at 1280 for
    ``width <= 1``). ``forward(x)`` equals torchvision's ``forward((x - mean) / std)``.
    ``stem="cifar"`` (32 px images) makes the first convolution and the first block of the
    24-channel stage stride 1 (total stride 8 instead of 32), as the common CIFAR MobileNetV2
    (e.g. kuangliu/pytorch-cifar's ``models/mobilenetv2.py``).
    """

    # Untyped torchvision method, declared so that nn.Module.__getattr__ does not hide it.
    _forward_impl: Callable[[Tensor], Tensor]

    def __init__(
        self,
        num_classes: int = 1000,
        width: float = 1.0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        stem: str = "imagenet",
    ) -> None:
        setting = None
        if check_stem(stem) == "cifar":
            # torchvision's default setting (t, c, n, s) with the 24-channel stage at stride 1
            setting = [
                [1, 16, 1, 1],
                [6, 24, 2, 1],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
                [6, 320, 1, 1],
            ]
        super().__init__(
            num_classes=num_classes, width_mult=width, inverted_residual_setting=setting
        )
        if setting is not None:
            first_conv(self.get_submodule("features")).stride = (1, 1)
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
    stem: str = "imagenet",
) -> MobileNetV2:
    """MobileNetV2; ``width == 1`` matches ``torchvision.models.mobilenet_v2``."""
    return MobileNetV2(num_classes, width, mean, std, stem)
