"""The CIFAR stem (``stem="cifar"``): stride 1 at the input for 32 px images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from robustmq.checkpoints import open_checkpoint, save_checkpoint
from robustmq.exceptions import InvalidOptionError
from robustmq.models import create_model, list_models

#: Spatial size of the last feature map for a 32 px input: total stride 8 (ResNet, MobileNetV2)
#: or 16 (RegNetX) with the CIFAR stem, 32 with torchvision's.
CIFAR_FEATURES = {"resnet18": 4, "resnet50": 4, "mobilenet_v2": 4, "regnetx_600m": 2}


def _last_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of the last convolution run on ``x``."""
    seen: list[torch.Tensor] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, out: seen.append(out))
        for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    model.eval()(x)
    for handle in handles:
        handle.remove()
    return seen[-1]


@pytest.mark.parametrize("arch", sorted(CIFAR_FEATURES))
def test_cifar_stem_keeps_32_px_images_spatial(arch: str) -> None:
    x = torch.rand(2, 3, 32, 32)
    cifar = create_model(arch, 10, 0.25, stem="cifar")
    plain = create_model(arch, 10, 0.25)
    side = CIFAR_FEATURES[arch]
    assert _last_features(cifar, x).shape[-2:] == (side, side)
    assert _last_features(plain, x).shape[-2:] == (1, 1)
    assert cifar(x).shape == (2, 10)
    assert cifar.robustmq_config["stem"] == "cifar"
    assert "stem" not in plain.robustmq_config  # configs of older checkpoints stay as they were


def test_the_stems_cover_every_architecture() -> None:
    assert sorted(CIFAR_FEATURES) == list_models()


@pytest.mark.parametrize("arch", sorted(CIFAR_FEATURES))
def test_the_imagenet_stem_is_the_default_and_unchanged(arch: str) -> None:
    torch.manual_seed(0)
    a = create_model(arch, 10, 0.25)
    torch.manual_seed(0)
    b = create_model(arch, 10, 0.25, stem="imagenet")
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_an_unknown_stem_is_refused_by_name() -> None:
    with pytest.raises(InvalidOptionError, match=r"stem='tiny'.*imagenet, cifar"):
        create_model("resnet18", 10, 0.25, stem="tiny")


def test_a_cifar_stem_checkpoint_reopens_with_its_stem(tmp_path: Path) -> None:
    model = create_model("resnet18", 10, 0.25, stem="cifar").eval()
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    opened = open_checkpoint(path, arch="resnet18")
    assert opened.config["stem"] == "cifar"
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(opened.model(x), model(x))
