"""Run an attack over a set of images: batched, seeded, guarded, and scored.

Only the clean-correct points are attacked (the others count as wrong, see :mod:`.metrics`),
unless ``attack_all`` (used to craft transfer examples on another model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from robustmq.noise.adversarial.base import Attack
from robustmq.noise.adversarial.guards import ModelGuard, check_perturbation
from robustmq.noise.adversarial.seeding import seeded

__all__ = ["AttackRun", "predict_labels", "run_attack"]


@dataclass
class AttackRun:
    """Per-sample results on the CPU: ``correct`` is the correctness under the attack."""

    clean_correct: Tensor
    correct: Tensor
    stats: dict[str, int] = field(default_factory=dict)
    #: the adversarial images (clean image where a point was not attacked), when kept.
    adv: Tensor | None = None


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward returns the gradient in the default (contiguous) memory format."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        return grad.contiguous()


class ContiguousInputGrad(nn.Module):
    """``model`` whose input gradient is always contiguous; same outputs, same train/eval mode.

    A channels-last model (the benchmark loads them so: faster on the CPU) back-propagates a
    channels-last input gradient, which torchattacks' ``grad.view(batch, -1)`` rejects.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(_ContiguousGrad.apply(x))


@torch.no_grad()
def predict_labels(
    model: nn.Module, images: Tensor, batch_size: int, device: torch.device
) -> Tensor:
    """Top-1 class of every image, int64 ``[N]`` on the CPU (the model must be in eval mode)."""
    out = [
        model(images[i : i + batch_size].to(device)).argmax(1).cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def run_attack(
    model: nn.Module,
    attack: Attack,
    images: Tensor,
    labels: Tensor,
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
    attack_all: bool = False,
    keep_images: bool = False,
) -> AttackRun:
    """Attack ``images`` batch by batch under :func:`.seeded` (``seed``) and a model guard.

    Returns clean and adversarial per-sample correctness (adversarial correctness implies clean
    correctness unless ``attack_all``), the attack's counters summed over batches, and the
    adversarial images when ``keep_images``. Raises :class:`.AttackGuardError` when a batch
    leaves the eps-ball or [0, 1], or the model's state changes.
    """
    clean_parts: list[Tensor] = []
    adv_parts: list[Tensor] = []
    kept: list[Tensor] = []
    stats: dict[str, int] = {}
    attacked = ContiguousInputGrad(model)
    with seeded(seed), ModelGuard(model, attack.name) as guard:
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            with torch.no_grad():
                clean = model(x).argmax(1) == y
            target = torch.ones_like(clean) if attack_all else clean
            adv = x.clone()
            if bool(target.any()):
                out = attack.perturb(attacked, x[target], y[target])
                check_perturbation(x[target], out.adv, attack.eps, attack.norm, attack.name)
                guard.check()
                adv[target] = out.adv.detach()
                for key, value in out.stats.items():
                    stats[key] = stats.get(key, 0) + value
            with torch.no_grad():
                correct = model(adv).argmax(1) == y
            if not attack_all:
                correct &= clean
            clean_parts.append(clean.cpu())
            adv_parts.append(correct.cpu())
            if keep_images:
                kept.append(adv.cpu())
    empty = torch.empty(0, dtype=torch.bool)
    return AttackRun(
        clean_correct=torch.cat(clean_parts) if clean_parts else empty,
        correct=torch.cat(adv_parts) if adv_parts else empty,
        stats=stats,
        adv=(torch.cat(kept) if kept else images[:0].clone()) if keep_images else None,
    )
