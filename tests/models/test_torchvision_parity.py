"""At width 1 every architecture is torchvision's model plus input normalization."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.regnet import BlockParams, RegNet

from robustmq.models import IMAGENET_MEAN, IMAGENET_STD, create_model


def _torchvision_regnetx_600m() -> nn.Module:
    params = BlockParams.from_init_params(depth=16, w_0=48, w_a=36.97, w_m=2.24, group_width=24)
    return RegNet(params, stem_width=32)


TORCHVISION: dict[str, Callable[[], nn.Module]] = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(weights=None),
    "regnetx_600m": _torchvision_regnetx_600m,
}


def _randomize_batchnorm(model: nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert m.running_mean is not None
                assert m.running_var is not None
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
class TestTorchvisionParity:
    def test_torchvision_state_dict_loads_strictly(self, name: str) -> None:
        """A torchvision float state_dict loads with strict=True (same keys and shapes)."""
        torch.manual_seed(0)
        reference = TORCHVISION[name]()
        model = create_model(name)
        model.load_state_dict(reference.state_dict(), strict=True)
        ours = model.state_dict()
        theirs = reference.state_dict()
        assert list(ours) == list(theirs)
        assert all(ours[k].shape == theirs[k].shape for k in theirs)

    def test_outputs_equal_torchvision_on_normalized_input(self, name: str) -> None:
        """ours(x) equals torchvision((x - mean) / std) once the same weights are loaded."""
        torch.manual_seed(0)
        reference = TORCHVISION[name]()
        _randomize_batchnorm(reference)
        model = create_model(name)
        model.load_state_dict(reference.state_dict(), strict=True)
        reference.eval()
        model.eval()
        x = torch.rand(1, 3, 224, 224)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        with torch.no_grad():
            expected = reference((x - mean) / std)
            actual = model(x)
        assert actual.shape == (1, 1000)
        assert expected.abs().max() > 0
        torch.testing.assert_close(actual, expected)
