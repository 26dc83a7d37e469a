"""Channel-width scaling shared by the architectures."""

from __future__ import annotations

from torch import nn


def scale_channels(channels: int, width: float, divisor: int = 8) -> int:
    """``channels * width`` rounded to a multiple of ``divisor``; ``width == 1`` is the identity.

    Rounds half up to the nearest multiple of ``divisor``, never below ``divisor`` and never more
    than 10 % below the exact product (torchvision/TF-slim ``_make_divisible``). For ``width < 1``
    the result is therefore always a multiple of ``divisor`` and at least ``divisor``.
    """
    if width == 1.0:
        return channels
    exact = channels * width
    rounded = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * exact:
        rounded += divisor
    return rounded


#: Input stems: ``imagenet`` (torchvision's, for 64-224 px images) or ``cifar`` (stride 1 at the
#: input, for 32 px images; see each architecture).
STEMS = ("imagenet", "cifar")


def check_stem(stem: str) -> str:
    """``stem`` when it is one of :data:`STEMS`; ``ValueError`` naming the choices otherwise."""
    if stem not in STEMS:
        raise ValueError(f"stem={stem!r} is invalid; expected one of {', '.join(STEMS)}")
    return stem


def first_conv(module: nn.Module) -> nn.Conv2d:
    """The first ``nn.Conv2d`` of ``module`` in registration order (a stem's convolution)."""
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d))
