"""Performance figures, printed (never asserted): ``python -m robustmq.perf quant``.

``quant``: CPU eval throughput (images/s) of every architecture at width 1.0, 224 px, batch 32,
float vs each quantizer at 4 bits, and the quantized / float ratio (medians of interleaved rounds).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from robustmq.models import create_model, list_models
from robustmq.quant import calibrate, list_quantizers, quantize_model


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m robustmq.perf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quant", help="float vs quantized eval throughput")
    q.add_argument("--arch", nargs="*", default=list_models(), help="architectures (default: all)")
    q.add_argument("--bits", type=int, default=4, help="bit-width (default: 4)")
    q.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    q.add_argument("--size", type=int, default=224, help="image size in px (default: 224)")
    q.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default: 2)")
    q.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
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
