"""Image-classifier architectures: build them by name with :func:`create_model`.

Every model takes float images in ``[0, 1]`` (NCHW), normalizes them with its own non-persistent
``input_mean``/``input_std`` buffers, returns logits, and is ``torch.fx.symbolic_trace``-able.
At ``width == 1`` its ``state_dict`` is interchangeable with the torchvision model's.
Models of your own join them with :func:`robustmq.register_model` (:mod:`.external`).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from robustmq.exceptions import InvalidOptionError
from robustmq.models import mobilenet, regnet, resnet  # noqa: F401 - registers the architectures
from robustmq.models._widths import STEMS
from robustmq.models.external import ExternalModel, external_model, external_models, input_size_of
from robustmq.models.normalize import IMAGENET_MEAN, IMAGENET_STD, NormalizedInputMixin
from robustmq.models.registry import MODELS, register_model

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MODELS",
    "STEMS",
    "ExternalModel",
    "NormalizedInputMixin",
    "create_model",
    "external_model",
    "external_models",
    "input_size_of",
    "list_models",
    "model_config",
    "register_model",
]


def list_models(pattern: str = "*") -> list[str]:
    """Sorted names of the registered architectures matching the shell-style ``pattern``."""
    return MODELS.names(pattern)


def create_model(
    name: str,
    num_classes: int = 1000,
    width: float = 1.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    stem: str = "imagenet",
) -> nn.Module:
    """A freshly initialised float model ``name`` (train mode, CPU, float32).

    ``mean`` / ``std`` default to ImageNet's (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`). A model
    registered with :func:`robustmq.register_model` is built by its factory: ``width`` and
    ``stem`` do not apply to it (only their defaults are accepted) and ``mean`` / ``std``, when
    given, must be the registered ones; its factory's errors are
    :class:`~robustmq.exceptions.ModelDefinitionError` naming the model.

    Raises :class:`~robustmq.exceptions.UnknownModelError` (listing the names and suggesting close
    ones) for an unknown ``name``, and :class:`~robustmq.exceptions.InvalidOptionError` when
    ``num_classes`` is not an int >= 2, ``width`` is not a number in ``(0, 1]``, or ``mean``/``std``
    are not 3 finite numbers (``std`` > 0), or ``stem`` is not one of :data:`STEMS`
    (``"imagenet"``: torchvision's stems; ``"cifar"``: stride 1 at the input, for 32 px images).
    The model carries ``model.robustmq_config``, a JSON-able dict ``{"arch", "num_classes",
    "width", "mean", "std"}`` of the options it was built with (plus ``"stem"`` when it is not
    the ImageNet one).
    """
    factory = MODELS.get(name)
    num_classes = _check_num_classes(num_classes)
    if isinstance(factory, ExternalModel):
        return _create_external(factory, num_classes, width, mean, std, stem)
    width = _check_width(width)
    mean_values = _check_channels("mean", IMAGENET_MEAN if mean is None else mean, positive=False)
    std_values = _check_channels("std", IMAGENET_STD if std is None else std, positive=True)
    if stem not in STEMS:
        raise _invalid("stem", stem, f"one of {', '.join(STEMS)}")
    extra: dict[str, Any] = {} if stem == "imagenet" else {"stem": stem}
    model = factory(num_classes=num_classes, width=width, mean=mean_values, std=std_values, **extra)
    config: dict[str, Any] = {
        "arch": name,
        "num_classes": num_classes,
        "width": width,
        "mean": mean_values,
        "std": std_values,
        **extra,
    }
    setattr(model, "robustmq_config", config)  # noqa: B010 - nn.Module has no such attribute
    return model


def _create_external(
    entry: ExternalModel,
    num_classes: int,
    width: float,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    stem: str,
) -> nn.Module:
    """A registered model: its factory's module (wrapped with its normalization, if any)."""
    name = entry.name
    if _check_width(width) != 1.0 or stem != "imagenet":
        option, value = ("width", width) if width != 1.0 else ("stem", stem)
        raise InvalidOptionError(
            f"{option}={value!r} does not apply to the registered model {name!r} (its factory "
            f"{entry.source} takes num_classes only); expected the default"
        )
    for option, given, registered, positive in (
        ("mean", mean, entry.mean, False),
        ("std", std, entry.std, True),
    ):
        values = None if given is None else _check_channels(option, given, positive)
        if values is not None and values != (None if registered is None else list(registered)):
            raise InvalidOptionError(
                f"{option}={values!r} differs from the normalization registered for {name!r} "
                f"({option}={None if registered is None else list(registered)!r}); expected the "
                "registered one (or none given)"
            )
    model = entry.build(num_classes)
    config: dict[str, Any] = {
        "arch": name,
        "num_classes": num_classes,
        "width": 1.0,
        "mean": None if entry.mean is None else list(entry.mean),
        "std": None if entry.std is None else list(entry.std),
    }
    if entry.input_size is not None:
        config["input_size"] = entry.input_size
    setattr(model, "robustmq_config", config)  # noqa: B010 - nn.Module has no such attribute
    return model


def model_config(model: nn.Module) -> dict[str, Any]:
    """A copy of ``model.robustmq_config`` (typed, unlike the attribute on ``nn.Module``).

    Raises ``AttributeError`` naming the class when ``model`` was not built by
    :func:`create_model` (or carries no such dict).
    """
    config = model.__dict__.get("robustmq_config")
    if not isinstance(config, dict):
        raise AttributeError(
            f"{type(model).__name__} has no robustmq_config dict; "
            "build the model with robustmq.models.create_model"
        )
    return copy.deepcopy(config)


def _invalid(option: str, value: object, expected: str) -> InvalidOptionError:
    return InvalidOptionError(
        f"{option}={value!r} ({type(value).__name__}) is invalid; expected {expected}"
    )


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_num_classes(value: object) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or int(value) < 2:
        raise _invalid("num_classes", value, "an integer >= 2")
    return int(value)


def _check_width(value: object) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0 < float(value) <= 1:
        raise _invalid("width", value, "a float in (0, 1]")
    return float(value)


def _check_channels(option: str, value: object, positive: bool) -> list[float]:
    expected = "3 finite " + ("positive floats" if positive else "floats") + " (R, G, B)"
    items: object = value.tolist() if isinstance(value, torch.Tensor) else value
    if (
        isinstance(items, (str, bytes))
        or not isinstance(items, Sequence)
        or len(items) != 3
        or not all(_is_real(v) and math.isfinite(v) for v in items)
    ):
        raise _invalid(option, value, expected)
    floats = [float(v) for v in items]
    if positive and not all(v > 0 for v in floats):
        raise _invalid(option, value, expected)
    return floats
