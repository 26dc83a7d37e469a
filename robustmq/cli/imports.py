"""``--import MODULE_OR_FILE``: the user's code (``robustmq.register_model`` calls) loaded first.

Every ``robustmq`` subcommand takes ``--import`` (repeatable). Each value is imported before the
command runs, in the order given: a value ending in ``.py`` or naming an existing file is run as a
module from that path (once per process, under a name derived from its resolved path); anything
else is a module name, imported as ``python -m`` would (the current folder first on
``sys.path``). A failure is an :class:`~robustmq.exceptions.InvalidOptionError` naming the value,
the error and where it was raised, so the command exits with status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

from robustmq.exceptions import InvalidOptionError

__all__ = ["FLAG", "add_import_option", "import_all", "import_user_code", "leaf_parsers"]

FLAG = "--import"
_HELP = (
    "import this module (a dotted name) or run this .py file before the command, e.g. to call "
    "robustmq.register_model; repeatable (default: none)"
)


def _is_file(value: str) -> bool:
    return value.endswith(".py") or os.sep in value or Path(value).is_file()


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" ({last.filename}:{last.lineno})"


def _failed(value: str, exc: BaseException) -> InvalidOptionError:
    return InvalidOptionError(
        f"{FLAG} {value}: importing it raised {type(exc).__name__}: {exc}{_where(exc)}; "
        "expected a module or .py file that imports cleanly"
    )


def _import_file(value: str) -> ModuleType:
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidOptionError(
            f"{FLAG} {value}: no such file ({path.resolve()}); expected a .py file or a module name"
        )
    resolved = path.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    name = f"_robustmq_import_{digest}_{''.join(c if c.isalnum() else '_' for c in path.stem)}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise InvalidOptionError(f"{FLAG} {value}: {resolved} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise _failed(value, exc) from exc
    return module


def import_user_code(value: str) -> ModuleType:
    """Import ``value`` (a module name, or a ``.py`` file's path) and return the module."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidOptionError(
            f"{FLAG} {value!r}: expected a module name or the path of a .py file"
        )
    if _is_file(value):
        return _import_file(value)
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # as ``python -m`` and ``python -c`` do
    try:
        return importlib.import_module(value)
    except ModuleNotFoundError as exc:
        if exc.name is not None and value.split(".")[0] == exc.name.split(".")[0]:
            raise InvalidOptionError(
                f"{FLAG} {value}: no module named {exc.name!r} (searched sys.path, the current "
                "folder first); expected an importable module name, or the path of a .py file"
            ) from exc
        raise _failed(value, exc) from exc
    except Exception as exc:
        raise _failed(value, exc) from exc


def import_all(values: Iterable[str] | None) -> list[ModuleType]:
    """:func:`import_user_code` of each value, in order (None: nothing)."""
    return [import_user_code(value) for value in values or ()]


def leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers of ``parser``'s commands that have no subcommands (``zoo build``, ``ptq``)."""
    children = [
        child
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for child in dict.fromkeys(action.choices.values())
    ]
    if not children:
        yield parser
    for child in children:
        yield from leaf_parsers(child)


def add_import_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--import`` (``dest="imports"``, a list, default None) to every leaf command."""
    for leaf in leaf_parsers(parser):
        leaf.add_argument(
            FLAG, dest="imports", action="append", metavar="MODULE_OR_FILE", help=_HELP
        )
