"""Gradient-masking diagnostics (AutoAttack's checks, Bernhard et al. 2019 for quantized nets).

Flags (all prefixed ``masking:``), raised when:

- ``masking:zero_grad``: some samples have an input gradient of the loss that is exactly zero at
  the clean point (gradient attacks cannot move them);
- ``masking:square_beats_whitebox``: AutoAttack's gradient-free Square fooled points that
  APGD-CE, APGD-T and FAB-T all missed;
- ``masking:transfer_beats_whitebox``: PGD examples crafted on the float model of the same
  architecture fool the quantized model on more points than its own white-box PGD;
- ``masking:sanity_not_zero``: the unbounded sanity cell (PGD L-inf, eps 64/255) leaves robust
  accuracy above :data:`SANITY_MAX_ACCURACY`;
- ``masking:budget_nonmonotonic`` (per model, in the summary): robust accuracy of an attack rises
  as its budget grows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "BUDGET_NONMONOTONIC",
    "SANITY_MAX_ACCURACY",
    "SANITY_NOT_ZERO",
    "SQUARE_BEATS_WHITEBOX",
    "TRANSFER_BEATS_WHITEBOX",
    "ZERO_GRAD",
    "ZERO_GRAD_MAX_FRACTION",
    "budget_nonmonotonic",
    "cell_flags",
    "is_masking_flag",
    "zero_gradient_mask",
]

ZERO_GRAD = "masking:zero_grad"
SQUARE_BEATS_WHITEBOX = "masking:square_beats_whitebox"
TRANSFER_BEATS_WHITEBOX = "masking:transfer_beats_whitebox"
SANITY_NOT_ZERO = "masking:sanity_not_zero"
BUDGET_NONMONOTONIC = "masking:budget_nonmonotonic"

#: ``masking:zero_grad`` fires when the zero-gradient fraction exceeds this (AutoAttack: any).
ZERO_GRAD_MAX_FRACTION = 0.0
#: ``masking:sanity_not_zero`` fires when the sanity cell's robust accuracy exceeds this.
SANITY_MAX_ACCURACY = 0.05


def is_masking_flag(flag: str) -> bool:
    """True for the flags of this module (``masking:...``)."""
    return flag.startswith("masking:")


def zero_gradient_mask(
    model: nn.Module, images: Tensor, labels: Tensor, batch_size: int, device: torch.device
) -> Tensor:
    """Per sample (bool ``[N]``, CPU): the input gradient of its cross-entropy is exactly zero.

    Each sample's gradient is its own (summed loss, model in eval mode). Parameters do not record
    gradients during the call; their ``requires_grad`` is restored.
    """
    saved = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        parts = []
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device).requires_grad_(True)
            y = labels[start : start + batch_size].to(device)
            with torch.enable_grad():
                loss = F.cross_entropy(model(x), y, reduction="sum")
                (grad,) = torch.autograd.grad(loss, x)
            parts.append((grad.flatten(1) == 0).all(1).cpu())
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)
    return torch.cat(parts) if parts else torch.empty(0, dtype=torch.bool)


def budget_nonmonotonic(points: Iterable[tuple[float, float]]) -> bool:
    """True when robust accuracy rises with the budget: ``points`` are ``(eps, accuracy)``."""
    ordered = sorted(points)
    return any(b[1] > a[1] for a, b in itertools.pairwise(ordered) if b[0] > a[0])


def cell_flags(
    *,
    zero_grad_fraction: float,
    square_only: int | None = None,
    sanity_accuracy: float | None = None,
    transfer_correct: int | None = None,
    whitebox_correct: int | None = None,
) -> list[str]:
    """The masking flags of one cell from its diagnostics (None: that check does not apply).

    ``square_only``: points only Square fooled (AutoAttack cells); ``sanity_accuracy``: robust
    accuracy of the sanity cell; ``transfer_correct`` / ``whitebox_correct``: points still
    correct under transferred / white-box PGD (PGD L-inf cells of quantized models).
    """
    flags = []
    if zero_grad_fraction > ZERO_GRAD_MAX_FRACTION:
        flags.append(ZERO_GRAD)
    if square_only is not None and square_only > 0:
        flags.append(SQUARE_BEATS_WHITEBOX)
    transfer = transfer_correct is not None and whitebox_correct is not None
    if transfer and transfer_correct < whitebox_correct:  # type: ignore[operator]
        flags.append(TRANSFER_BEATS_WHITEBOX)
    if sanity_accuracy is not None and sanity_accuracy > SANITY_MAX_ACCURACY:
        flags.append(SANITY_NOT_ZERO)
    return flags
