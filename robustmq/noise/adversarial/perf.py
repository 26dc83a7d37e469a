"""Performance figures of the adversarial family, printed (never asserted).

``python -m robustmq.noise.adversarial.perf [pgd]``: PGD-20 on one batch (the benchmark's path:
clean forward, 20 attack steps, guards, scoring forward) vs 21 forward+backward passes of the
same model on that batch (input gradient, parameters frozen, as in the attack), medians of
interleaved rounds, and their ratio (target: <= 1.15).

``python -m robustmq.noise.adversarial.perf autoattack``: seconds per point of each standard
AutoAttack component on points that stay robust (a budget far too small to fool any), the
worst case that dominates AutoAttack's cost at small budgets.

Models are untrained, at the synthetic profile's geometry (width 0.25, 64 px) by default.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from robustmq.models import create_model
from robustmq.noise.adversarial.autoattack import AutoAttackLinf
from robustmq.noise.adversarial.guards import ModelGuard
from robustmq.noise.adversarial.pgd import PGDLinf
from robustmq.noise.adversarial.runner import run_attack
from robustmq.noise.adversarial.seeding import seeded
from robustmq.quant import calibrate, quantize_model

__all__ = ["autoattack_costs", "main", "pgd_vs_passes"]


def _model(arch: str, quantizer: str, bits: int, width: float, size: int) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(arch, num_classes=10, width=width)
    if quantizer != "fp32":
        model = quantize_model(model, quantizer, bits)
        calibrate(model, [torch.rand(8, 3, size, size)])
    return model.eval()


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fwd_bwd_passes(model: nn.Module, x: Tensor, y: Tensor, n: int) -> None:
    """``n`` forward+backward passes for the input gradient (parameters frozen, as in attacks)."""
    with ModelGuard(model, "passes"):
        for _ in range(n):
            xx = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xx), y), xx)


def pgd_vs_passes(model: nn.Module, x: Tensor, rounds: int) -> tuple[float, float]:
    """Median seconds of PGD-20 (benchmark path) and of 21 fwd+bwd passes on batch ``x``."""
    with torch.no_grad():
        y = model(x).argmax(1)  # every point clean-correct: PGD attacks the whole batch
    attack = PGDLinf(2 / 255)
    device = x.device

    def pgd() -> None:
        run_attack(model, attack, x, y, seed=0, batch_size=x.shape[0], device=device)

    pgd()
    fwd_bwd_passes(model, x, y, 2)  # warm-up
    pgd_times, pass_times = [], []
    for _ in range(rounds):  # interleaved: the machine's speed drifts between measurements
        pgd_times.append(_timed(pgd))
        pass_times.append(_timed(lambda: fwd_bwd_passes(model, x, y, 21)))
    return statistics.median(pgd_times), statistics.median(pass_times)


def autoattack_costs(model: nn.Module, x: Tensor) -> dict[str, float]:
    """Seconds per point of each AutoAttack component on points that all stay robust."""
    with torch.no_grad():
        y = model(x).argmax(1)
    attack = AutoAttackLinf(1e-4)  # far too small to fool: every component runs in full
    costs: dict[str, float] = {}
    with seeded(0), ModelGuard(model, attack.name):
        for name, component in attack.components(model):
            costs[name] = _timed(lambda c=component: c(x, y)) / x.shape[0]  # type: ignore[misc]
    return costs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robustmq.noise.adversarial.perf", description=__doc__
    )
    parser.add_argument("command", nargs="?", default="pgd", choices=("pgd", "autoattack"))
    parser.add_argument("--arch", nargs="*", default=["resnet18"], help="(default: resnet18)")
    parser.add_argument(
        "--quantizer", nargs="*", default=["fp32", "lsq"], help="(default: fp32 lsq)"
    )
    parser.add_argument("--bits", type=int, default=4, help="bit-width (default: 4)")
    parser.add_argument("--width", type=float, default=0.25, help="model width (default: 0.25)")
    parser.add_argument("--size", type=int, default=64, help="image size in px (default: 64)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: 5)")
    parser.add_argument(
        "--points", type=int, default=4, help="autoattack: robust points (default: 4)"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    torch.manual_seed(0)
    header = (
        f"width {args.width}, {args.size} px, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    if args.command == "pgd":
        print(f"# PGD-20 vs 21 forward+backward passes: batch {args.batch_size}, {header}")
        print("| model | PGD-20 s | 21 fwd+bwd s | ratio |")
        print("|---|---:|---:|---:|")
    else:
        print(f"# AutoAttack components, seconds per robust point ({args.points} points), {header}")
        print("| model | apgd_ce | apgd_t | fab_t | square | total |")
        print("|---|---:|---:|---:|---:|---:|")
    for arch in args.arch:
        for quantizer in args.quantizer:
            model = _model(arch, quantizer, args.bits, args.width, args.size)
            name = arch if quantizer == "fp32" else f"{arch}-{quantizer}-{args.bits}bit"
            if args.command == "pgd":
                x = torch.rand(args.batch_size, 3, args.size, args.size)
                pgd, passes = pgd_vs_passes(model, x, args.rounds)
                print(f"| {name} | {pgd:.3f} | {passes:.3f} | {pgd / passes:.3f} |", flush=True)
            else:
                x = torch.rand(args.points, 3, args.size, args.size)
                c = autoattack_costs(model, x)
                cells = " | ".join(f"{v:.2f}" for v in c.values())
                print(f"| {name} | {cells} | {sum(c.values()):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
