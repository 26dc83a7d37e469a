"""Cross-check: standard AutoAttack from the authors' code vs the old torchattacks composition.

A plain script (pytest does not collect it: no ``test_`` prefix). It attacks one zoo model of a
profile (default: synthetic ``resnet18-fp32``) at one L-inf budget on the class-balanced subset
the benchmark uses, through the benchmark's runner (clean-correct points only, the cell's seed),
once with the library's :class:`~robustmq.noise.adversarial.AutoAttackLinf` (``pyautoattack``
components) and once with the torchattacks composition the library used before (kept here only
for this comparison), and prints robust accuracy, per-component counts, the images robust under
one and not the other, and wall time::

    nice .venv/bin/python benchmarks/crosscheck/autoattack_official_vs_torchattacks.py \\
        --model resnet18-fp32 --eps 2 --n 100
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pyautoattack
import torch
import torchattacks
from torch import nn

from robustmq.cells import ModelSpec
from robustmq.data import get_eval_data, load_tensors
from robustmq.data.profiles import get_profile
from robustmq.noise.adversarial import AutoAttackLinf, balanced_subset, derive_seed, run_attack
from robustmq.noise.adversarial.autoattack import COMPONENTS, Component
from robustmq.noise.adversarial.runner import AttackRun
from robustmq.zoo import zoo_checkpoint


@dataclass(frozen=True)
class TorchattacksAutoAttackLinf(AutoAttackLinf):
    """The library's AutoAttack before pyautoattack: the same numbers, torchattacks' components."""

    def components(
        self,
        model: nn.Module,
        device: torch.device | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[tuple[str, Component]]:
        """APGD-CE, APGD-T, FAB-T and Square from torchattacks 3.5.1, seeded from the global RNG."""
        if seeds is None:
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


def _row(name: str, run: AttackRun, n: int, seconds: float) -> str:
    robust, clean = int(run.correct.sum()), int(run.clean_correct.sum())
    counts = " | ".join(str(run.stats.get(c, 0)) for c in COMPONENTS)  # first fooled by each
    return f"| {name} | {robust}/{n} = {robust / n:.3f} | {clean} | {counts} | {seconds:.0f} |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="synthetic", help="(default: synthetic)")
    parser.add_argument("--model", default="resnet18-fp32", help="zoo model id")
    parser.add_argument("--eps", type=float, default=2.0, help="L-inf budget in 1/255 (default 2)")
    parser.add_argument("--n", type=int, default=100, help="class-balanced images (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="run seed, as --rmq-seed (default 0)")
    parser.add_argument("--batch-size", type=int, default=128, help="(default: 128)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument(
        "--only", choices=("torchattacks", "official"), help="run one implementation only"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    profile = get_profile(args.profile)
    spec = ModelSpec.parse(args.model)
    model = zoo_checkpoint(spec, profile.name, device=device).model
    model.to(memory_format=torch.channels_last)  # as the benchmark loads it
    dataset, pipeline = get_eval_data(profile.name, seed=args.seed)
    data = load_tensors(dataset, pipeline)
    index = balanced_subset(data.labels, args.n)
    images, labels = data.images[index], data.labels[index]
    noise = f"autoattack_linf-eps{args.eps:g}"
    seed = derive_seed(args.seed, f"{spec.id}-{noise}")  # the benchmark cell's attack seed
    eps = args.eps / 255
    print(
        f"# {profile.name} {spec.id}, L-inf eps {args.eps:g}/255, {len(index)} class-balanced "
        f"images, seed {seed}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"torchattacks {torchattacks.__version__}, pyautoattack {pyautoattack.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    print(
        "| implementation | robust accuracy | clean correct | " + " | ".join(COMPONENTS) + " | s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    attacks = {
        "torchattacks": TorchattacksAutoAttackLinf(eps, num_classes=profile.num_classes),
        "official": AutoAttackLinf(eps, num_classes=profile.num_classes),
    }
    runs: dict[str, AttackRun] = {}
    for name, attack in attacks.items():
        if args.only not in (None, name):
            continue
        start = time.perf_counter()
        runs[name] = run_attack(
            model, attack, images, labels, seed=seed, batch_size=args.batch_size, device=device
        )
        print(_row(name, runs[name], len(index), time.perf_counter() - start), flush=True)
    if len(runs) == 2:
        old, new = runs["torchattacks"].correct, runs["official"].correct
        for a, b, mask in (
            ("torchattacks", "official", old & ~new),
            ("official", "torchattacks", new & ~old),
        ):
            ids = [data.sample_ids[i] for i in index[mask].tolist()]
            print(f"robust under {a}, not under {b}: {len(ids)} {ids}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
