"""The channel width of a plain state_dict, from its convolution shapes.

Private to :mod:`robustmq.checkpoints`. A plain state_dict records no width; its convolution
weights' shapes do. Candidate widths (steps of 0.01, and eighths) are built roundest first, then
nearest to the median ratio of output channels to the width-1.0 model's; the first whose
convolution shapes are exactly the state_dict's is the width (widths that round to the same
channels build the same model). Shapes do not depend on the number of classes or quantization.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from robustmq.exceptions import CheckpointMismatchError
from robustmq.models import create_model

__all__ = ["conv_shapes", "fits", "infer_width", "plain_width"]

log = logging.getLogger("robustmq.checkpoints")

_TRIES = 40  # candidate widths built at most
#: Widths tried: (0, 1] in steps of 0.01, and the eighths.
_GRID = sorted({i / 100 for i in range(1, 101)} | {i / 8 for i in range(1, 9)})

Shapes = dict[str, tuple[int, ...]]


@functools.lru_cache(maxsize=256)
def _reference(arch: str, width: float) -> tuple[tuple[str, tuple[int, ...]], ...]:
    with torch.random.fork_rng(devices=[]):  # building must not move the caller's RNG
        model = create_model(arch, num_classes=10, width=width)
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items() if v.ndim == 4)


def conv_shapes(arch: str, width: float) -> Shapes:
    """The convolution weight shapes of ``arch`` at ``width`` (key -> shape)."""
    return dict(_reference(arch, float(width)))


def _given(arch: str, state_dict: Mapping[str, Tensor]) -> Shapes | None:
    """The state_dict's shapes for the architecture's convolution keys; None if any is missing."""
    keys = conv_shapes(arch, 1.0)
    if not all(k in state_dict for k in keys):
        return None
    return {k: tuple(state_dict[k].shape) for k in keys}


def fits(arch: str, width: float, state_dict: Mapping[str, Tensor]) -> bool:
    """Whether the state_dict's convolution shapes are those of ``arch`` at ``width``."""
    return _given(arch, state_dict) == conv_shapes(arch, width)


def _roundness(width: float) -> int:
    """0 for multiples of 1/4, 1 of 1/20 or 1/8, 2 otherwise: rounder widths are tried first."""
    if (width * 4).is_integer():
        return 0
    return 1 if (width * 20).is_integer() or (width * 8).is_integer() else 2


def infer_width(arch: str, state_dict: Mapping[str, Tensor]) -> float | None:
    """The width in (0, 1] whose convolution shapes the state_dict has; None if none fits.

    Widths that round to the same channel counts build the same model; the roundest one is
    returned (``0.5`` rather than ``0.52``).
    """
    given = _given(arch, state_dict)
    if given is None:
        return None
    ratios = sorted(given[k][0] / ref[0] for k, ref in conv_shapes(arch, 1.0).items() if ref[0])
    median = ratios[len(ratios) // 2] if ratios else 1.0
    order = sorted(_GRID, key=lambda w: (_roundness(w), abs(w - median)))
    for width in order[:_TRIES]:
        if conv_shapes(arch, width) == given:
            return width
    return None


def plain_width(
    path: Path, arch: str, width: float | None, state_dict: Mapping[str, Tensor]
) -> float:
    """``width`` if the convolution shapes fit it, else the width they fit (or 1.0: none fits)."""
    if width is not None and fits(arch, width, state_dict):
        return float(width)
    inferred = infer_width(arch, state_dict)
    if width is None:
        if inferred is not None and inferred != 1.0:
            log.info("%s: width %s inferred from its convolution shapes", path, inferred)
        return 1.0 if inferred is None else inferred  # none fits: the load error lists the keys
    if inferred is not None:
        first, shape = next(iter(conv_shapes(arch, width).items()))
        raise CheckpointMismatchError(
            f"{path}: width={width!r} was requested but the state_dict's convolution shapes fit "
            f"{arch} at width={inferred} ({first} is {tuple(state_dict[first].shape)}, width "
            f"{width} gives {shape}); pass width={inferred} or leave width= out to infer it"
        )
    return float(width)
