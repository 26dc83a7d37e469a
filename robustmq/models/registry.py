"""The architecture registry: ``name -> factory(num_classes=..., width=..., mean=..., std=...)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from robustmq.exceptions import UnknownModelError
from robustmq.registry import Registry

ModelFactory = Callable[..., nn.Module]
"""A callable ``(num_classes=..., width=..., mean=..., std=...) -> nn.Module``."""

MODELS: Registry[ModelFactory] = Registry[ModelFactory]("architecture", UnknownModelError)
"""Every registered architecture; unknown names raise :class:`UnknownModelError`."""

F = TypeVar("F", bound=ModelFactory)


def register_model(name: str) -> Callable[[F], F]:
    """Decorator registering an architecture factory under ``name``; duplicates are an error.

    A factory takes the keyword arguments ``num_classes``, ``width``, ``mean`` and ``std`` (already
    validated by :func:`robustmq.models.create_model`) and returns a float ``nn.Module`` in train
    mode that maps ``[0, 1]`` NCHW images to logits. The factory is returned unchanged.
    """
    register = MODELS.register(name)

    def decorator(factory: F) -> F:
        register(factory)
        return factory

    return decorator
