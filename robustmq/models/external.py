"""Models registered from outside the package: :func:`register_model` (``robustmq.register_model``).

A registered model is a factory ``factory(num_classes=...) -> nn.Module`` with, optionally, the
input size it expects and the normalization it needs. It lives in the architecture registry next to
the built-in four (:data:`~robustmq.models.MODELS`, as an :class:`ExternalModel` entry), so
:func:`~robustmq.models.create_model`, :func:`~robustmq.models.list_models`, checkpoints and the
benchmark's grid take it by name like ``resnet18``; ``width`` and ``stem`` mean nothing for it.

Inputs are always float images in ``[0, 1]``. A model registered with ``mean`` and ``std`` is
wrapped in :class:`InputNormalization` (``forward(x) = net((x - mean) / std)``, the buffers not
persistent, the state_dict keys those of the bare module), so a ``.pth`` saved from the bare
module loads as it is and every noise and attack still works on pixels; without them the model
receives the ``[0, 1]`` images as they are.

Every problem is a typed error naming the model and what was expected: a factory that raises or
returns something other than an ``nn.Module`` (:class:`~robustmq.exceptions.ModelDefinitionError`
from :func:`create_model`), logits that are not ``N x num_classes`` (:func:`check_output`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robustmq.exceptions import DuplicateNameError, InvalidOptionError, ModelDefinitionError
from robustmq.models.normalize import NormalizedInputMixin
from robustmq.models.registry import MODELS

__all__ = [
    "ExternalModel",
    "InputNormalization",
    "check_output",
    "external_model",
    "external_models",
    "input_size_of",
    "register_model",
    "unregister_model",
]

#: A registered name: what cell ids (``<arch>-fp32``), ``-k`` and file names can carry.
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: Images in the batch :func:`check_output` runs.
PROBE_BATCH = 2

#: Registered names in registration order (the grid's order after the built-in four).
_ORDER: list[str] = []


def _describe(factory: Callable[..., Any]) -> str:
    module = getattr(factory, "__module__", None)
    name = getattr(factory, "__qualname__", None) or type(factory).__name__
    return f"{module}.{name}" if module else name


@dataclass(frozen=True, eq=False)
class ExternalModel:
    """A model registered with :func:`register_model`: its factory, input size and normalization.

    ``input_size`` is the square crop it expects (None: the profile's); ``mean`` and ``std`` (both
    or neither) the per-channel normalization it is wrapped with (None: none).
    """

    name: str
    factory: Callable[..., nn.Module]
    input_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    @property
    def source(self) -> str:
        """The factory's dotted name, for messages."""
        return _describe(self.factory)

    def build(self, num_classes: int) -> nn.Module:
        """``factory(num_classes=...)``, checked to be an ``nn.Module`` and wrapped with the
        normalization when one was registered (ModelDefinitionError naming the model otherwise)."""
        call = f"{self.source}(num_classes={num_classes})"
        try:
            module = self.factory(num_classes=num_classes)
        except Exception as exc:
            raise ModelDefinitionError(
                f"model {self.name!r}: its factory {call} raised {type(exc).__name__}: {exc}; "
                "expected it to return a torch.nn.Module"
            ) from exc
        if not isinstance(module, nn.Module):
            raise ModelDefinitionError(
                f"model {self.name!r}: its factory {call} returned {type(module).__name__} "
                f"({str(module)[:60]!r}); expected a torch.nn.Module"
            )
        if self.mean is not None and self.std is not None:
            module = InputNormalization(module, self.mean, self.std)
        return module

    def __call__(self, num_classes: int = 1000, **unused: Any) -> nn.Module:
        """:meth:`build` (the registry's factory call shape; other keywords are ignored)."""
        return self.build(num_classes)


def _strip_net(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any
) -> None:
    """State-dict hook: ``<prefix>net.<key>`` becomes ``<prefix><key>`` (the bare module's keys)."""
    inner = prefix + "net."
    for key in [k for k in state_dict if k.startswith(inner)]:
        state_dict[prefix + key[len(inner) :]] = state_dict.pop(key)


def _add_net(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load pre-hook: ``<prefix><key>`` becomes ``<prefix>net.<key>`` (the wrapped module's)."""
    inner = prefix + "net."
    for key in [k for k in state_dict if k.startswith(prefix) and not k.startswith(inner)]:
        state_dict[inner + key[len(prefix) :]] = state_dict.pop(key)


class InputNormalization(NormalizedInputMixin):
    """``net`` behind an input normalization: ``forward(x) = net((x - mean) / std)``.

    The ``(1, 3, 1, 1)`` buffers are not persistent and ``state_dict()`` / ``load_state_dict()``
    use ``net``'s own keys (no ``net.`` prefix), so a state_dict of the bare module loads and the
    checkpoints it writes hold the bare module's keys. fx-traceable when ``net`` is.
    """

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.net = net
        self.init_input_normalization(mean, std)
        self._register_state_dict_hook(_strip_net)
        self._register_load_state_dict_pre_hook(_add_net, with_module=True)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of the ``[0, 1]`` images ``x`` (N, 3, H, W)."""
        out: Tensor = self.net(self.normalize_input(x))
        return out


def _channels(option: str, name: str, value: object, positive: bool) -> tuple[float, float, float]:
    from robustmq.models import _check_channels  # the package imports this module first

    try:
        a, b, c = _check_channels(option, value, positive)
    except InvalidOptionError as exc:
        raise InvalidOptionError(f"register_model({name!r}): {exc}, or None") from exc
    return a, b, c


def register_model(
    name: str,
    factory: Callable[..., nn.Module],
    *,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> ExternalModel:
    """Register ``factory`` (``factory(num_classes=...) -> nn.Module``) as architecture ``name``.

    ``input_size``: the square crop the model expects (the benchmark's pipeline keeps the
    profile's resize ratio and delivers that size); None: the profile's crop. ``mean`` / ``std``:
    wrap the model with that normalization of its ``[0, 1]`` input (give both or neither); None:
    the model takes ``[0, 1]`` images as they are. The model then joins the benchmark's grid like
    the built-in four. Registering a name again with the same factory (a conftest imported once
    more) replaces the entry; another factory under a registered name, or a built-in name, is a
    :class:`~robustmq.exceptions.DuplicateNameError`. Returns the registry's entry.
    """
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidOptionError(
            f"register_model: name={name!r} ({type(name).__name__}) is invalid; expected "
            "lower-case letters, digits and underscores, starting with a letter (it becomes cell "
            "ids such as <name>-fp32 and <name>-lsq-4bit)"
        )
    if not callable(factory):
        raise InvalidOptionError(
            f"register_model({name!r}): factory={factory!r} ({type(factory).__name__}) is not "
            "callable; expected a callable factory(num_classes=...) returning a torch.nn.Module"
        )
    if input_size is not None and (
        isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1
    ):
        raise InvalidOptionError(
            f"register_model({name!r}): input_size={input_size!r} ({type(input_size).__name__}) "
            "is invalid; expected a positive integer (the square crop in pixels), or None"
        )
    if (mean is None) != (std is None):
        given = "mean" if mean is not None else "std"
        raise InvalidOptionError(
            f"register_model({name!r}): {given} given alone; expected both mean and std (the "
            "model is wrapped with that normalization) or neither (it takes [0, 1] images)"
        )
    entry = ExternalModel(
        name,
        factory,
        input_size,
        None if mean is None else _channels("mean", name, mean, positive=False),
        None if std is None else _channels("std", name, std, positive=True),
    )
    if name in MODELS:
        old = MODELS.get(name)
        if not isinstance(old, ExternalModel):
            raise DuplicateNameError(
                f"architecture {name!r} is built in; register your model under another name"
            )
        if old.source != entry.source:
            raise DuplicateNameError(
                f"architecture {name!r} is already registered with the factory {old.source}; "
                f"expected another name for {entry.source}"
            )
        MODELS.unregister(name)
    MODELS.register(name)(entry)
    if name not in _ORDER:
        _ORDER.append(name)
    return entry


def unregister_model(name: str) -> None:
    """Forget the registered model ``name`` (built-in architectures stay; unknown: nothing)."""
    if name in MODELS and isinstance(MODELS.get(name), ExternalModel):
        MODELS.unregister(name)
    if name in _ORDER:
        _ORDER.remove(name)


def external_model(name: str) -> ExternalModel | None:
    """The entry of the registered model ``name``; None for a built-in or unknown name."""
    if name not in MODELS:
        return None
    entry = MODELS.get(name)
    return entry if isinstance(entry, ExternalModel) else None


def external_models() -> list[str]:
    """The registered (not built-in) models, in registration order."""
    return [name for name in _ORDER if external_model(name) is not None]


def input_size_of(name: str) -> int | None:
    """The input size registered for ``name`` (None: a built-in, or registered without one)."""
    entry = external_model(name)
    return None if entry is None else entry.input_size


def check_output(model: nn.Module, name: str, num_classes: int, input_size: int) -> None:
    """Run ``model`` (eval mode, no gradients) on a batch of blank ``input_size`` images and check
    that it returns ``N x num_classes`` logits (ModelDefinitionError naming ``name`` otherwise)."""
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    shape = f"{PROBE_BATCH} images of 3 x {input_size} x {input_size}"
    expected = f"logits of shape ({PROBE_BATCH}, {num_classes}) (N x num_classes)"
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(PROBE_BATCH, 3, input_size, input_size, device=device))
    except Exception as exc:
        raise ModelDefinitionError(
            f"model {name!r}: its forward pass on a batch of {shape} raised "
            f"{type(exc).__name__}: {exc}; expected {expected}"
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, Tensor) or tuple(out.shape) != (PROBE_BATCH, num_classes):
        got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
        raise ModelDefinitionError(
            f"model {name!r}: its output for a batch of {shape} is {got}; expected {expected}"
        )
