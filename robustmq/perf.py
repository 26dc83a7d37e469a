"""Performance figures, printed (never asserted): ``python -m robustmq.perf quant``.

``quant``: CPU eval throughput (images/s) of every architecture at width 1.0, 224 px, batch 32,
float vs each quantizer at 4 bits, and the quantized / float ratio (medians of interleaved rounds).

``quantizer``: milliseconds per call of each family's activation quantizer alone, on one
channels-last activation tensor, without autograd (the evaluation path) and with an input
gradient (forward only, the attack path), next to one ReLU over the same tensor for scale.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable, Sequence

import torch
from torch import nn

from robustmq.exceptions import InvalidBitsError
from robustmq.models import create_model, list_models
from robustmq.quant import (
    Quantizer,
    calibrate,
    get_quantizer,
    list_quantizers,
    quantize_model,
    validate_bits,
)


def throughput(model: nn.Module, batch: torch.Tensor, seconds: float, warmup: int = 2) -> float:
    """Images per second of ``model`` on ``batch`` in inference mode, over at least ``seconds``."""
    model.eval()
    with torch.inference_mode():
        for _ in range(warmup):
            model(batch)
        start = time.perf_counter()
        runs = 0
        while True:
            model(batch)
            runs += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and runs >= 3:
                return runs * batch.shape[0] / elapsed


def quant_table(
    archs: Sequence[str], bits: int, batch_size: int, size: int, seconds: float, rounds: int = 3
) -> list[dict[str, object]]:
    """One row per (architecture, quantizer): float and quantized throughput, medians of rounds."""
    torch.manual_seed(0)
    batch = torch.rand(batch_size, 3, size, size)
    rows: list[dict[str, object]] = []
    for arch in archs:
        float_model = create_model(arch).eval()
        for name in list_quantizers():
            q = quantize_model(float_model, name, bits)
            calibrate(q, [batch[:8]])
            # interleaved rounds, medians: the machine's speed drifts between measurements
            base_runs, quant_runs = [], []
            for _ in range(rounds):
                base_runs.append(throughput(float_model, batch, seconds))
                quant_runs.append(throughput(q, batch, seconds))
            base, rate = statistics.median(base_runs), statistics.median(quant_runs)
            rows.append(
                {"arch": arch, "quantizer": name, "fp32": base, "quant": rate, "ratio": rate / base}
            )
    return rows


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def quantizer_table(
    shape: Sequence[int], bits: int, repeats: int, seed: int = 0
) -> list[dict[str, object]]:
    """One row per quantizer family: median ms per activation-quantizer call on both paths."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g).relu().contiguous(memory_format=torch.channels_last)
    tracked = x.clone().requires_grad_(True)
    rows: list[dict[str, object]] = []
    for name in list_quantizers():
        q = get_quantizer(name).activation_quantizer(bits, signed=False).eval()
        calibrate(q, [x])

        def plain(q: Quantizer = q) -> object:
            with torch.inference_mode():
                return q(x)

        def gradient(q: Quantizer = q) -> object:
            return q(tracked)

        rows.append(
            {
                "quantizer": name,
                "inference_ms": _median_ms(plain, repeats),
                "gradient_ms": _median_ms(gradient, repeats),
            }
        )
    with torch.inference_mode():
        relu = _median_ms(lambda: torch.relu(x), repeats)
    rows.append({"quantizer": "(one relu, for scale)", "inference_ms": relu, "gradient_ms": None})
    return rows


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _bits(text: str) -> int:
    try:
        return validate_bits(int(text), "--bits")
    except (ValueError, InvalidBitsError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m robustmq.perf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quant", help="float vs quantized eval throughput")
    q.add_argument("--arch", nargs="*", default=list_models(), help="architectures (default: all)")
    q.add_argument("--bits", type=_bits, default=4, help="bit-width (default: 4)")
    q.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    q.add_argument("--size", type=int, default=224, help="image size in px (default: 224)")
    q.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default: 2)")
    q.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    a = sub.add_parser("quantizer", help="ms per activation-quantizer call, both paths")
    a.add_argument("--shape", type=_positive_int, nargs=4, default=[32, 64, 56, 56], help="NCHW")
    a.add_argument("--bits", type=_bits, default=4, help="bit-width (default: 4)")
    a.add_argument(
        "--repeats", type=_positive_int, default=15, help="timed calls, median (default: 15)"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    if args.command == "quantizer":
        print(
            f"# activation quantizer, ms per call (median of {args.repeats}): shape "
            f"{tuple(args.shape)} channels-last, {args.bits}-bit, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads"
        )
        print("| quantizer | no gradient ms | input gradient ms |")
        print("|---|---:|---:|")
        for r in quantizer_table(args.shape, args.bits, args.repeats):
            grad = "-" if r["gradient_ms"] is None else f"{r['gradient_ms']:.2f}"
            print(f"| {r['quantizer']} | {r['inference_ms']:.2f} | {grad} |")
        return 0
    print(
        f"# eval throughput, images/s: batch {args.batch_size}, {args.size} px, {args.bits}-bit, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| arch | quantizer | fp32 img/s | quantized img/s | ratio |")
    print("|---|---|---:|---:|---:|")
    rows = quant_table(args.arch, args.bits, args.batch_size, args.size, args.seconds, args.rounds)
    for r in rows:
        print(
            f"| {r['arch']} | {r['quantizer']} | {r['fp32']:.1f} | {r['quant']:.1f} "
            f"| {r['ratio']:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
