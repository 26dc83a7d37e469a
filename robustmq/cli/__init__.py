"""The ``robustmq`` command line: ``list``, ``layers``, ``train``, ``zoo build``, ``ptq``, and
``merge``, ``report``, ``compare`` and ``findings`` on finished runs.

This is the presentation layer: it prints; the library modules it calls never do. The commands
live in :mod:`robustmq.cli.model_commands` (models and the zoo), :mod:`robustmq.cli.ptq_command`
(post-training quantization) and :mod:`robustmq.cli.run_commands` (finished runs). Every command
takes ``--import MODULE_OR_FILE`` (:mod:`robustmq.cli.imports`), imported before it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from robustmq._version import __version__
from robustmq.cli import model_commands, ptq_command, run_commands
from robustmq.cli.imports import add_import_option, import_all
from robustmq.exceptions import RobustMQError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``robustmq`` command."""
    parser = argparse.ArgumentParser(prog="robustmq", description="RobustMQ benchmark tools")
    parser.add_argument("--version", action="version", version=f"robustmq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    model_commands.add_commands(sub)
    ptq_command.add_commands(sub)
    run_commands.add_commands(sub)
    add_import_option(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status: 2 with a one-line message on bad input (a
    typed error, a file that cannot be read or written, or an ``--import`` that fails)."""
    args = build_parser().parse_args(argv)
    try:
        import_all(args.imports)
        return int(args.func(args))
    except (RobustMQError, OSError) as exc:
        message = " ".join(str(exc).split())  # one line
        print(f"robustmq: error: {message}", file=sys.stderr)
        return 2
