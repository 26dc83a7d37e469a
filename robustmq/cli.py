"""The ``robustmq`` command line: ``list``, ``layers``, ``train`` and ``zoo build``.

This is the presentation layer: it prints; the library modules it calls never do.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from robustmq._version import __version__
from robustmq.cells import FLOAT, ModelSpec, model_grid
from robustmq.checkpoints import read_checkpoint_metadata, save_checkpoint
from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError, RobustMQError
from robustmq.models import create_model, list_models
from robustmq.predict import default_device
from robustmq.quant import POLICIES, describe_quantization, list_quantizers, quantize_model
from robustmq.zoo import build_model, ensure_checkpoint, train_settings


def _cmd_list(args: argparse.Namespace) -> int:
    print("architectures:", ", ".join(list_models()))
    print("quantizers:   ", ", ".join(list_quantizers()))
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
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
    if name == "auto":
        return default_device()
    return torch.device(name)


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


def _cmd_zoo_build(args: argparse.Namespace) -> int:
    specs = model_grid(args.arch, args.quantizer, args.bits, include_float=True)
    if args.quantizer and FLOAT not in args.quantizer:
        specs = [s for s in specs if not s.is_float]
    profile = get_profile(args.profile)
    if not profile.builds_checkpoints:
        raise InvalidOptionError(
            f"--profile {profile.name}: its checkpoints are trained on a GPU with "
            "'robustmq train' (see README), not built by the zoo"
        )
    built: list[ModelSpec] = []
    for i, spec in enumerate(specs, 1):
        start = time.perf_counter()
        path = ensure_checkpoint(
            spec,
            profile.name,
            root=args.root,
            data_root=args.data_root,
            seed=args.seed,
            device=_device(args.device),
            progress=_Bar(spec.id),
            on_build=lambda s, _meta: built.append(s),
        )
        meta = read_checkpoint_metadata(path)["meta"]
        state = "built" if spec in built else "ok"
        nc = "" if meta.get("converged", True) else "  NC"
        print(
            f"[{i}/{len(specs)}] {spec.id:28s} {state:5s} val {100 * meta['val_accuracy']:5.1f}%"
            f"{nc}  {time.perf_counter() - start:6.1f}s  {path}",
            flush=True,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``robustmq`` command."""
    parser = argparse.ArgumentParser(prog="robustmq", description="RobustMQ benchmark tools")
    parser.add_argument("--version", action="version", version=f"robustmq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list architectures and quantizers").set_defaults(func=_cmd_list)
    layers = sub.add_parser("layers", help="show how each layer of a model is quantized")
    layers.add_argument("arch", help="architecture, e.g. resnet18")
    layers.add_argument("quantizer", help="quantizer: dorefa, lsq or pact")
    layers.add_argument("bits", type=int, help="bit-width: 2..8, or 32 for float")
    layers.add_argument(
        "--policy", default="academic", choices=POLICIES, help="(default: academic)"
    )
    layers.set_defaults(func=_cmd_layers)

    train = sub.add_parser("train", help="train a float model, or fine-tune a quantized one (QAT)")
    train.add_argument("--profile", default="synthetic", help="(default: synthetic)")
    train.add_argument("--arch", required=True, help="architecture, e.g. resnet18")
    train.add_argument("--quantizer", default=None, help="dorefa, lsq or pact (default: float)")
    train.add_argument("--bits", type=int, default=None, help="bit-width 2..8 for --quantizer")
    train.add_argument("--init", default=None, help="float checkpoint to start QAT from")
    train.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    train.add_argument("--data-root", default=None, help="data folder (default: the profile's)")
    train.add_argument("--epochs", type=int, default=None, help="(default: the profile's recipe)")
    train.add_argument("--lr", type=float, default=None, help="(default: the profile's recipe)")
    train.add_argument("--batch-size", type=int, default=None, help="(default: the recipe's)")
    train.add_argument("--workers", type=int, default=8, help="loader processes (default: 8)")
    train.add_argument("--seed", type=int, default=0, help="(default: 0)")
    train.add_argument("--device", default="auto", help="(default: cuda when present, else cpu)")
    train.set_defaults(func=_cmd_train)

    zoo = sub.add_parser("zoo", help="the profile's checkpoint zoo")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", required=True)
    build = zoo_sub.add_parser("build", help="build missing checkpoints (idempotent)")
    build.add_argument("--profile", default="synthetic", help="(default: synthetic)")
    build.add_argument("--arch", nargs="+", default=None, help="(default: all four)")
    build.add_argument("--quantizer", nargs="+", default=None, help="(default: fp32 and all)")
    build.add_argument("--bits", nargs="+", type=int, default=None, help="(default: 2 4 6 8)")
    build.add_argument("--root", default=None, help="zoo folder (default: the cache's)")
    build.add_argument("--data-root", default=None, help="data folder (default: the profile's)")
    build.add_argument("--seed", type=int, default=0, help="(default: 0)")
    build.add_argument("--device", default="auto", help="(default: cuda when present, else cpu)")
    build.set_defaults(func=_cmd_zoo_build)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 with a message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RobustMQError as exc:
        print(f"robustmq: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
