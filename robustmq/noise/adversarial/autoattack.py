"""AutoAttack, "standard" version (Croce & Hein 2020, arXiv 2003.01690), from the authors' code.

The components are the authors' own, from PyPI ``pyautoattack`` 0.2.0 (import ``pyautoattack``,
pinned in pyproject.toml: another version may give other numbers), configured as
``pyautoattack.AutoAttack(model, norm="Linf", eps=eps, version="standard")`` configures them.
That class builds them in ``__init__`` (``pyautoattack/autoattack.py`` lines 46-58), then
``_set_version("standard")`` overrides some numbers (lines 301-315), and the run loop sets FAB's
targeted mode (lines 204-209):

1. APGD-CE, ``autopgd_base.APGDAttack`` with loss ``ce``: ``n_iter=100``, ``n_restarts=1``
   (5 in ``__init__``, 1 after ``_set_version``), ``rho=0.75``, ``eot_iter=1``;
2. APGD-T, ``autopgd_base.APGDAttack_targeted`` (targeted DLR loss): ``n_iter=100``,
   ``n_restarts=1``, ``rho=0.75``, ``eot_iter=1``, ``n_target_classes=9`` (``_set_version``);
3. FAB-T, ``fab_pt.FABAttack_PT`` with ``targeted=True``: ``n_iter=100``, ``n_restarts=1`` (5 in
   ``__init__``, 1 after ``_set_version``), ``n_target_classes=9``, and ``alpha_max=0.1``,
   ``eta=1.05``, ``beta=0.9`` (``FABAttack_PT``'s defaults, which AutoAttack keeps);
4. Square, ``square.SquareAttack``: ``n_queries=5000``, ``n_restarts=1``, ``p_init=0.8``,
   ``loss="margin"`` (its default), ``resc_schedule=False``.

Each component runs only on the points still robust after the previous ones, and a point keeps
the first adversarial example that fooled it (the per-point worst case), as in
``AutoAttack.run_standard_evaluation``. Differences from that method: each component gets its own
seed, drawn from torch's global RNG (which the caller seeds per cell, see :mod:`.seeding`; the
official class gives all four one seed, the current time when none is set), and runs with the
global RNGs forked, so that its ``torch.manual_seed`` does not leak into later draws; the targeted
components use ``min(9, num_classes - 1)`` target classes (the official ones index the
``n_target_classes + 1``-th largest logit, past the classes with fewer than 10); the official
checks (randomized or dynamic defence, probabilities instead of logits) are not run (the guards
and :mod:`.masking` cover the threat model and Square's success). At least 4 classes are needed
(the targeted DLR loss reads the 4 largest logits).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyautoattack
import torch
from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
from pyautoattack.fab_pt import FABAttack_PT
from pyautoattack.square import SquareAttack
from torch import Tensor, nn

from robustmq.exceptions import InvalidOptionError
from robustmq.noise.adversarial.base import Attack, AttackOutput
from robustmq.noise.adversarial.guards import check_perturbation

__all__ = [
    "COMPONENTS",
    "IMPLEMENTATION",
    "AutoAttackLinf",
    "Component",
    "compose",
    "model_device",
]

#: the AutoAttack code the components come from (recorded in the cell's parameters).
IMPLEMENTATION = f"pyautoattack {pyautoattack.__version__}"

#: ``component(images, labels) -> adversarial images`` (same shape).
Component = Callable[[Tensor, Tensor], Tensor]

#: APGD's diagnostics (e.g. points with a zero gradient) go here, not to ``warnings``.
_LOG = logging.getLogger(__name__)

#: the component names, in the order they run (the keys of ``stats`` besides ``clean_wrong``).
COMPONENTS = ("apgd_ce", "apgd_t", "fab_t", "square")


@torch.no_grad()
def _fooled(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
    return model(images).argmax(1) != labels


def compose(
    model: nn.Module,
    components: Sequence[tuple[str, Component]],
    images: Tensor,
    labels: Tensor,
    eps: float,
    norm: str,
) -> AttackOutput:
    """Run ``components`` in order, each on the points no earlier one fooled (worst case).

    A point's result is the first adversarial example (within the eps-ball) that the model
    misclassifies; points that stay robust keep their clean image. ``stats[name]`` counts the
    points each component fooled first; ``stats["clean_wrong"]`` the points wrong to begin with.
    """
    adv = images.clone()
    robust = ~_fooled(model, images, labels)
    stats = {"clean_wrong": int((~robust).sum())}
    for name, component in components:
        index = robust.nonzero().flatten()
        if index.numel() == 0:
            stats[name] = 0
            continue
        x, y = images[index], labels[index]
        candidate = component(x, y).detach()
        check_perturbation(x, candidate, eps, norm, f"autoattack/{name}")
        fooled = _fooled(model, candidate, y)
        adv[index[fooled]] = candidate[fooled]
        robust[index[fooled]] = False
        stats[name] = int(fooled.sum())
    return AttackOutput(adv, stats)


def model_device(model: nn.Module, default: torch.device | None = None) -> torch.device:
    """The device of ``model``'s first parameter or buffer (``default``, else CPU, if none)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return default if default is not None else torch.device("cpu")


def _isolated(perturb: Callable[[Tensor, Tensor], Tensor], device: torch.device) -> Component:
    """``perturb`` run with the global RNGs forked (the official classes reseed them)."""
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]

    def component(images: Tensor, labels: Tensor) -> Tensor:
        with torch.random.fork_rng(devices=devices):
            return perturb(images, labels)

    return component


@dataclass(frozen=True)
class AutoAttackLinf(Attack):
    """Standard AutoAttack in L-inf at budget ``eps`` (components and numbers above)."""

    name: ClassVar[str] = "autoattack_linf"
    norm: ClassVar[str] = "linf"

    num_classes: int = 10
    apgd_steps: int = 100
    apgd_rho: float = 0.75
    apgdt_steps: int = 100
    n_target_classes: int = 9
    fab_steps: int = 100
    fab_alpha_max: float = 0.1
    fab_eta: float = 1.05
    fab_beta: float = 0.9
    square_queries: int = 5000
    square_p_init: float = 0.8
    n_restarts: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_classes < 4:  # APGD-T's targeted DLR loss reads the 4 largest logits
            raise InvalidOptionError(
                f"num_classes={self.num_classes!r} is invalid; AutoAttack (APGD-T's DLR loss) "
                "expects at least 4 classes"
            )
        for option in ("apgd_steps", "apgdt_steps", "fab_steps", "square_queries", "n_restarts"):
            if getattr(self, option) < 1:
                raise InvalidOptionError(
                    f"{option}={getattr(self, option)!r} is invalid; expected >= 1"
                )
        if self.n_target_classes < 1:
            raise InvalidOptionError(
                f"n_target_classes={self.n_target_classes!r} is invalid; expected >= 1"
            )

    @property
    def targets(self) -> int:
        """Target classes of APGD-T and FAB-T: ``n_target_classes``, at most classes - 1."""
        return min(self.n_target_classes, self.num_classes - 1)

    def params(self) -> dict[str, Any]:
        """The dataclass parameters, plus the AutoAttack code they configure."""
        return {**super().params(), "implementation": IMPLEMENTATION}

    def official(
        self,
        model: nn.Module,
        device: torch.device | None = None,
        seeds: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        """The four official attack objects by component name, configured as above.

        ``seeds``: one per component (default: drawn from torch's global RNG); ``device``: where
        they put their tensors (default: the model's device).
        """
        if seeds is None:
            seeds = torch.randint(0, 2**31 - 1, (len(COMPONENTS),)).tolist()
        if len(seeds) != len(COMPONENTS):
            raise InvalidOptionError(
                f"seeds has {len(seeds)} values; expected one per component ({len(COMPONENTS)})"
            )
        device = model_device(model) if device is None else device
        common = {"norm": "Linf", "eps": self.eps, "n_restarts": self.n_restarts}
        common |= {"device": device, "verbose": False}
        apgd = {"eot_iter": 1, "rho": self.apgd_rho, "logger": _LOG}
        return {
            "apgd_ce": APGDAttack(
                model, n_iter=self.apgd_steps, loss="ce", seed=seeds[0], **apgd, **common
            ),
            "apgd_t": APGDAttack_targeted(
                model,
                n_iter=self.apgdt_steps,
                n_target_classes=self.targets,
                seed=seeds[1],
                **apgd,
                **common,
            ),
            "fab_t": FABAttack_PT(
                model,
                n_iter=self.fab_steps,
                alpha_max=self.fab_alpha_max,
                eta=self.fab_eta,
                beta=self.fab_beta,
                targeted=True,
                n_target_classes=self.targets,
                seed=seeds[2],
                **common,
            ),
            "square": SquareAttack(
                model,
                n_queries=self.square_queries,
                p_init=self.square_p_init,
                loss="margin",
                resc_schedule=False,
                seed=seeds[3],
                **common,
            ),
        }

    def components(
        self,
        model: nn.Module,
        device: torch.device | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[tuple[str, Component]]:
        """The four components in order, for :func:`compose` (arguments: :meth:`official`)."""
        device = model_device(model) if device is None else device
        attacks = self.official(model, device, seeds)
        return [(name, _isolated(attacks[name].perturb, device)) for name in COMPONENTS]

    def perturb(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackOutput:
        """The composed attack; ``stats`` counts the points each component fooled first."""
        if self.eps == 0 or images.shape[0] == 0:
            return compose(model, [], images, labels, self.eps, self.norm)
        with torch.no_grad():
            width = model(images[:1]).shape[1]
        if width != self.num_classes:
            raise InvalidOptionError(
                f"num_classes={self.num_classes!r} does not match the model, which outputs "
                f"{width} logits; expected them equal (the targeted components pick their "
                "targets among the classes)"
            )
        device = model_device(model, images.device)
        return compose(model, self.components(model, device), images, labels, self.eps, self.norm)
