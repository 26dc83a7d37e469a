"""Reading checkpoint files: which format a file is, its safetensors header, its tensors.

Private to :mod:`robustmq.checkpoints`; every error names the file and what was expected.

A safetensors header length over :data:`MAX_HEADER_BYTES` is refused before the header is read
(:class:`CheckpointHeaderTooLargeError`): the length field is the file's first 8 bytes, and a
damaged or hostile file claiming gigabytes would otherwise be allocated and read.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from robustmq.exceptions import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    UnsafeCheckpointError,
)


class CheckpointHeaderTooLargeError(CorruptCheckpointError):
    """A safetensors header longer than :data:`MAX_HEADER_BYTES`; refused before it is read."""


#: The longest safetensors header read: safetensors' own limit (``MAX_HEADER_SIZE = 100_000_000``
#: in ``safetensors/src/tensor.rs``, error ``HeaderTooLarge``), so any file it can load loads here.
MAX_HEADER_BYTES = 100_000_000
_SNIFF = 1024  # bytes read to tell the format


def _existing_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise CheckpointNotFoundError(
            f"checkpoint {p} does not exist; expected a .safetensors or .pth file"
        )
    if not p.is_file():
        raise CheckpointNotFoundError(
            f"checkpoint {p} is a {'folder' if p.is_dir() else 'special file'}; expected a file"
        )
    return p


def _check_header_length(path: Path, data: bytes, size: int) -> None:
    """CheckpointHeaderTooLargeError if ``data`` starts a safetensors header over the limit."""
    if len(data) < 9 or data[8:9] != b"{":
        return
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES:
        raise CheckpointHeaderTooLargeError(
            f"{path}: the safetensors header claims {n:,} bytes (the file has {size:,}), over the "
            f"limit of {MAX_HEADER_BYTES:,} (safetensors' own MAX_HEADER_SIZE); refused before "
            "reading it: the file is damaged or not a checkpoint"
        )


def _head(path: Path) -> bytes:
    """The file's first bytes: enough to sniff its format and, for safetensors, its whole header."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF)
        size = os.fstat(f.fileno()).st_size
        _check_header_length(path, head, size)
        if len(head) >= 8:
            (n,) = struct.unpack("<Q", head[:8])
            if len(head) < 8 + n <= size and n <= MAX_HEADER_BYTES:
                head += f.read(8 + n - len(head))
    return head


def _read_file(path: Path) -> bytes:
    """All the file's bytes, from one open; a safetensors header over the limit is refused first."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF)
        _check_header_length(path, head, os.fstat(f.fileno()).st_size)
        return head + f.read()


def _sniff(path: Path, data: bytes, size: int) -> str:
    """'safetensors', 'torch-zip' or 'torch-pickle' from the file's first bytes; else an error."""
    head = data[:1024]
    if not head:
        raise CorruptCheckpointError(f"{path}: the file is empty; expected a checkpoint")
    text = head.lstrip().lower()
    if (
        text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))
        or b"<html" in text[:512]
    ):
        raise CorruptCheckpointError(
            f"{path}: this is an HTML page, not a checkpoint (a download that returned a web "
            "page, e.g. a login or error page); expected .safetensors or torch.save output"
        )
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    # safetensors: an 8-byte little-endian header length, then the JSON header. Checked before
    # the pickle marker, since a header length may well end in the byte 0x80.
    if len(head) >= 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if n <= size - 8:
            return "safetensors"
    if head[:1] == b"\x80":
        return "torch-pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"  # header length beyond the file: reported as truncated later
    raise CorruptCheckpointError(
        f"{path}: unrecognised file format (first bytes {head[:16]!r}); expected a safetensors "
        "file or a torch.save file"
    )


def _safetensors_metadata(path: Path, data: bytes, size: int) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file; ``data`` holds its first bytes and header."""
    _check_header_length(path, data, size)
    (n,) = struct.unpack("<Q", data[:8])
    if n > size - 8:
        raise CorruptCheckpointError(
            f"{path}: truncated safetensors file (header says {n} bytes, the file has "
            f"{size - 8} after the length field)"
        )
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptCheckpointError(
            f"{path}: corrupt safetensors header ({type(exc).__name__})"
        ) from exc
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    return metadata if isinstance(metadata, dict) else {}


def _safetensors_tensors(path: Path, data: bytes) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(
            f"{path}: unreadable safetensors file, truncated or corrupt ({exc})"
        ) from exc


def _torch_state_dict(path: Path, data: bytes) -> dict[str, Tensor]:
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path}: refused to unpickle it: the file holds objects other than tensors and plain "
            f"containers (possibly code), which was not executed ({str(exc).splitlines()[0]})"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CorruptCheckpointError(
            f"{path}: unreadable torch file, truncated or corrupt ({exc})"
        ) from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CorruptCheckpointError(
            f"{path}: expected a state_dict (a dict of tensors, optionally under 'state_dict' or "
            f"'model'), found {type(obj).__name__}"
        )
    if obj and all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj
