"""Typed errors of RobustMQ.

Every error derives from :class:`RobustMQError` and from the builtin it resembles, so callers may
catch either ``RobustMQError`` or the familiar builtin (``KeyError``, ``ValueError``, ...).
Messages name the file, option or value at fault and what was expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RobustMQError(Exception):
    """Base class of every error raised by RobustMQ."""

    def __str__(self) -> str:  # KeyError would otherwise print the message quoted
        return str(self.args[0]) if self.args else self.__class__.__name__


class UnknownNameError(RobustMQError, KeyError):
    """A registry was asked for a name it does not hold."""

    def __init__(self, kind: str, name: object, available: Iterable[str]) -> None:
        choices = sorted(available)
        close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(
            f"unknown {kind} {name!r} ({type(name).__name__}); expected one of "
            f"{', '.join(choices)}.{hint}"
        )
        self.kind = kind
        self.name = name
        self.available = choices
        self.suggestions = close

    def __reduce__(
        self,
    ) -> tuple[type, tuple[str, object, list[str]]]:  # picklable across processes
        return (type(self), (self.kind, self.name, self.available))


class UnknownModelError(UnknownNameError):
    """An architecture name that is not registered."""


class UnknownQuantizerError(UnknownNameError):
    """A quantizer name that is not registered."""


class InvalidOptionError(RobustMQError, ValueError):
    """An option holds a value outside its allowed range."""


class InvalidBitsError(InvalidOptionError):
    """A bit-width outside 2..8 that is not 32 (32 means: not quantized)."""

    def __init__(self, bits: object, option: str = "bits") -> None:
        super().__init__(
            f"{option}={bits!r} ({type(bits).__name__}) is not a supported bit-width; "
            "expected an integer in 2..8, or 32 for floating point"
        )
        self.bits = bits
        self.option = option

    def __reduce__(self) -> tuple[type, tuple[object, str]]:  # picklable across processes
        return (type(self), (self.bits, self.option))


class DuplicateNameError(RobustMQError, ValueError):
    """A registry already holds an entry under that name."""


class CheckpointError(RobustMQError):
    """Base class of checkpoint problems."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


class CorruptCheckpointError(CheckpointError, ValueError):
    """The file exists but is not a readable checkpoint (truncated, garbage, an HTML page...)."""


class UnsafeCheckpointError(CorruptCheckpointError):
    """A pickle that would execute code or build arbitrary objects; it was refused, not run."""


class CheckpointMismatchError(CheckpointError, ValueError):
    """The checkpoint's metadata disagrees with what the caller asked for."""


class StateDictKeysError(CheckpointError, KeyError):
    """A state_dict has missing or unexpected keys, or tensors of the wrong shape."""


class RecordError(RobustMQError, ValueError):
    """A result record whose fields are missing or of the wrong type (named in the message)."""


class ResultsFileError(RobustMQError, ValueError):
    """A results folder or file that is missing or cannot be read."""


class BaselineMismatchError(InvalidOptionError):
    """A regression-gate baseline that measured something else (profile, samples, settings)."""


class ModelDefinitionError(RobustMQError, ValueError):
    """A registered model that cannot be built or used as registered: its factory raised or did
    not return an ``nn.Module``, or its output is not ``N x num_classes``."""


class UnsupportedLayerError(InvalidOptionError):
    """A model holds a layer type the quantizer cannot convert (it converts Conv2d and Linear)."""
