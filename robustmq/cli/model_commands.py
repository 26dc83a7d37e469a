"""The model commands: ``list``, ``layers``, ``train`` and ``zoo build``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch

from robustmq.cells import FLOAT, ModelSpec
from robustmq.checkpoints import open_checkpoint, save_checkpoint
from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError
from robustmq.models import create_model, list_models
from robustmq.options import (
    DATA_ROOT,
    DEVICE,
    PROFILE,
    SEED,
    ZOO_ROOT,
    add_cli_option,
    resolve_device,
)
from robustmq.quant import (
    POLICIES,
    describe_quantization,
    list_quantizers,
    quantize_model,
    quantizer_report,
)
from robustmq.quant.inspect import DEFINITIONS
from robustmq.zoo import build_model, train_settings
from robustmq.zoo_jobs import build_zoo, plan_jobs, run_jobs, zoo_specs

__all__ = ["add_commands"]


def _cmd_list(args: argparse.Namespace) -> int:
    print("architectures:", ", ".join(list_models()))
    print("quantizers:   ", ", ".join(list_quantizers()))
    return 0


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _values(values: tuple[float, ...] | tuple[int, ...] | None, scale: float = 1.0) -> str:
    return "-" if values is None else " ".join(f"{scale * v:.4g}" for v in values)


def _print_checkpoint_layers(args: argparse.Namespace) -> int:
    """``layers --checkpoint``: every quantizer's step or range and the levels it spans."""
    pins = {"arch": args.arch, "quantizer": args.quantizer, "bits": args.bits}
    checkpoint = open_checkpoint(args.checkpoint, policy=args.policy, **pins)
    c = checkpoint.config
    print(
        f"# {checkpoint.path}: {c['arch']} {c['quantizer']} {c['bits']}-bit, policy {c['policy']}"
    )
    for line in DEFINITIONS:
        print(f"# {line}")
    print(
        "| layer | quantizer | role | bits | sign | parameter | value | learned | grid step "
        "| grid levels | levels | image step (1/255) |"
    )
    print("|---|---|---|---:|---|---|---:|---|---:|---:|---:|---:|")
    for row in quantizer_report(checkpoint.model):
        sign = "signed" if row.signed else "unsigned"
        print(
            f"| {row.layer} | {row.kind} | {row.role} | {row.bits} | {sign} "
            f"| {row.parameter or '-'} | {_number(row.value)} | {'yes' if row.learned else 'no'} "
            f"| {_number(row.step)} | {row.grid_levels or '-'} | {_values(row.levels)} "
            f"| {_values(row.image_step, 255.0)} |"
        )
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    if args.checkpoint is not None:
        return _print_checkpoint_layers(args)
    if args.arch is None or args.quantizer is None or args.bits is None:
        raise InvalidOptionError("layers needs ARCH QUANTIZER BITS, or --checkpoint FILE")
    args.policy = args.policy or "academic"
    model = quantize_model(create_model(args.arch), args.quantizer, args.bits, args.policy)
    print(f"# {args.arch} {args.quantizer} {args.bits}-bit, policy {args.policy}")
    print("| layer | type | weight bits | input bits | input |")
    print("|---|---|---:|---:|---|")
    for layer in describe_quantization(model):
        sign = "signed" if layer.input_signed else "unsigned"
        print(
            f"| {layer.name} | {layer.kind} | {layer.weight_bits} | {layer.input_bits} | {sign} |"
        )
    return 0


class _Bar:
    """A tqdm progress bar fed by the trainer's progress callback (stderr)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def __call__(self, info: dict[str, Any]) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=info["steps"], desc=self.label, unit="step", leave=False)
        self.bar.update(1)
        self.bar.set_postfix(epoch=info["epoch"], loss=f"{info['loss']:.3f}", refresh=False)
        if info["step"] >= info["steps"]:
            self.bar.close()
            self.bar = None


def _device(name: str) -> torch.device:
    return torch.device(resolve_device(name))


def _spec(args: argparse.Namespace) -> ModelSpec:
    if args.quantizer in (None, FLOAT):
        return ModelSpec(args.arch)
    return ModelSpec(args.arch, args.quantizer, args.bits)


def _cmd_train(args: argparse.Namespace) -> int:
    spec = _spec(args)
    profile = get_profile(args.profile)
    base = train_settings(spec, profile, args.seed)
    overrides = {
        k: v
        for k, v in {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size}.items()
        if v is not None
    }
    settings = dataclasses.replace(base, **overrides)
    if not spec.is_float and args.init is None:
        raise InvalidOptionError(
            f"--init is required for {spec.id}: QAT starts from a float checkpoint "
            f"(train one first: robustmq train --profile {profile.name} --arch {spec.arch} ...)"
        )
    print(f"training {spec.id} on {profile.name}: {settings}", file=sys.stderr)
    model, meta = build_model(
        spec,
        profile,
        seed=args.seed,
        data_root=args.data_root,
        device=_device(args.device),
        float_checkpoint=Path(args.init) if args.init else None,
        settings=settings,
        workers=args.workers,
        progress=_Bar(spec.id),
    )
    save_checkpoint(model, args.out, **meta)
    status = "" if meta["converged"] else " (NOT CONVERGED)"
    print(f"{spec.id}: validation accuracy {100 * meta['val_accuracy']:.2f}%{status} -> {args.out}")
    return 0


def _child_command(args: argparse.Namespace) -> list[str]:
    """This ``zoo build`` command, for one process of ``--jobs`` (``--arch`` to be added)."""
    command = [sys.executable, "-m", "robustmq.cli", "zoo", "build", "--profile", args.profile]
    for option in ("quantizer", "bits"):
        values = getattr(args, option)
        if values:
            command += [f"--{option}", *map(str, values)]
    if args.zoo_root is not None:
        command += ["--root", str(args.zoo_root)]
    if args.data_root is not None:
        command += ["--data-root", str(args.data_root)]
    for module in args.imports or ():
        command += ["--import", module]
    return [*command, "--seed", str(args.seed), "--device", args.device, "--no-progress"]


def _cmd_zoo_build(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise InvalidOptionError(f"--jobs={args.jobs} is invalid; expected an integer >= 1")
    if args.jobs > 1:
        plan = plan_jobs(args.arch, args.jobs, profile=args.profile)
        groups = "; ".join(" ".join(group) for group in plan.groups)
        print(f"building in {len(plan.groups)} processes: {groups}", flush=True)
        return run_jobs(_child_command(args), plan)
    specs = zoo_specs(args.arch, args.quantizer, args.bits)
    events = build_zoo(
        specs,
        args.profile,
        root=args.zoo_root,
        data_root=args.data_root,
        seed=args.seed,
        device=_device(args.device),
        progress=(lambda spec: _Bar(spec.id)) if args.progress else None,
    )
    for event in events:
        state = "built" if event.built else "ok"
        nc = "" if event.converged else "  NC"
        print(
            f"[{event.index}/{event.total}] {event.spec.id:28s} {state:5s} "
            f"val {100 * event.val_accuracy:5.1f}%{nc}  {event.seconds:6.1f}s  {event.path}",
            flush=True,
        )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``list``, ``layers``, ``train`` and ``zoo build`` to the ``robustmq`` subcommands."""
    sub.add_parser("list", help="list architectures and quantizers").set_defaults(func=_cmd_list)
    layers = sub.add_parser("layers", help="show how each layer of a model is quantized")
    layers.add_argument("arch", nargs="?", help="architecture, e.g. resnet18")
    layers.add_argument("quantizer", nargs="?", help="quantizer: dorefa, lsq or pact")
    layers.add_argument("bits", nargs="?", type=int, help="bit-width: 2..8, or 32 for float")
    layers.add_argument(
        "--policy",
        default=None,
        choices=POLICIES,
        help="(default: academic, or the checkpoint's)",
    )
    layers.add_argument(
        "--checkpoint",
        default=None,
        help="a trained checkpoint: print each quantizer's step or range and the levels it spans "
        "(ARCH QUANTIZER BITS are then optional and, when given, must match the checkpoint)",
    )
    layers.set_defaults(func=_cmd_layers)

    train = sub.add_parser("train", help="train a float model, or fine-tune a quantized one (QAT)")
    add_cli_option(train.add_argument, PROFILE)
    train.add_argument("--arch", required=True, help="architecture, e.g. resnet18")
    train.add_argument("--quantizer", default=None, help="dorefa, lsq or pact (default: float)")
    train.add_argument("--bits", type=int, default=None, help="bit-width 2..8 for --quantizer")
    train.add_argument("--init", default=None, help="float checkpoint to start QAT from")
    train.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    add_cli_option(train.add_argument, DATA_ROOT)
    train.add_argument("--epochs", type=int, default=None, help="(default: the profile's recipe)")
    train.add_argument("--lr", type=float, default=None, help="(default: the profile's recipe)")
    train.add_argument("--batch-size", type=int, default=None, help="(default: the recipe's)")
    train.add_argument("--workers", type=int, default=8, help="loader processes (default: 8)")
    add_cli_option(train.add_argument, SEED)
    add_cli_option(train.add_argument, DEVICE)
    train.set_defaults(func=_cmd_train)

    zoo = sub.add_parser("zoo", help="the profile's checkpoint zoo")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True)
    build = zoo_sub.add_parser("build", help="build missing checkpoints (idempotent)")
    add_cli_option(build.add_argument, PROFILE)
    build.add_argument("--arch", nargs="+", default=None, help="(default: all four)")
    build.add_argument("--quantizer", nargs="+", default=None, help="(default: fp32 and all)")
    build.add_argument("--bits", nargs="+", type=int, default=None, help="(default: 2 4 6 8)")
    add_cli_option(build.add_argument, ZOO_ROOT, flag="--root")
    add_cli_option(build.add_argument, DATA_ROOT)
    add_cli_option(build.add_argument, SEED)
    add_cli_option(build.add_argument, DEVICE)
    build.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="build the architectures in this many processes with the CPU threads split between "
        "them (default: 1; 2 on a 2-core CPU is much faster for the small synthetic models)",
    )
    build.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )
    build.set_defaults(func=_cmd_zoo_build)
