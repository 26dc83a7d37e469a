"""create_model / list_models / register_model: names, option validation and the config dict."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from robustmq.exceptions import InvalidOptionError, UnknownModelError
from robustmq.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    create_model,
    list_models,
    model_config,
    register_model,
)

ALL_MODELS = ["mobilenet_v2", "regnetx_600m", "resnet18", "resnet50"]


class TestListModels:
    def test_lists_all_architectures_sorted(self) -> None:
        """list_models() returns every registered architecture, sorted."""
        assert list_models() == ALL_MODELS

    def test_pattern_filters_names(self) -> None:
        """A shell-style pattern keeps only the matching names."""
        assert list_models("resnet*") == ["resnet18", "resnet50"]
        assert list_models("*net*") == ["mobilenet_v2", "regnetx_600m", "resnet18", "resnet50"]
        assert list_models("regnet?_600m") == ["regnetx_600m"]

    def test_pattern_without_match_gives_empty_list(self) -> None:
        """A pattern that matches nothing gives an empty list, not an error."""
        assert list_models("vit*") == []


class TestUnknownModel:
    def test_unknown_name_raises_with_suggestion(self) -> None:
        """A misspelt name raises UnknownModelError that suggests the close registered name."""
        with pytest.raises(UnknownModelError) as info:
            create_model("resnet_18")
        assert "resnet18" in info.value.suggestions
        assert "resnet18" in str(info.value)
        assert "resnet_18" in str(info.value)

    def test_unknown_name_lists_available_models(self) -> None:
        """The error message lists every registered architecture."""
        with pytest.raises(UnknownModelError) as info:
            create_model("vgg16")
        for name in ALL_MODELS:
            assert name in str(info.value)
        assert info.value.available == ALL_MODELS

    def test_unknown_name_is_a_key_error(self) -> None:
        """UnknownModelError can be caught as the builtin KeyError."""
        with pytest.raises(KeyError):
            create_model("mobilenet_v3")

    @pytest.mark.parametrize("name", [None, 18, ["resnet18"]])
    def test_non_string_name_raises_unknown_model(self, name: object) -> None:
        """A name that is not a string raises UnknownModelError, not a TypeError."""
        with pytest.raises(UnknownModelError):
            create_model(name)  # type: ignore[arg-type]


class TestCreateModelValidation:
    @pytest.mark.parametrize("value", [1, 0, -3, 2.0, 10.5, "10", True, None])
    def test_invalid_num_classes(self, value: object) -> None:
        """num_classes that is not an int >= 2 raises InvalidOptionError naming it and its type."""
        with pytest.raises(InvalidOptionError) as info:
            create_model("resnet18", num_classes=value)  # type: ignore[arg-type]
        message = str(info.value)
        assert "num_classes" in message
        assert repr(value) in message
        assert type(value).__name__ in message
        assert ">= 2" in message

    @pytest.mark.parametrize(
        "value", [0, 0.0, -0.5, 1.0001, 2, math.nan, math.inf, "0.5", True, None]
    )
    def test_invalid_width(self, value: object) -> None:
        """width outside (0, 1] or not a number raises InvalidOptionError naming the option."""
        with pytest.raises(InvalidOptionError) as info:
            create_model("resnet18", width=value)  # type: ignore[arg-type]
        message = str(info.value)
        assert "width" in message
        assert repr(value) in message
        assert "(0, 1]" in message

    @pytest.mark.parametrize(
        "value",
        [(0.5, 0.5), [0.1, 0.2, 0.3, 0.4], "abc", (math.nan, 0.0, 0.0), (0.5, "a", 0.5), 0.5],
    )
    def test_invalid_mean(self, value: object) -> None:
        """mean that is not 3 finite numbers raises InvalidOptionError naming the option."""
        with pytest.raises(InvalidOptionError) as info:
            create_model("resnet18", mean=value)  # type: ignore[arg-type]
        message = str(info.value)
        assert message.startswith("mean=")
        assert "3 finite" in message

    @pytest.mark.parametrize(
        "value", [(0.0, 1.0, 1.0), (-0.2, 0.2, 0.2), (1.0, 1.0), (math.inf, 1.0, 1.0), "std"]
    )
    def test_invalid_std(self, value: object) -> None:
        """std that is not 3 finite positive numbers raises InvalidOptionError naming the option."""
        with pytest.raises(InvalidOptionError) as info:
            create_model("resnet18", std=value)  # type: ignore[arg-type]
        message = str(info.value)
        assert message.startswith("std=")
        assert "positive" in message

    def test_invalid_option_is_a_value_error(self) -> None:
        """InvalidOptionError can be caught as the builtin ValueError."""
        with pytest.raises(ValueError, match="width"):
            create_model("resnet18", width=0.0)

    def test_smallest_valid_options_are_accepted(self) -> None:
        """num_classes=2, an int width of 1 and a tensor mean/std are valid options."""
        model = create_model(
            "mobilenet_v2",
            num_classes=2,
            width=1,
            mean=torch.tensor([0.5, 0.5, 0.5]),  # type: ignore[arg-type]
            std=torch.tensor([0.25, 0.25, 0.25]),  # type: ignore[arg-type]
        )
        config = model_config(model)
        assert config["num_classes"] == 2
        assert config["width"] == 1.0
        assert isinstance(config["width"], float)
        assert config["mean"] == [0.5, 0.5, 0.5]
        assert config["std"] == [0.25, 0.25, 0.25]


class TestCreateModel:
    def test_config_records_the_options(self) -> None:
        """robustmq_config is a JSON-able dict of the arch and the validated options."""
        model = create_model("resnet18", num_classes=10, width=0.25)
        config = getattr(model, "robustmq_config")  # noqa: B009 - the attribute itself
        assert config == {
            "arch": "resnet18",
            "num_classes": 10,
            "width": 0.25,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        }
        assert json.loads(json.dumps(config)) == config
        assert all(isinstance(v, float) for v in config["mean"] + config["std"])

    def test_none_mean_std_are_imagenet_s(self) -> None:
        """mean=None / std=None (the defaults) mean ImageNet's normalization."""
        model = create_model("resnet18", width=0.25, mean=None, std=None)
        assert model_config(model)["mean"] == list(IMAGENET_MEAN)
        assert model_config(model)["std"] == list(IMAGENET_STD)

    def test_custom_mean_std_are_recorded_as_floats(self) -> None:
        """Integer-valued mean/std are stored as plain float lists."""
        model = create_model("resnet18", width=0.25, mean=(0, 0, 0), std=[1, 1, 1])
        assert model_config(model)["mean"] == [0.0, 0.0, 0.0]
        assert model_config(model)["std"] == [1.0, 1.0, 1.0]
        assert all(type(v) is float for v in model_config(model)["std"])

    @pytest.mark.parametrize("name", ALL_MODELS)
    def test_model_is_fresh_float32_in_train_mode(self, name: str) -> None:
        """Every architecture comes back as a float32 nn.Module in train mode."""
        model = create_model(name, num_classes=3, width=0.25)
        assert isinstance(model, nn.Module)
        assert model.training
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert model_config(model)["arch"] == name

    def test_each_call_builds_a_new_model(self) -> None:
        """Two calls return distinct modules with distinct config dicts."""
        first = create_model("resnet18", width=0.25)
        second = create_model("resnet18", width=0.25)
        assert first is not second
        assert getattr(first, "robustmq_config") is not getattr(second, "robustmq_config")  # noqa: B009


class TestModelConfig:
    def test_returns_an_independent_copy(self) -> None:
        """model_config returns a copy: editing it leaves the model's config unchanged."""
        model = create_model("resnet18", width=0.25)
        config = model_config(model)
        config["bits"] = 4
        config["mean"][0] = 9.0
        assert "bits" not in model_config(model)
        assert model_config(model)["mean"][0] == IMAGENET_MEAN[0]

    def test_model_without_config_raises_attribute_error(self) -> None:
        """A model not built by create_model raises AttributeError naming its class."""
        with pytest.raises(AttributeError, match="Identity"):
            model_config(nn.Identity())


class TestRegisterModel:
    def test_duplicate_name_is_rejected(self) -> None:
        """Registering a name that already exists raises ValueError and keeps the original."""
        with pytest.raises(ValueError, match="resnet18"):
            register_model("resnet18")(lambda **kwargs: nn.Identity())
        assert list_models() == ALL_MODELS
        assert type(create_model("resnet18", width=0.25)).__name__ == "ResNet"

    def test_decorator_returns_the_factory_unchanged(self) -> None:
        """register_model's decorator hands back the very function it registered."""
        from robustmq.models.resnet import resnet18

        assert create_model("resnet18", width=0.25).__class__ is resnet18(width=0.25).__class__
