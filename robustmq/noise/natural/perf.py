"""Diagnostics of the corruptions, printed: ``python -m robustmq.noise.natural.perf [fidelity]``.

- ``python -m robustmq.noise.natural.perf [throughput] [--sizes ...]``: for each corruption,
  images per second of :func:`~.corruptions.corrupt_image` in this process (one core), over
  severities 1 to 5, at 224 px (ImageNet), at the synthetic profile's crop (64 px) and at 32 px
  (CIFAR-10's native size, the package's minimum), on seeded smooth random images; then the four
  slowest corruptions at each size.
- ``python -m robustmq.noise.natural.perf fidelity --profile P [--data-root DIR]``: for every
  corruption x severity, the RMS distortion of the profile's corrupted crops under its
  corruption scale next to the reference's and their ratio (:mod:`.fidelity`).
- ``python -m robustmq.noise.natural.perf native --profile cifar10 --data-root DIR``: the zoo's
  float models' accuracy per corruption through the profile's resize and on the corrupted source
  images as they are, next to RobustBench's ``Standard`` (:mod:`.native`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch

from robustmq.data.profiles import get_profile, list_profiles
from robustmq.exceptions import RobustMQError
from robustmq.noise.natural.corruptions import (
    SEVERITIES,
    corrupt_image,
    corruption_names,
    get_corruption,
    image_seed,
)

__all__ = ["fidelity_main", "main", "native_main", "sample_images", "throughput", "throughput_main"]


def sample_images(size: int, n: int, seed: int = 0) -> np.ndarray:
    """``n`` seeded uint8 ``size x size x 3`` images: smooth colour fields plus mild noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, 4, 4, 3))
    index = np.linspace(0, 3, size).round().astype(int)
    smooth = coarse[:, index][:, :, index]
    noisy = smooth + rng.normal(0, 12, smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def throughput(name: str, images: np.ndarray, seed: int = 0) -> float:
    """Images per second of ``name`` over every image of ``images`` at each of the 5 severities."""
    for severity in SEVERITIES:  # warm-up: imports, numba compilation
        corrupt_image(images[0], name, severity, seed)
    start = time.perf_counter()
    for severity in SEVERITIES:
        for i, image in enumerate(images):
            corrupt_image(image, name, severity, image_seed(seed, str(i), name, severity))
    return len(SEVERITIES) * len(images) / (time.perf_counter() - start)


def throughput_main(argv: Sequence[str] | None = None) -> int:
    """Print the throughput table (Markdown) and the four slowest corruptions per size."""
    parser = argparse.ArgumentParser(prog="python -m robustmq.noise.natural.perf [throughput]")
    synthetic = get_profile("synthetic").crop_size
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[224, synthetic, 32],
        help=f"image sides (default: 224 {synthetic} 32)",
    )
    parser.add_argument(
        "--images",
        type=int,
        nargs="+",
        default=[4, 20, 40],
        help="images per severity, one number per size (default: 4, 20, 40)",
    )
    args = parser.parse_args(argv)
    if len(args.images) != len(args.sizes):
        parser.error(f"--images needs one count per size ({len(args.sizes)}); got {args.images}")
    names = corruption_names()
    rates: dict[int, dict[str, float]] = {}
    for size, n in zip(args.sizes, args.images, strict=True):
        images = sample_images(size, n)
        rates[size] = {name: throughput(name, images) for name in names}
    print("corruption generation, one process, images/s (mean over severities 1-5)")
    print()
    print("| corruption | group | " + " | ".join(f"{s} px" for s in args.sizes) + " |")
    print("|---|---|" + "---:|" * len(args.sizes))
    for name in names:
        cells = " | ".join(f"{rates[s][name]:.0f}" for s in args.sizes)
        print(f"| {name} | {get_corruption(name).group} | {cells} |")
    print()
    for size in args.sizes:
        slowest = sorted(names, key=lambda c: rates[size][c])[:4]
        text = ", ".join(f"{c} ({rates[size][c]:.0f}/s)" for c in slowest)
        print(f"slowest four at {size} px: {text}")
    return 0


def fidelity_main(argv: Sequence[str] | None = None) -> int:
    """Print the fidelity table of one profile's corruption scale (Markdown) and its summary."""
    from robustmq.noise.natural.fidelity import fidelity_images, fidelity_table, format_fidelity
    from robustmq.noise.natural.scales import get_scale

    parser = argparse.ArgumentParser(prog="python -m robustmq.noise.natural.perf fidelity")
    parser.add_argument("--profile", default="synthetic", choices=list_profiles())
    parser.add_argument(
        "--data-root",
        default=None,
        help="the profile's data folder (needed for cifar10 and imagenet; synthetic: its scenes "
        "are rendered at 224 px scale unless a folder is given)",
    )
    parser.add_argument(
        "--per-class", type=int, default=2, help="images per class (default: 2, 20 in all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="image and corruption seed")
    parser.add_argument(
        "--corruptions", nargs="+", default=None, help="only these corruptions (default: all 15)"
    )
    args = parser.parse_args(argv)
    if args.per_class < 1:
        parser.error(f"--per-class must be at least 1; got {args.per_class}")
    profile = get_profile(args.profile)
    scale = get_scale(profile.corruption_scale)
    images = fidelity_images(
        profile, scale, per_class=args.per_class, seed=args.seed, data_root=args.data_root
    )
    rows = fidelity_table(profile, images, corruptions=args.corruptions, seed=args.seed)
    print(format_fidelity(profile, images, rows))
    return 0


def native_main(argv: Sequence[str] | None = None) -> int:
    """Print the native comparison (:mod:`.native`) for the zoo's models of a profile."""
    from robustmq.cells import ModelSpec
    from robustmq.checkpoints import open_checkpoint
    from robustmq.models import list_models
    from robustmq.noise.natural.native import format_native, native_accuracies
    from robustmq.noise.natural.scales import get_scale
    from robustmq.noise.natural.sets import eval_dataset, natural_per_class
    from robustmq.report.reference import PROFILE, STANDARD
    from robustmq.zoo import checkpoint_path

    parser = argparse.ArgumentParser(prog="python -m robustmq.noise.natural.perf native")
    parser.add_argument("--profile", default="cifar10", choices=list_profiles())
    parser.add_argument("--data-root", default=None, help="the profile's data folder")
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="zoo model ids (default: the float models, e.g. resnet18-fp32)",
    )
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="images per class (default: the natural cells', 100 on cifar10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the run seed (default 0)")
    parser.add_argument(
        "--corruptions", nargs="+", default=None, help="only these corruptions (default: all 15)"
    )
    args = parser.parse_args(argv)
    if args.per_class is not None and args.per_class < 1:
        parser.error(f"--per-class must be at least 1; got {args.per_class}")
    profile = get_profile(args.profile)
    scale = get_scale(profile.corruption_scale)
    if scale.stage != "source":
        parser.error(
            f"profile {profile.name!r} corrupts its crops (scale {scale.name!r}), not source "
            "images before a resize; expected a profile such as cifar10"
        )
    try:
        for name in args.corruptions or []:
            get_corruption(name)  # unknown names: the registry's error, with close matches
        specs = [ModelSpec.parse(m) for m in args.models or []]
        models = {}
        for spec in specs or [ModelSpec(arch) for arch in list_models()]:
            path = checkpoint_path(spec, profile.name)
            if not path.is_file():
                parser.error(
                    f"no zoo checkpoint {path} for {spec.id}; build it with `robustmq zoo build "
                    f"--profile {profile.name} --data-root DIR --arch {spec.arch}`"
                )
            models[spec.id] = open_checkpoint(path).model
        per_class = args.per_class or natural_per_class(profile.name, profile.num_classes, None)
        dataset, pipeline = eval_dataset(profile.name, args.data_root, per_class, args.seed)
        sources = np.stack([scale.input_of(pipeline, path) for path, _ in dataset.samples])
        labels = torch.tensor([label for _, label in dataset.samples])
        result = native_accuracies(
            models,
            sources,
            labels,
            dataset.sample_ids,
            pipeline,
            scale,
            seed=args.seed,
            corruptions=args.corruptions,
        )
    except (RobustMQError, OSError) as exc:
        parser.error(str(exc))
    reference = None
    if profile.name == PROFILE:
        reference = {c: 100 * float(np.mean(v)) for c, v in STANDARD.items()}
    print(f"profile {profile.name}, corruption scale {scale.name}: {scale.description}")
    print(format_native(result, reference, "RobustBench Standard"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``fidelity ...``, ``native ...`` or ``[throughput] ...`` (the default)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "fidelity":
        return fidelity_main(args[1:])
    if args and args[0] == "native":
        return native_main(args[1:])
    if args and args[0] == "throughput":
        args = args[1:]
    return throughput_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
