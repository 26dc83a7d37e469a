"""Channel-width scaling shared by the architectures."""

from __future__ import annotations


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
