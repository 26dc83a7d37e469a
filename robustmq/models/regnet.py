"""RegNetX-600MF (pycls) with built-in input normalization and a channel-width multiplier."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor
from torchvision.models import regnet as tv_regnet

from robustmq.models._widths import check_stem, first_conv, scale_channels
from robustmq.models.normalize import IMAGENET_MEAN, IMAGENET_STD, NormalizedInputMixin
from robustmq.models.registry import register_model

# pycls RegNetX-600MF: no SE, bottleneck multiplier 1.0, stem width 32.
REGNETX_600M_DEPTH = 16
REGNETX_600M_W0 = 48
REGNETX_600M_WA = 36.97
REGNETX_600M_WM = 2.24
REGNETX_600M_GROUP_WIDTH = 24
REGNETX_600M_STEM_WIDTH = 32


def regnetx_600m_params(width: float = 1.0) -> tuple[tv_regnet.BlockParams, int]:
    """RegNetX-600MF's ``(BlockParams, stem_width)`` with channels scaled by ``width``.

    ``w_0``, ``group_width`` and the stem width become ``scale_channels(c, width)`` (multiples of 8,
    at least 8); ``w_a`` is scaled by the same factor as ``w_0`` so that ``w_a / w_0``, hence the
    stage split (depths 1, 3, 5, 7), is unchanged. torchvision then quantizes the stage widths to
    multiples of 8 and makes them divisible by the group width. ``width == 1`` gives pycls's model:
    stage widths 48, 96, 240, 528 and group width 24.
    """
    w_0 = scale_channels(REGNETX_600M_W0, width)
    params = tv_regnet.BlockParams.from_init_params(
        depth=REGNETX_600M_DEPTH,
        w_0=w_0,
        w_a=REGNETX_600M_WA * w_0 / REGNETX_600M_W0,
        w_m=REGNETX_600M_WM,
        group_width=scale_channels(REGNETX_600M_GROUP_WIDTH, width),
    )
    return params, scale_channels(REGNETX_600M_STEM_WIDTH, width)


class RegNet(NormalizedInputMixin, tv_regnet.RegNet):
    """torchvision's RegNet that normalizes its ``[0, 1]`` input first.

    ``forward(x)`` equals torchvision's ``forward((x - mean) / std)``; the ``state_dict`` is
    torchvision's (the normalization buffers are not persistent). ``stem="cifar"`` (32 px images)
    makes the stem's 3x3 convolution stride 1 (total stride 16 instead of 32), as pycls's CIFAR
    stem (``ResStemCifar``).
    """

    def __init__(
        self,
        block_params: tv_regnet.BlockParams,
        num_classes: int = 1000,
        stem_width: int = 32,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        stem: str = "imagenet",
    ) -> None:
        super().__init__(block_params, num_classes=num_classes, stem_width=stem_width)
        if check_stem(stem) == "cifar":
            first_conv(self.get_submodule("stem")).stride = (1, 1)
        self.init_input_normalization(mean, std)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the ``[0, 1]`` images ``x`` (N, 3, H, W)."""
        out: Tensor = super().forward(self.normalize_input(x))
        return out


@register_model("regnetx_600m")
def regnetx_600m(
    num_classes: int = 1000,
    width: float = 1.0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    stem: str = "imagenet",
) -> RegNet:
    """RegNetX-600MF (pycls: ~0.6 GMACs, ~6.2 M parameters at 224 px, 1000 classes)."""
    params, stem_width = regnetx_600m_params(width)
    return RegNet(params, num_classes, stem_width, mean, std, stem)
