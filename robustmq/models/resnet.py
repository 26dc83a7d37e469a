"""ResNet-18/50 with built-in input normalization and a channel-width multiplier."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn
from torchvision.models import resnet as tv_resnet

from robustmq.models._widths import check_stem, scale_channels
from robustmq.models.normalize import IMAGENET_MEAN, IMAGENET_STD, NormalizedInputMixin
from robustmq.models.registry import register_model

Block = type[tv_resnet.BasicBlock] | type[tv_resnet.Bottleneck]

STEM_CHANNELS = 64
STAGE_CHANNELS = (64, 128, 256, 512)


class ResNet(NormalizedInputMixin, tv_resnet.ResNet):
    """torchvision's ResNet whose channel widths are scaled by ``width``; normalizes its input.

    The stem (64) and the stage widths (64, 128, 256, 512) become ``scale_channels(c, width)``;
    Bottleneck blocks keep their 4x expansion. ``stem="cifar"`` replaces the 7x7 stride-2
    convolution and the max-pool (stride 4 together) by one 3x3 stride-1 convolution, for 32 px
    images. With ``width == 1`` and the ImageNet stem the module tree and the
    ``state_dict`` keys and shapes are exactly torchvision's, and ``forward(x)`` equals
    torchvision's ``forward((x - mean) / std)``.
    """

    # Untyped torchvision methods, declared so that nn.Module.__getattr__ does not hide them.
    _make_layer: Callable[..., nn.Sequential]
    _forward_impl: Callable[[Tensor], Tensor]

    def __init__(
        self,
        block: Block,
        layers: Sequence[int],
        num_classes: int = 1000,
        width: float = 1.0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        stem: str = "imagenet",
    ) -> None:
        # Mirrors torchvision.models.ResNet.__init__ (groups=1, width_per_group=64, no dilation),
        # with scaled widths; torchvision's own __init__ hard-codes 64/128/256/512.
        nn.Module.__init__(self)
        self.init_input_normalization(mean, std)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = scale_channels(STEM_CHANNELS, width)
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        cifar = check_stem(stem) == "cifar"
        # the CIFAR ResNets' stem (He et al. 2016, sec. 4.2): one 3x3 convolution, stride 1
        self.conv1 = (
            nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
            if cifar
            else nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        )
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = (
            nn.Identity() if cifar else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        )
        planes = [scale_channels(c, width) for c in STAGE_CHANNELS]
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the ``[0, 1]`` images ``x`` (N, 3, H, W)."""
        return self._forward_impl(self.normalize_input(x))


@register_model("resnet18")
def resnet18(
    num_classes: int = 1000,
    width: float = 1.0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    stem: str = "imagenet",
) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]); ``width == 1`` matches ``torchvision.resnet18``."""
    return ResNet(tv_resnet.BasicBlock, [2, 2, 2, 2], num_classes, width, mean, std, stem)


@register_model("resnet50")
def resnet50(
    num_classes: int = 1000,
    width: float = 1.0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    stem: str = "imagenet",
) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]); ``width == 1`` matches ``torchvision.resnet50``."""
    return ResNet(tv_resnet.Bottleneck, [3, 4, 6, 3], num_classes, width, mean, std, stem)
