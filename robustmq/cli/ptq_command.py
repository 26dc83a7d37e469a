"""``robustmq ptq``: a post-training-quantized checkpoint from a float one (:mod:`robustmq.ptq`)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from robustmq._fs import atomic_path
from robustmq.cells import ModelSpec
from robustmq.checkpoints import read_checkpoint_metadata
from robustmq.hashing import sha256_file
from robustmq.options import DATA_ROOT, DEVICE, PROFILE, SEED, add_cli_option, resolve_device
from robustmq.ptq import DEFAULT_PTQ_IMAGES, ensure_ptq_checkpoint, ptq_dir

__all__ = ["add_commands"]


class _Progress:
    """Fine-tuning progress on stderr: a line at every tenth of the steps."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, info: dict[str, Any]) -> None:
        step, steps = int(info["step"]), int(info["steps"])
        if step % max(1, steps // 10) == 0 or step == steps:
            print(f"{self.label}: step {step}/{steps}, loss {info['loss']:.3f}", file=sys.stderr)


def _cmd_ptq(args: argparse.Namespace) -> int:
    spec = ModelSpec(args.arch, args.quantizer, args.bits)
    cached = ensure_ptq_checkpoint(
        args.init,
        spec,
        args.profile,
        data_root=args.data_root,
        images=args.images,
        epochs=args.epochs,
        seed=args.seed,
        root=args.cache_root,
        device=torch.device(resolve_device(args.device)),
        progress=_Progress(spec.id) if args.epochs else None,
        input_size=args.input_size,
    )
    out = Path(args.out)
    if out.resolve() != cached.resolve():
        with atomic_path(out) as tmp:
            shutil.copyfile(cached, tmp)
    meta = read_checkpoint_metadata(out)["meta"]
    accuracy = meta.get("val_accuracy")
    measured = (
        f"val accuracy {100 * accuracy:.1f}% on {meta['val_samples']} {args.profile} images"
        if isinstance(accuracy, float)
        else "accuracy not measured (evaluate it with the benchmark)"
    )
    nc = "" if meta.get("converged", True) else " (NOT CONVERGED)"
    print(
        f"{spec.id}: PTQ from {args.init} ({meta['calibration']['images']} calibration images, "
        f"{args.epochs} fine-tune epochs) -> {out} sha256 {sha256_file(out)} {measured}{nc}"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ptq`` to the ``robustmq`` subcommands."""
    ptq = sub.add_parser(
        "ptq",
        help="post-training quantization: a quantized checkpoint from a float one, calibrated",
        description="Quantize a float checkpoint (policy academic), calibrate its quantizers on "
        "--images class-balanced training images of the profile, optionally fine-tune --epochs "
        "epochs with the profile's QAT recipe, and write the checkpoint to --out (built once in "
        "the PTQ cache, content-keyed, and copied).",
    )
    ptq.add_argument("--arch", required=True, help="architecture, e.g. resnet18")
    ptq.add_argument("--init", required=True, help="the float checkpoint to quantize")
    ptq.add_argument("--quantizer", required=True, help="dorefa, lsq or pact")
    ptq.add_argument("--bits", type=int, required=True, help="bit-width 2..8")
    add_cli_option(ptq.add_argument, PROFILE)
    add_cli_option(ptq.add_argument, DATA_ROOT)
    ptq.add_argument(
        "--images",
        type=int,
        default=DEFAULT_PTQ_IMAGES,
        help=f"calibration images, class-balanced (default: {DEFAULT_PTQ_IMAGES})",
    )
    ptq.add_argument(
        "--epochs",
        type=int,
        default=0,
        help="fine-tuning epochs with the profile's QAT recipe (default: 0, none)",
    )
    ptq.add_argument(
        "--input-size",
        type=int,
        default=None,
        help="the model's input crop in pixels (default: its registered one, else the profile's)",
    )
    add_cli_option(ptq.add_argument, SEED)
    add_cli_option(ptq.add_argument, DEVICE)
    ptq.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    ptq.add_argument(
        "--cache-root",
        default=None,
        help=f"folder of the PTQ cache (default: {ptq_dir('<profile>')})",
    )
    ptq.set_defaults(func=_cmd_ptq)
