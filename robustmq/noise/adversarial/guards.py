"""Cheap checks around every attacked batch: the threat model and the model's state hold.

- :func:`check_perturbation`: adversarial images lie in [0, 1] and inside the eps-ball of their
  clean images (L-inf or L2, with a float32 rounding tolerance);
- :class:`ModelGuard`: the model is in eval mode and no quantizer parameter or buffer (nor any other
  buffer, e.g. BatchNorm statistics) changed while it was attacked. It also stops parameters from
  recording gradients during the attack (only the input gradient is needed), and restores them.

A violation raises :class:`AttackGuardError` naming the check, the value and what was expected.
"""

from __future__ import annotations

from types import TracebackType

import torch
from torch import Tensor, nn

from robustmq.exceptions import RobustMQError
from robustmq.quant.base import Quantizer

__all__ = ["NORMS", "AttackGuardError", "ModelGuard", "check_perturbation", "perturbation_norms"]

#: norms an attack may bound its perturbation in.
NORMS = ("linf", "l2")
#: absolute slack for float32 rounding of projections (one ulp of 1.0 is 1.2e-7).
_ABS_TOL = 1e-6
#: relative slack of an L2 projection (norm computed in float32 over many elements).
_REL_TOL = 1e-4


class AttackGuardError(RobustMQError, AssertionError):
    """An attack broke its threat model (eps-ball, pixel range) or changed the model."""


def perturbation_norms(clean: Tensor, adv: Tensor, norm: str) -> Tensor:
    """Per-image size of ``adv - clean`` in ``norm`` (``linf`` or ``l2``), shape ``[N]``."""
    delta = (adv - clean).flatten(1).float()
    if norm == "linf":
        return delta.abs().amax(1) if delta.shape[1] else delta.new_zeros(delta.shape[0])
    if norm == "l2":
        return delta.norm(p=2, dim=1)
    raise AttackGuardError(f"norm={norm!r} ({type(norm).__name__}) is unknown; expected linf or l2")


def check_perturbation(clean: Tensor, adv: Tensor, eps: float, norm: str, attack: str) -> None:
    """Raise unless ``adv`` has ``clean``'s shape, lies in [0, 1] and inside the ``eps``-ball."""
    if adv.shape != clean.shape:
        raise AttackGuardError(
            f"{attack}: adversarial batch has shape {tuple(adv.shape)}; expected the clean "
            f"batch's {tuple(clean.shape)}"
        )
    if adv.numel() == 0:
        return
    low, high = float(adv.min()), float(adv.max())
    if not (low >= 0.0 and high <= 1.0):  # also catches NaN
        raise AttackGuardError(
            f"{attack}: adversarial pixels span [{low:.6g}, {high:.6g}]; expected within [0, 1]"
        )
    sizes = perturbation_norms(clean, adv, norm)
    limit = eps + _ABS_TOL if norm == "linf" else eps * (1 + _REL_TOL) + _ABS_TOL
    worst = float(sizes.max())
    if not worst <= limit:
        raise AttackGuardError(
            f"{attack}: a perturbation has {norm} norm {worst:.8g}; expected at most eps={eps:.8g}"
        )


def _quantizer_state(model: nn.Module) -> dict[str, Tensor]:
    state: dict[str, Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, Quantizer):
            for key, value in module.state_dict(keep_vars=False).items():
                state[f"{name}.{key}"] = value.detach().clone()
    for name, buffer in model.named_buffers():
        state.setdefault(name, buffer.detach().clone())
    return state


class ModelGuard:
    """Context for attacking ``model``: eval mode checked, parameters frozen, state verified.

    ``check()`` may be called after every batch; leaving the context checks once more and
    restores each parameter's ``requires_grad``.
    """

    def __init__(self, model: nn.Module, attack: str) -> None:
        self.model = model
        self.attack = attack
        self._state: dict[str, Tensor] = {}
        self._requires_grad: list[tuple[nn.Parameter, bool]] = []

    def __enter__(self) -> ModelGuard:
        self._check_eval()
        self._state = _quantizer_state(self.model)
        self._requires_grad = [(p, p.requires_grad) for p in self.model.parameters()]
        for p, _ in self._requires_grad:
            p.requires_grad_(False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for p, flag in self._requires_grad:
            p.requires_grad_(flag)
        if exc_type is None:
            self.check()

    def _check_eval(self) -> None:
        training = [name or "<model>" for name, m in self.model.named_modules() if m.training]
        if training:
            raise AttackGuardError(
                f"{self.attack}: the model must be in eval mode during the attack; "
                f"modules in training mode: {', '.join(training[:5])}"
            )

    def check(self) -> None:
        """Raise if the model left eval mode or a quantizer parameter or buffer changed."""
        self._check_eval()
        now = _quantizer_state(self.model)
        changed = sorted(
            k
            for k in self._state.keys() | now.keys()
            if k not in now or k not in self._state or not torch.equal(now[k], self._state[k])
        )
        if changed:
            raise AttackGuardError(
                f"{self.attack}: the attack changed the model's state ({', '.join(changed[:5])}); "
                "expected quantizer parameters and buffers to stay as loaded"
            )
