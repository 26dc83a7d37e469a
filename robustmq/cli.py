"""The ``robustmq`` command line: ``robustmq list`` and ``robustmq layers ARCH QUANTIZER BITS``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from robustmq._version import __version__
from robustmq.exceptions import RobustMQError
from robustmq.models import create_model, list_models
from robustmq.quant import POLICIES, describe_quantization, list_quantizers, quantize_model


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
