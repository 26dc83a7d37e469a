"""Checks of the benchmark's options before any cell runs (the plugin calls :func:`validate`).

Each check raises :class:`~robustmq.exceptions.InvalidOptionError` naming the option, the value
and what was expected, so that a run stops at once instead of failing after work was done:
output folders creatable and writable, ``--rmq-save-baseline`` a file path, ``--rmq-device``
present, ``--rmq-checkpoints`` an existing folder or a pattern of known fields, data and zoo roots
not files, ``--rmq-archs`` / ``--rmq-quantizers`` / ``--rmq-bits`` naming registered
architectures (the models a conftest registered at startup included), quantizers and 2..8;
then each noise family's own options (``Family.check_options``: e.g. ``--rmq-imagenet-c``). The
baseline itself is read and compared by :mod:`robustmq.benchmark.gate`.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

from robustmq.benchmark.settings import BenchSettings
from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError
from robustmq.results.family import family_order

__all__ = [
    "CHECKPOINT_FIELDS",
    "check_checkpoints",
    "check_device",
    "check_file_path",
    "check_folder",
    "validate",
]

#: The fields a ``--rmq-checkpoints`` pattern may use (``BenchContext.checkpoint_for`` fills them)
#: and an example value of each, for a float and a quantized model.
CHECKPOINT_FIELDS = {
    "arch": ("resnet18", "resnet18"),
    "quantizer": ("fp32", "lsq"),
    "bits": (32, 4),
    "id": ("resnet18-fp32", "resnet18-lsq-4bit"),
}


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself or its nearest ancestor that exists."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_parent(flag: str, path: Path, what: str) -> None:
    """``path`` can be created: its nearest existing ancestor is a writable folder."""
    base = _existing_ancestor(path.parent)
    if not base.is_dir():
        raise InvalidOptionError(
            f"{flag}={path}: {base} is a file, so {what} cannot be created there; expected a path "
            "in a folder"
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise InvalidOptionError(
            f"{flag}={path}: the folder {base} is not writable; expected a path where {what} can "
            "be written"
        )


def check_folder(flag: str, value: str | os.PathLike[str]) -> None:
    """``value`` is a writable folder, or can be created as one (not a file)."""
    path = Path(value)
    if path.exists():
        if not path.is_dir():
            raise InvalidOptionError(f"{flag}={path}: is a file; expected a folder to write into")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InvalidOptionError(f"{flag}={path}: the folder is not writable")
        return
    _writable_parent(flag, path, "the folder")


def check_file_path(flag: str, value: str | os.PathLike[str]) -> None:
    """``value`` is a file that can be written: not a folder, in a writable (or creatable) one."""
    path = Path(value)
    if path.is_dir():
        raise InvalidOptionError(f"{flag}={path}: is a folder; expected the path of a file")
    _writable_parent(flag, path, "the file")


def check_device(value: str) -> None:
    """``value`` (after ``auto`` was resolved) names a torch device present on this machine."""
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as exc:
        raise InvalidOptionError(
            f"--rmq-device={value!r} is not a torch device ({exc}); expected auto, cpu, cuda or "
            "cuda:<index>"
        ) from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidOptionError(
                f"--rmq-device={value!r}: no CUDA GPU is available; expected cpu (or auto)"
            )
        if device.index is not None and device.index >= count:
            raise InvalidOptionError(
                f"--rmq-device={value!r}: this machine has {count} CUDA GPU(s); expected cuda:0 .. "
                f"cuda:{count - 1}"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidOptionError(f"--rmq-device={value!r}: MPS is not available; expected cpu")


def _parse(value: str) -> list[tuple[str, str | None]]:
    """(literal text, field name) pairs of a format pattern (ValueError when unbalanced)."""
    try:
        return [(text, field) for text, field, _, _ in string.Formatter().parse(value)]
    except ValueError as exc:
        raise InvalidOptionError(
            f"--rmq-checkpoints={value!r} is not a valid pattern ({exc}); expected fields in "
            "braces such as '{id}.safetensors' (a literal brace is written twice)"
        ) from exc


def check_checkpoints(value: str) -> None:
    """A folder that exists, or a pattern whose fields are known and whose fixed folder exists."""
    if "{" not in value and "}" not in value:
        path = Path(value)
        if not path.is_dir():
            what = "is a file" if path.exists() else "no such folder"
            raise InvalidOptionError(
                f"--rmq-checkpoints={value}: {what}; expected a folder holding "
                "<arch>-fp32.safetensors (or <arch>-fp32.pth) and "
                "<arch>-<quantizer>-<bits>bit.safetensors, or a pattern such as "
                "'/ckpts/{id}.safetensors'"
            )
        return
    parsed = _parse(value)
    fields = [field for _, field in parsed if field is not None]
    known = ", ".join("{" + name + "}" for name in CHECKPOINT_FIELDS)
    unknown = [f for f in fields if re.split(r"[.\[]", f)[0] not in CHECKPOINT_FIELDS]
    if unknown or not fields:
        named = (
            "unknown field " + ", ".join("{" + f + "}" for f in unknown) if unknown else "no field"
        )
        raise InvalidOptionError(f"--rmq-checkpoints={value!r}: {named}; expected {known}")
    for example in (0, 1):
        try:
            value.format(**{name: values[example] for name, values in CHECKPOINT_FIELDS.items()})
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise InvalidOptionError(
                f"--rmq-checkpoints={value!r} cannot be filled in ({type(exc).__name__}: {exc}); "
                f"expected a pattern using {known}"
            ) from exc
    fixed = ""  # the pattern's text before its first field
    for text, field in parsed:
        fixed += text
        if field is not None:
            break
    folder = Path(fixed[: fixed.rfind(os.sep) + 1])
    if os.sep in fixed and not folder.is_dir():
        raise InvalidOptionError(
            f"--rmq-checkpoints={value!r}: no such folder {folder}; expected the pattern of "
            "existing checkpoint files"
        )


def validate(settings: BenchSettings) -> None:
    """Every check that applies to ``settings`` (the device already resolved from ``auto``)."""
    settings.grid()  # --rmq-archs, --rmq-quantizers, --rmq-bits name what exists
    check_folder("--rmq-output", settings.output)
    if settings.save_baseline:
        check_file_path("--rmq-save-baseline", settings.save_baseline)
    check_device(settings.device)
    if settings.checkpoints is not None:
        check_checkpoints(settings.checkpoints)
    for flag, value in (
        ("--rmq-data-root", settings.data_root),
        ("--rmq-zoo-root", settings.zoo_root),
    ):
        if value is not None and Path(value).exists() and not Path(value).is_dir():
            raise InvalidOptionError(f"{flag}={value}: is a file; expected a folder")
    for family in family_order():
        family.check_options(settings)
    profile = get_profile(settings.profile)
    root = settings.data_root
    if root is not None and profile.synthetic is None and not Path(root).is_dir():
        raise InvalidOptionError(
            f"--rmq-data-root={root}: no such folder; expected the folder the {profile.name} "
            "profile reads its images from"
        )
