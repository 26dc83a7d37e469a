"""Options defined once, shown twice: as ``--rmq-<name>`` in pytest and ``--<name>`` in the CLI.

An :class:`Option` is plain data (name, type, default, help, choices, whether it can change a
number); :func:`add_pytest_option` and :func:`add_cli_option` turn it into a pytest or argparse
option. The benchmark's own options and those a noise family adds (see
:class:`robustmq.results.family.Family`) are Options, so ``pytest --help``, the CLI and the
settings stored in every record agree on names, defaults and meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "DATA_ROOT",
    "DEVICE",
    "PROFILE",
    "SEED",
    "ZOO_ROOT",
    "Option",
    "add_cli_option",
    "add_pytest_option",
    "resolve_device",
]


class _AddOption(Protocol):
    def __call__(self, *names: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Option:
    """One option: ``name`` (``data_root``: flag ``--rmq-data-root`` / ``--data-root``).

    ``kind`` is ``str``, ``int``, ``float`` or ``bool`` (a flag that is off by default);
    ``neutral`` options never change a number (where results go, how a run is driven), so they
    are left out of the journal's cell keys.
    """

    name: str
    default: Any
    help: str
    kind: type = str
    choices: tuple[str, ...] | None = None
    neutral: bool = False
    metavar: str | None = None

    @property
    def flag(self) -> str:
        """The CLI flag: ``--data-root``."""
        return "--" + self.name.replace("_", "-")

    @property
    def pytest_flag(self) -> str:
        """The pytest flag: ``--rmq-data-root``."""
        return "--rmq-" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """Where pytest keeps the value: ``rmq_data_root``."""
        return "rmq_" + self.name

    def _kwargs(self) -> dict[str, Any]:
        if self.kind is bool:
            return {"action": "store_true", "default": bool(self.default), "help": self.help}
        kwargs: dict[str, Any] = {"default": self.default, "help": self.help}
        if self.kind is not str:
            kwargs["type"] = self.kind
        if self.choices is not None:
            kwargs["choices"] = self.choices
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        return kwargs


def add_pytest_option(add: _AddOption, option: Option) -> None:
    """Add ``option`` as ``--rmq-<name>`` through a pytest group's ``addoption``."""
    add(option.pytest_flag, dest=option.dest, **option._kwargs())


def add_cli_option(add: _AddOption, option: Option, *, flag: str | None = None) -> None:
    """Add ``option`` as ``--<name>`` (or ``flag``) through argparse's ``add_argument``."""
    add(flag or option.flag, dest=option.name, **option._kwargs())


def resolve_device(name: str, cuda_available: Callable[[], bool] | None = None) -> str:
    """``auto`` becomes ``cuda`` when a GPU is present, else ``cpu``; other names stay as given."""
    if name != "auto":
        return name
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available
    return "cuda" if cuda_available() else "cpu"


#: The options the benchmark and the CLI share (the CLI names the zoo folder ``--root`` too).
PROFILE = Option(
    "profile", "synthetic", "profile: synthetic, cifar10 or imagenet (default: synthetic)"
)
DATA_ROOT = Option(
    "data_root",
    None,
    "data folder of the profile (default: generated for synthetic; required otherwise)",
)
ZOO_ROOT = Option(
    "zoo_root", None, "folder of the checkpoint zoo (default: $ROBUSTMQ_HOME/zoo/<profile>)"
)
DEVICE = Option("device", "auto", "torch device (default: auto = cuda when present, else cpu)")
SEED = Option("seed", 0, "seed of every random choice (default: 0)", kind=int)
