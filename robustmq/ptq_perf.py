"""PTQ against QAT on a profile's zoo, printed (never asserted): ``python -m robustmq.ptq_perf``.

For every architecture x quantizer x bit-width asked for (default: the whole grid), the zoo's QAT
checkpoint and a PTQ checkpoint made from the zoo's float checkpoint
(:func:`robustmq.ptq.ensure_ptq_checkpoint`, epochs 0) are evaluated on the same images, the
profile's evaluation set (synthetic: 500), and a Markdown table gives their accuracies and the
gap (PTQ - QAT, in points), then the mean gap per quantizer and bit-width. ``--images N [N ...]``
builds one PTQ model per calibration-set size (a column pair each), which is how
:data:`robustmq.ptq.DEFAULT_PTQ_IMAGES` was chosen.

The zoo is only read: a checkpoint that is missing or stale (its recipe changed) is reported as
such, never trained. PTQ checkpoints go to a temporary folder unless ``--root`` names one, so the
user cache stays as it was.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from robustmq.cells import GRID_ARCHS, GRID_BITS, ModelSpec
from robustmq.checkpoints import (
    UnverifiedCheckpointWarning,
    open_checkpoint,
    read_checkpoint_metadata,
)
from robustmq.data.profiles import get_profile
from robustmq.ptq import DEFAULT_PTQ_IMAGES, ensure_ptq_checkpoint, evaluate_accuracy
from robustmq.quant import list_quantizers
from robustmq.zoo import checkpoint_path, is_current, recipe

__all__ = ["GapRow", "main", "measure", "render"]


@dataclass
class GapRow:
    """One model: QAT accuracy and PTQ accuracy per calibration-set size (None: not measured)."""

    spec: ModelSpec
    float_accuracy: float | None = None
    qat: float | None = None
    ptq: dict[int, float] = field(default_factory=dict)
    #: why a value is absent ("missing: <zoo file>", "stale: <zoo file>"), else "".
    note: str = ""


def _zoo_state(spec: ModelSpec, profile: str, seed: int, zoo_root: str | None) -> str:
    """``""`` when the zoo holds a current checkpoint of ``spec``, else why not (no training)."""
    path = checkpoint_path(spec, profile, zoo_root)
    if not path.is_file():
        return f"missing: {path}"
    if not is_current(path, recipe(spec, get_profile(profile), seed)):
        return f"stale: {path}"
    return ""


def _accuracy(
    path: Path, spec: ModelSpec, profile: str, data_root: str | None, seed: int, device: str
) -> tuple[float, int]:
    checkpoint = open_checkpoint(
        path, arch=spec.arch, quantizer=spec.quantizer, bits=spec.bits or 32, device=device
    )
    return evaluate_accuracy(
        checkpoint.model, profile, data_root=data_root, seed=seed, device=device
    )


def measure(
    profile: str,
    specs: Sequence[ModelSpec],
    images: Sequence[int],
    *,
    root: str | Path,
    seed: int = 0,
    zoo_seed: int = 0,
    data_root: str | None = None,
    zoo_root: str | None = None,
    device: str = "cpu",
    reestimate_bn: bool = True,
) -> Iterator[tuple[GapRow, int]]:
    """Each spec's row and the evaluation set's size, one at a time, reading the zoo only.

    PTQ checkpoints are built in ``root`` from the zoo's float checkpoint with each value of
    ``images`` calibration images chosen by ``seed``; ``zoo_seed`` is the zoo's recipe seed and
    chooses the evaluation set.
    """
    floats: dict[str, float | None] = {}
    for spec in specs:
        row = GapRow(spec)
        float_spec = spec.float_spec()
        float_note = _zoo_state(float_spec, profile, zoo_seed, zoo_root)
        float_path = checkpoint_path(float_spec, profile, zoo_root)
        n = 0
        if float_spec.arch not in floats:
            floats[float_spec.arch] = None
            if not float_note:
                acc, n = _accuracy(float_path, float_spec, profile, data_root, zoo_seed, device)
                floats[float_spec.arch] = acc
        row.float_accuracy = floats[float_spec.arch]
        qat_note = _zoo_state(spec, profile, zoo_seed, zoo_root)
        if not qat_note:
            path = checkpoint_path(spec, profile, zoo_root)
            row.qat, n = _accuracy(path, spec, profile, data_root, zoo_seed, device)
        if not float_note:
            for count in images:
                built = ensure_ptq_checkpoint(
                    float_path,
                    spec,
                    profile,
                    data_root=data_root,
                    images=count,
                    seed=seed,
                    root=root,
                    device=device,
                    reestimate_bn=reestimate_bn,
                )
                # a CPU-sized build evaluated itself on the set its seed chooses
                meta = read_checkpoint_metadata(built)["meta"]
                if "val_accuracy" in meta and seed == zoo_seed:
                    row.ptq[count], n = float(meta["val_accuracy"]), int(meta["val_samples"])
                else:
                    acc, n = _accuracy(built, spec, profile, data_root, zoo_seed, device)
                    row.ptq[count] = acc
        row.note = "; ".join(note for note in (float_note, qat_note) if note)
        yield row, n


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _gap(row: GapRow, count: int) -> float | None:
    ptq = row.ptq.get(count)
    return None if ptq is None or row.qat is None else 100 * (ptq - row.qat)


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def render(rows: Sequence[GapRow], images: Sequence[int], header: str) -> list[str]:
    """The Markdown lines: ``header``, one row per model, then the mean gap per quantizer x bits."""
    lines = [header, ""]
    columns = ["model", "float", "QAT"]
    for count in images:
        columns += [f"PTQ ({count})", f"gap ({count})"]
    lines += [
        "| " + " | ".join(columns) + " | note |",
        "|---|" + "---:|" * (len(columns) - 1) + "---|",
    ]
    for row in rows:
        cells = [row.spec.id, _pct(row.float_accuracy), _pct(row.qat)]
        for count in images:
            cells += [_pct(row.ptq.get(count)), _points(_gap(row, count))]
        lines.append("| " + " | ".join(cells) + f" | {row.note} |")
    groups: dict[tuple[str, int], list[GapRow]] = {}
    for row in rows:
        groups.setdefault((row.spec.quantizer, row.spec.bits or 32), []).append(row)
    lines += ["", "Mean gap (PTQ - QAT, points) over the architectures measured:", ""]
    lines += ["| quantizer | bits | " + " | ".join(f"gap ({c})" for c in images) + " |"]
    lines += ["|---|---:|" + "---:|" * len(images)]
    for (quantizer, bits), members in sorted(groups.items()):
        means = []
        for count in images:
            gaps = [g for g in (_gap(r, count) for r in members) if g is not None]
            means.append(_points(statistics.fmean(gaps)) if gaps else "-")
        lines.append(f"| {quantizer} | {bits} | " + " | ".join(means) + " |")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m robustmq.ptq_perf", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--profile", default="synthetic", help="(default: synthetic)")
    parser.add_argument("--data-root", default=None, help="(default: the profile's)")
    parser.add_argument("--zoo-root", default=None, help="(default: the zoo in the user cache)")
    parser.add_argument("--arch", nargs="+", default=list(GRID_ARCHS), help="(default: all four)")
    parser.add_argument(
        "--quantizer", nargs="+", default=list(list_quantizers()), help="(default: all three)"
    )
    parser.add_argument("--bits", nargs="+", type=int, default=list(GRID_BITS), help="(2 4 6 8)")
    parser.add_argument(
        "--images",
        nargs="+",
        type=int,
        default=[DEFAULT_PTQ_IMAGES],
        help=f"calibration images, one PTQ model per value (default: {DEFAULT_PTQ_IMAGES})",
    )
    parser.add_argument("--seed", type=int, default=0, help="calibration seed (default: 0)")
    parser.add_argument(
        "--zoo-seed", type=int, default=0, help="the zoo's seed; picks the eval set (default: 0)"
    )
    parser.add_argument("--device", default="cpu", help="(default: cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument(
        "--no-bn-reestimation",
        dest="reestimate_bn",
        action="store_false",
        help="keep the float model's BatchNorm statistics (default: re-estimated)",
    )
    parser.add_argument(
        "--root", default=None, help="keep the PTQ checkpoints here (default: a temporary folder)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the PTQ-vs-QAT table (Markdown) for the models asked for; progress to stderr."""
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    # the synthetic zoo predates content_sha256: its weights are still verified on every read
    warnings.filterwarnings("ignore", category=UnverifiedCheckpointWarning)
    specs = [ModelSpec(a, q, b) for a in args.arch for q in args.quantizer for b in args.bits]
    command = "python -m robustmq.ptq_perf " + shlex.join(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    rows: list[GapRow] = []
    n = 0
    with tempfile.TemporaryDirectory(prefix="robustmq-ptq-") as tmp:
        root = args.root if args.root is not None else tmp
        for i, (row, count) in enumerate(
            measure(
                args.profile,
                specs,
                args.images,
                root=root,
                seed=args.seed,
                zoo_seed=args.zoo_seed,
                data_root=args.data_root,
                zoo_root=args.zoo_root,
                device=args.device,
                reestimate_bn=args.reestimate_bn,
            ),
            1,
        ):
            rows.append(row)
            n = count or n
            ptq = " ".join(f"{c}:{_pct(a)}" for c, a in row.ptq.items())
            print(
                f"[{i}/{len(specs)}] {row.spec.id} QAT {_pct(row.qat)} PTQ {ptq} "
                f"({time.perf_counter() - start:.0f} s) {row.note}",
                file=sys.stderr,
                flush=True,
            )
    bn = "BatchNorm re-estimated" if args.reestimate_bn else "float BatchNorm statistics"
    header = (
        f"PTQ vs QAT, profile {args.profile}: accuracy (%) on n = {n} evaluation images "
        f"(seed {args.zoo_seed}); PTQ = the zoo's float checkpoint, quantize_model(academic), "
        f"calibrated on N class-balanced training images (seed {args.seed}), {bn}, no "
        f"fine-tuning; "
        f"QAT = the zoo's checkpoint; gap = PTQ - QAT (points); "
        f"{time.perf_counter() - start:.0f} s on {args.device} ({args.threads} thread(s)). "
        f"Command: `{command}`"
    )
    for line in render(rows, args.images, header):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
