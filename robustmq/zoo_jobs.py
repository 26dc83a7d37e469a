"""Scheduling a zoo build: which models to build, in which order, and how to split the
architectures over parallel processes (what ``robustmq zoo build`` runs).

Plain functions: they return data, or yield one :class:`BuildEvent` per model as it is ready;
they never print. Checkpoints themselves are made by :func:`robustmq.zoo.ensure_checkpoint`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from robustmq.cells import FLOAT, GRID_ARCHS, ModelSpec, model_grid
from robustmq.checkpoints import read_checkpoint_metadata
from robustmq.data.profiles import Profile, get_profile
from robustmq.exceptions import InvalidOptionError
from robustmq.train import Progress
from robustmq.zoo import ensure_checkpoint

__all__ = [
    "BUILD_COST",
    "BUILD_COSTS",
    "BuildEvent",
    "JobPlan",
    "build_zoo",
    "plan_jobs",
    "run_jobs",
    "zoo_profile",
    "zoo_specs",
]

#: relative CPU cost of building one architecture's 13 synthetic models (measured, one thread).
BUILD_COST = {"resnet50": 2.9, "mobilenet_v2": 2.2, "regnetx_600m": 1.6, "resnet18": 1.0}
#: the same per profile (cifar10: estimated from the measured epoch times at 32 px and the
#: profile's epochs and QAT images; ResNet50's bottlenecks at 32 x 32 cost as much as the others
#: together, so it gets a process of its own under ``--jobs 2``).
BUILD_COSTS = {
    "synthetic": BUILD_COST,
    "cifar10": {"resnet50": 5.0, "mobilenet_v2": 2.5, "resnet18": 1.8, "regnetx_600m": 0.9},
}


@dataclass(frozen=True)
class JobPlan:
    """The architectures each process builds, and the torch threads of each process."""

    groups: list[list[str]]
    threads: int


def plan_jobs(
    archs: Sequence[str] | None,
    jobs: int,
    cpu_count: int | None = None,
    profile: str = "synthetic",
) -> JobPlan:
    """Split ``archs`` (default: the grid's) over at most ``jobs`` processes of similar cost.

    Longest first, each to the least loaded process (the profile's :data:`BUILD_COSTS`, else
    :data:`BUILD_COST`; 1.0 when unknown); the CPU threads (default ``os.cpu_count()``) are
    shared equally, at least one per process.
    """
    costs = BUILD_COSTS.get(profile, BUILD_COST)
    if jobs < 1:
        raise InvalidOptionError(f"jobs={jobs!r} is invalid; expected an integer >= 1")
    names = list(archs or GRID_ARCHS)
    jobs = min(jobs, len(names))
    groups: list[list[str]] = [[] for _ in range(jobs)]
    loads = [0.0] * jobs
    for arch in sorted(names, key=lambda a: -costs.get(a, 1.0)):  # longest first
        least = loads.index(min(loads))
        groups[least].append(arch)
        loads[least] += costs.get(arch, 1.0)
    threads = max(1, (cpu_count or os.cpu_count() or 1) // jobs)
    return JobPlan(groups, threads)


def run_jobs(command: Sequence[str], plan: JobPlan) -> int:
    """Run ``command --arch <group>`` for every group of ``plan`` at once, each with
    ``OMP_NUM_THREADS`` set to ``plan.threads``; returns the highest exit status."""
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads)}
    children = [subprocess.Popen([*command, "--arch", *group], env=env) for group in plan.groups]
    return max(child.wait() for child in children)


def zoo_specs(
    archs: Sequence[str] | None = None,
    quantizers: Sequence[str] | None = None,
    bits: Sequence[int] | None = None,
) -> list[ModelSpec]:
    """The models to build, in build order (per architecture, the float model first).

    Quantizers given without ``fp32`` leave the float models out of the list (they are still
    built when a quantized model needs one as its starting point).
    """
    specs = model_grid(archs, quantizers, bits, include_float=True)
    if quantizers and FLOAT not in quantizers:
        specs = [s for s in specs if not s.is_float]
    return specs


def zoo_profile(name: str) -> Profile:
    """The profile ``name``; InvalidOptionError when the zoo does not build its checkpoints."""
    profile = get_profile(name)
    if not profile.builds_checkpoints:
        raise InvalidOptionError(
            f"--profile {profile.name}: its checkpoints are trained on a GPU with "
            "'robustmq train' (see README), not built by the zoo"
        )
    return profile


@dataclass(frozen=True)
class BuildEvent:
    """One model ready: ``index`` of ``total`` (from 1), whether this build made it (else it was
    in the zoo already), its validation accuracy, convergence, seconds spent and checkpoint."""

    index: int
    total: int
    spec: ModelSpec
    built: bool
    val_accuracy: float
    converged: bool
    seconds: float
    path: Path


def build_zoo(
    specs: Sequence[ModelSpec],
    profile: str,
    *,
    root: str | os.PathLike[str] | None = None,
    data_root: str | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: Callable[[ModelSpec], Progress | None] | None = None,
) -> Iterator[BuildEvent]:
    """Ensure every checkpoint of ``specs`` is in the zoo, in order; one event per model.

    The profile is checked at once (:func:`zoo_profile`); the models are built lazily, as the
    events are consumed. ``progress(spec)`` gives the training progress callback of a model.
    """
    name = zoo_profile(profile).name
    return _build(list(specs), name, root, data_root, seed, device, progress)


def _build(
    specs: list[ModelSpec],
    profile: str,
    root: str | os.PathLike[str] | None,
    data_root: str | None,
    seed: int,
    device: str | torch.device | None,
    progress: Callable[[ModelSpec], Progress | None] | None,
) -> Iterator[BuildEvent]:
    built: list[ModelSpec] = []
    for i, spec in enumerate(specs, 1):
        start = time.perf_counter()
        path = ensure_checkpoint(
            spec,
            profile,
            root=root,
            data_root=data_root,
            seed=seed,
            device=device,
            progress=progress(spec) if progress is not None else None,
            on_build=lambda s, _meta: built.append(s),
        )
        meta = read_checkpoint_metadata(path)["meta"]
        yield BuildEvent(
            index=i,
            total=len(specs),
            spec=spec,
            built=spec in built,
            val_accuracy=float(meta["val_accuracy"]),
            converged=bool(meta.get("converged", True)),
            seconds=time.perf_counter() - start,
            path=path,
        )
