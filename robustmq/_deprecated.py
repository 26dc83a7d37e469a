"""Old module paths that keep working: each one becomes an alias of the module's new home."""

from __future__ import annotations

import sys
import warnings
from types import ModuleType


def alias_module(old: str, new: ModuleType) -> None:
    """Make ``import old`` give the module ``new`` (with a DeprecationWarning naming both)."""
    warnings.warn(
        f"{old} is deprecated; import {new.__name__} instead", DeprecationWarning, stacklevel=3
    )
    sys.modules[old] = new
