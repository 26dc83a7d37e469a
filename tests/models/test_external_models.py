"""robustmq.register_model: a model of your own in the architecture registry, checkpoints, grid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import robustmq
from robustmq.cells import GRID_ARCHS, ModelSpec, grid_archs, model_grid
from robustmq.checkpoints import open_checkpoint, save_checkpoint
from robustmq.exceptions import (
    DuplicateNameError,
    InvalidOptionError,
    ModelDefinitionError,
    StateDictKeysError,
    UnknownModelError,
)
from robustmq.models import create_model, external_models, input_size_of, list_models
from robustmq.models.external import InputNormalization, check_output, unregister_model
from robustmq.quant import calibrate, describe_quantization, quantize_model

MEAN = (0.5, 0.4, 0.3)
STD = (0.25, 0.2, 0.3)


class SmallNet(nn.Module):
    """Not one of the four: two convolutions, a pooled linear head."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def other_net(num_classes: int = 10) -> nn.Module:
    """Another factory, for the duplicate-name checks."""
    return SmallNet(num_classes)


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names registered during the test are unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        unregister_model(name)


def _register(names: list[str], name: str, factory: object = SmallNet, **kwargs: object) -> None:
    names.append(name)
    robustmq.register_model(name, factory, **kwargs)  # type: ignore[arg-type]


class TestRegister:
    def test_joins_the_registry_and_the_grid(self, registered: list[str]) -> None:
        """A registered name is listed, creatable, and follows the four in the default grid."""
        _register(registered, "smallnet", input_size=32)
        assert "smallnet" in list_models()
        assert external_models() == ["smallnet"]
        assert grid_archs() == (*GRID_ARCHS, "smallnet")
        assert input_size_of("smallnet") == 32
        assert input_size_of("resnet18") is None
        specs = model_grid()
        assert len(specs) == 5 * 13
        assert [s.id for s in specs[-13:][:2]] == ["smallnet-fp32", "smallnet-dorefa-2bit"]
        assert ModelSpec.parse("smallnet-lsq-8bit") == ModelSpec("smallnet", "lsq", 8)

    def test_unregister_forgets_it(self, registered: list[str]) -> None:
        """After unregister_model the name is unknown again; while registered, a typo gets the
        registry's suggestion."""
        _register(registered, "smallnet")
        with pytest.raises(UnknownModelError, match="Did you mean 'smallnet'"):
            ModelSpec("smallnt")
        unregister_model("smallnet")
        with pytest.raises(UnknownModelError, match="unknown architecture 'smallnet'"):
            ModelSpec("smallnet")
        assert grid_archs() == GRID_ARCHS

    def test_the_same_factory_again_replaces_it(self, registered: list[str]) -> None:
        """Registering the same factory again (a conftest imported twice) replaces the entry."""
        _register(registered, "smallnet", input_size=32)
        _register(registered, "smallnet", input_size=48)
        assert input_size_of("smallnet") == 48
        assert external_models() == ["smallnet"]

    def test_another_factory_or_a_builtin_name_is_refused(self, registered: list[str]) -> None:
        """Another factory under a registered name, or a built-in name: DuplicateNameError."""
        _register(registered, "smallnet")
        with pytest.raises(DuplicateNameError, match="already registered with the factory"):
            robustmq.register_model("smallnet", other_net)
        with pytest.raises(DuplicateNameError, match="'resnet18' is built in"):
            robustmq.register_model("resnet18", SmallNet)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"name": "Small-Net"}, "lower-case letters, digits and underscores"),
            ({"name": "9net"}, "starting with a letter"),
            ({"factory": 3}, "is not callable"),
            ({"input_size": 0}, "input_size=0 (int) is invalid; expected a positive integer"),
            ({"input_size": 32.0}, "input_size=32.0 (float) is invalid"),
            ({"mean": MEAN}, "mean given alone; expected both mean and std"),
            ({"mean": (0.5, 0.5), "std": STD}, "mean=(0.5, 0.5)"),
            ({"mean": MEAN, "std": (1.0, 0.0, 1.0)}, "std=(1.0, 0.0, 1.0)"),
        ],
    )
    def test_bad_arguments_name_what_was_expected(
        self, registered: list[str], kwargs: dict[str, object], message: str
    ) -> None:
        """Each bad argument is an InvalidOptionError naming the value and what was expected."""
        arguments: dict[str, object] = {"name": "smallnet", "factory": SmallNet, **kwargs}
        name, factory = arguments.pop("name"), arguments.pop("factory")
        registered.append(str(name))
        with pytest.raises(InvalidOptionError) as info:
            robustmq.register_model(name, factory, **arguments)  # type: ignore[arg-type]
        assert message in str(info.value)
        assert str(name) not in list_models()


class TestCreate:
    def test_without_normalization_the_module_is_the_factory_s(self, registered: list[str]) -> None:
        """No mean/std: create_model returns the factory's module as it is, with its config."""
        _register(registered, "smallnet", input_size=32)
        model = create_model("smallnet", num_classes=7)
        assert type(model) is SmallNet
        assert model.fc.out_features == 7
        assert getattr(model, "robustmq_config") == {  # noqa: B009
            "arch": "smallnet",
            "num_classes": 7,
            "width": 1.0,
            "mean": None,
            "std": None,
            "input_size": 32,
        }

    def test_normalization_wraps_with_the_bare_module_s_keys(self, registered: list[str]) -> None:
        """mean/std: forward(x) = net((x - mean) / std); state_dict keys are the bare module's."""
        _register(registered, "smallnet", mean=MEAN, std=STD)
        torch.manual_seed(0)
        bare = SmallNet(10).eval()
        model = create_model("smallnet", num_classes=10)
        assert isinstance(model, InputNormalization)
        assert list(model.state_dict()) == list(bare.state_dict())
        model.load_state_dict(bare.state_dict())
        model.eval()
        x = torch.rand(2, 3, 16, 16)
        mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
        torch.testing.assert_close(model(x), bare((x - mean) / std))

    def test_width_stem_and_other_normalization_are_refused(self, registered: list[str]) -> None:
        """width/stem do not apply; a mean other than the registered one is refused."""
        _register(registered, "smallnet", mean=MEAN, std=STD)
        with pytest.raises(InvalidOptionError, match=r"width=0\.25 does not apply"):
            create_model("smallnet", width=0.25)
        with pytest.raises(InvalidOptionError, match="stem='cifar' does not apply"):
            create_model("smallnet", stem="cifar")
        with pytest.raises(InvalidOptionError, match="differs from the normalization registered"):
            create_model("smallnet", mean=(0.1, 0.1, 0.1), std=STD)
        assert create_model("smallnet", mean=MEAN, std=STD) is not None

    def test_quantized_wrapper_keeps_the_first_layer_signed(self, registered: list[str]) -> None:
        """fx traces through the normalization: the first conv's input is signed, its keys stay."""
        _register(registered, "smallnet", mean=MEAN, std=STD)
        q = quantize_model(create_model("smallnet", num_classes=10), "lsq", 8)
        layers = {layer.name: layer.input_signed for layer in describe_quantization(q)}
        assert layers == {"net.conv": True, "net.fc": False}
        assert "conv.weight_quantizer.step" in q.state_dict()


class TestCheckpoints:
    def test_a_pth_of_the_bare_module_loads(self, registered: list[str], tmp_path: Path) -> None:
        """A plain state_dict saved from the bare module opens (weights_only) as the registered
        model, normalization included; width is not inferred."""
        _register(registered, "smallnet", mean=MEAN, std=STD)
        torch.manual_seed(1)
        bare = SmallNet(10)
        torch.save(bare.state_dict(), tmp_path / "smallnet-fp32.pth")
        checkpoint = open_checkpoint(
            tmp_path / "smallnet-fp32.pth", arch="smallnet", num_classes=10
        )
        assert isinstance(checkpoint.model, InputNormalization)
        assert checkpoint.config["width"] == 1.0
        torch.testing.assert_close(checkpoint.model.net.conv.weight, bare.conv.weight)

    def test_a_quantized_checkpoint_round_trips(
        self, registered: list[str], tmp_path: Path
    ) -> None:
        """save_checkpoint of a quantized registered model opens again, config checked."""
        _register(registered, "smallnet", mean=MEAN, std=STD)
        q = quantize_model(create_model("smallnet", num_classes=10), "lsq", 4)
        calibrate(q, [torch.rand(4, 3, 16, 16)])
        path = save_checkpoint(q, tmp_path / "smallnet-lsq-4bit.safetensors")
        opened = open_checkpoint(path, arch="smallnet", quantizer="lsq", bits=4, num_classes=10)
        x = torch.rand(2, 3, 16, 16)
        torch.testing.assert_close(opened.model(x), q.eval()(x))
        assert opened.config["mean"] == list(MEAN)

    def test_a_state_dict_that_does_not_fit_names_the_factory(
        self, registered: list[str], tmp_path: Path
    ) -> None:
        """Another network's state_dict: StateDictKeysError naming the model and its factory."""
        _register(registered, "smallnet")
        torch.save(nn.Linear(3, 3).state_dict(), tmp_path / "smallnet-fp32.pth")
        with pytest.raises(StateDictKeysError) as info:
            open_checkpoint(tmp_path / "smallnet-fp32.pth", arch="smallnet", num_classes=10)
        message = str(info.value)
        assert "does not fit smallnet" in message
        assert "missing 9: conv.weight, conv.bias" in message
        assert "unexpected 2: weight, bias" in message
        assert f"factory {__name__}.SmallNet(num_classes=10)" in message


class TestCheckOutput:
    def test_logits_of_the_right_shape_pass(self) -> None:
        """N x num_classes logits pass; the model's train mode is restored."""
        model = SmallNet(10).train()
        check_output(model, "smallnet", 10, 32)
        assert model.training

    def test_wrong_shape_and_raising_forward_name_the_model(self) -> None:
        """Wrong class count or a forward that raises: ModelDefinitionError naming both sides."""
        with pytest.raises(ModelDefinitionError) as info:
            check_output(SmallNet(7), "smallnet", 10, 32)
        assert str(info.value) == (
            "model 'smallnet': its output for a batch of 2 images of 3 x 32 x 32 is shape (2, 7); "
            "expected logits of shape (2, 10) (N x num_classes)"
        )
        with pytest.raises(ModelDefinitionError, match=r"forward pass on a batch .* raised"):
            check_output(nn.Linear(3, 10), "smallnet", 10, 32)
