"""Pre-processing throughput of the 14 variants, printed (never asserted).

``python -m robustmq.noise.systematic.perf [--n 64] [--rounds 3] [--geometry aspect]``: writes
``n`` generated JPEGs of 256-320 px per side (quality 90, 4:2:0) to a temporary folder, then times
each variant's decode -> resize (256) -> centre crop (224) (``Pipeline.load_uint8``, one thread)
over all of them; images/s are medians over interleaved rounds, with the ratio to the reference.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from robustmq.data.pipeline import Pipeline
from robustmq.noise.systematic.variants import REFERENCE, get_variant, list_variants

__all__ = ["main", "make_jpegs", "throughput_table"]


def make_jpegs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` photo-like JPEGs (gradients, shapes, noise) of 256-320 px per side in ``folder``."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        height, width = (int(v) for v in rng.integers(256, 321, size=2))
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        phase = rng.uniform(0, 6.28, size=3)
        freq = rng.uniform(0.01, 0.08, size=3)
        image = np.stack(
            [127 + 100 * np.sin(freq[c] * (x + (c + 1) * y) + phase[c]) for c in range(3)], -1
        )
        cy, cx, r = rng.integers(40, 200), rng.integers(40, 200), rng.integers(20, 60)
        image[(y - cy) ** 2 + (x - cx) ** 2 < r**2] = rng.integers(0, 256, size=3)
        image += rng.normal(0, 8, image.shape)
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def _images_per_second(pipeline: Pipeline, paths: Sequence[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        pipeline.load_uint8(path)
    return len(paths) / (time.perf_counter() - start)


def throughput_table(
    paths: Sequence[Path], rounds: int = 3, geometry: str = "aspect"
) -> list[tuple[str, float]]:
    """``(variant, images/s)`` for every variant at the imagenet profile's 256 -> 224 geometry."""
    pipelines = {name: get_variant(name).pipeline("imagenet", geometry) for name in list_variants()}
    for pipeline in pipelines.values():  # warm up: imports, codec set-up, caches
        _images_per_second(pipeline, paths[:2])
    samples: dict[str, list[float]] = {name: [] for name in pipelines}
    for _ in range(rounds):  # interleaved: the machine's speed drifts between measurements
        for name, pipeline in pipelines.items():
            samples[name].append(_images_per_second(pipeline, paths))
    return [(name, statistics.median(values)) for name, values in samples.items()]


def main(argv: Sequence[str] | None = None) -> None:
    """Print the per-variant throughput table."""
    parser = argparse.ArgumentParser(prog="python -m robustmq.noise.systematic.perf")
    parser.add_argument("--n", type=int, default=64, help="generated JPEGs (default: 64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    parser.add_argument(
        "--geometry", choices=("aspect", "square"), default="aspect", help="(default: aspect)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="robustmq-sysperf-") as folder:
        paths = make_jpegs(Path(folder), args.n)
        rows = throughput_table(paths, args.rounds, args.geometry)
    reference = dict(rows)[REFERENCE]
    print(
        f"pre-processing throughput, {args.n} JPEGs of 256-320 px -> resize 256 -> crop 224 "
        f"({args.geometry}), one thread, median of {args.rounds} rounds"
    )
    print(f"{'variant':<24} {'images/s':>9} {'x reference':>12}")
    for name, value in rows:
        print(f"{name:<24} {value:>9.0f} {value / reference:>12.2f}")


if __name__ == "__main__":
    main()
