"""AutoAttack, "standard" version (Croce & Hein 2020, arXiv 2003.01690), from torchattacks parts.

``torchattacks.AutoAttack`` builds its components with 10 iterations; the standard version
(RobustBench, the protocol) is composed here with the reference numbers:

1. APGD-CE: 100 iterations, 1 restart, rho 0.75;
2. APGD-T: 100 iterations, 1 restart, 9 target classes (targeted DLR loss);
3. FAB-T: 100 iterations, 1 restart, 9 target classes (alpha_max 0.1, eta 1.05, beta 0.9);
4. Square: 5,000 queries, 1 restart, p_init 0.8, margin loss, no schedule rescaling.

Each component runs only on the points still robust after the previous ones, and a point keeps
the first adversarial example that fooled it (the per-point worst case). With fewer than 10
classes the targeted components use every other class; at least 4 classes are needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torchattacks
from torch import Tensor, nn

from robustmq.exceptions import InvalidOptionError
from robustmq.noise.adversarial.base import Attack, AttackOutput
from robustmq.noise.adversarial.guards import check_perturbation

__all__ = ["AutoAttackLinf", "Component", "compose"]

#: ``component(images, labels) -> adversarial images`` (same shape).
Component = Callable[[Tensor, Tensor], Tensor]


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
        if self.n_target_classes < 1:
            raise InvalidOptionError(
                f"n_target_classes={self.n_target_classes!r} is invalid; expected >= 1"
            )

    @property
    def targets(self) -> int:
        """Target classes of APGD-T and FAB-T: ``n_target_classes``, at most classes - 1."""
        return min(self.n_target_classes, self.num_classes - 1)

    def components(self, model: nn.Module) -> list[tuple[str, Component]]:
        """The four torchattacks components, configured and seeded from the global RNG."""
        seeds = torch.randint(0, 2**31 - 1, (4,)).tolist()
        # torchattacks' targeted components attack the top-k classes k = 2 .. n_classes
        n = self.targets + 1
        apgd = torchattacks.APGD(
            model,
            norm="Linf",
            eps=self.eps,
            steps=self.apgd_steps,
            n_restarts=self.n_restarts,
            seed=seeds[0],
            loss="ce",
            rho=self.apgd_rho,
        )
        apgdt = torchattacks.APGDT(
            model,
            norm="Linf",
            eps=self.eps,
            steps=self.apgdt_steps,
            n_restarts=self.n_restarts,
            seed=seeds[1],
            rho=self.apgd_rho,
            n_classes=n,
        )
        fab = torchattacks.FAB(
            model,
            norm="Linf",
            eps=self.eps,
            steps=self.fab_steps,
            n_restarts=self.n_restarts,
            alpha_max=self.fab_alpha_max,
            eta=self.fab_eta,
            beta=self.fab_beta,
            seed=seeds[2],
            multi_targeted=True,
            n_classes=n,
        )
        square = torchattacks.Square(
            model,
            norm="Linf",
            eps=self.eps,
            n_queries=self.square_queries,
            n_restarts=self.n_restarts,
            p_init=self.square_p_init,
            loss="margin",
            resc_schedule=False,
            seed=seeds[3],
        )
        return [("apgd_ce", apgd), ("apgd_t", apgdt), ("fab_t", fab), ("square", square)]

    def perturb(self, model: nn.Module, images: Tensor, labels: Tensor) -> AttackOutput:
        """The composed attack; ``stats`` counts the points each component fooled first."""
        if self.eps == 0:
            return compose(model, [], images, labels, self.eps, self.norm)
        return compose(model, self.components(model), images, labels, self.eps, self.norm)
