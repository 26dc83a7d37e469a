"""Declaring a function's parameters once for two public functions that take the same ones."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_A = TypeVar("_A")
_R = TypeVar("_R")


def taking_arguments_of(
    arguments: Callable[_P, _A],
) -> Callable[[Callable[[_A], _R]], Callable[_P, _R]]:
    """Decorator: the function takes ``arguments``' parameters; its body gets ``arguments(...)``.

    ``@taking_arguments_of(f)`` over ``def g(a: A) -> R`` makes ``g(*args, **kwargs)`` return
    ``g(f(*args, **kwargs))``; type checkers and :func:`inspect.signature` see ``f``'s
    parameters, so two public functions that take the same arguments declare them once.
    """

    def decorate(body: Callable[[_A], _R]) -> Callable[_P, _R]:
        @functools.wraps(body)
        def function(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            return body(arguments(*args, **kwargs))

        returns = inspect.signature(body).return_annotation
        signature = inspect.signature(arguments).replace(return_annotation=returns)
        setattr(function, "__signature__", signature)  # noqa: B010 - read by inspect.signature
        return function

    return decorate
