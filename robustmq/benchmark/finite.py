"""Non-finite numbers in a model: NaN/inf weights (checked once per model) or outputs.

:func:`watch` gives a model its :class:`FiniteWatch`: the weights (parameters and floating-point
buffers) are checked when it is first watched, and a forward hook marks every output that holds
NaN or inf, without synchronizing the device (the check is read once per cell, by
:meth:`FiniteWatch.flags`). The harness puts the flags ``nonfinite_weights`` and
``nonfinite_output`` into the cell's record: a model computing NaN is flagged, never silently
scored at chance.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["NONFINITE_OUTPUT", "NONFINITE_WEIGHTS", "FiniteWatch", "watch"]

NONFINITE_WEIGHTS = "nonfinite_weights"
NONFINITE_OUTPUT = "nonfinite_output"


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _nonfinite(tensors: list[Tensor]) -> Tensor | None:
    """A 0-d bool tensor on the tensors' device: any NaN/inf among them (None: no float tensor)."""
    found: Tensor | None = None
    for t in tensors:
        if not t.is_floating_point() and not t.is_complex():
            continue
        bad = ~torch.isfinite(t.detach()).all()
        found = bad if found is None else found | bad.to(found.device)
    return found


class FiniteWatch:
    """Whether a model's weights are finite, and whether its outputs were since :meth:`reset`."""

    def __init__(self, model: nn.Module) -> None:
        with torch.no_grad():
            weights = _nonfinite([*model.parameters(), *model.buffers()])
        self.weights_finite = weights is None or not bool(weights)
        self._outputs: Tensor | None = None
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: Any) -> None:
        with torch.no_grad():
            bad = _nonfinite(_tensors(output))
            if bad is not None:
                seen = self._outputs
                self._outputs = bad if seen is None else seen | bad.to(seen.device)

    def reset(self) -> None:
        """Forget the outputs seen so far (a new cell starts)."""
        self._outputs = None

    @property
    def outputs_finite(self) -> bool:
        """Whether every output since :meth:`reset` was finite (reads the device once)."""
        return self._outputs is None or not bool(self._outputs)

    def flags(self) -> list[str]:
        """``nonfinite_weights`` and/or ``nonfinite_output`` where they apply."""
        return [
            name
            for name, ok in (
                (NONFINITE_WEIGHTS, self.weights_finite),
                (NONFINITE_OUTPUT, self.outputs_finite),
            )
            if not ok
        ]


_WATCHES: weakref.WeakKeyDictionary[nn.Module, FiniteWatch] = weakref.WeakKeyDictionary()


def watch(model: nn.Module) -> FiniteWatch:
    """``model``'s watch (created, with its weights checked and its hook added, on first call)."""
    found = _WATCHES.get(model)
    if found is None:
        found = _WATCHES[model] = FiniteWatch(model)
    return found
