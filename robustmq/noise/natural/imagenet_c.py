"""Reader of the released ImageNet-C files (``--rmq-imagenet-c DIR``): nothing is generated then.

Layout: ``<root>/<corruption>/<severity>/<wnid>/<file>.JPEG``. A sample's id is its path relative
to the split folder (``<wnid>/<file>.JPEG``), so the corrupted version of sample ``sid`` is
``<root>/<corruption>/<severity>/<sid>``. The files are the 224 x 224 centre crops, stored as JPEG
quality 85; they are decoded with Pillow to RGB and used as they are (no resize, no crop): a file
of another size than the profile's crop is an error naming it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from robustmq.data.errors import DataFolderError, ImageDecodeError
from robustmq.data.pipeline import decode_pil
from robustmq.exceptions import InvalidOptionError
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names, get_corruption

__all__ = ["LAYOUT", "OPTION", "check_imagenet_c_root", "imagenet_c_path", "read_imagenet_c"]

#: The option that names the folder.
OPTION = "--rmq-imagenet-c"
#: The folder layout, for messages.
LAYOUT = "<root>/<corruption>/<severity>/<wnid>/<file>.JPEG"


def imagenet_c_path(
    root: str | os.PathLike[str], corruption: str, severity: int, sample_id: str
) -> Path:
    """Where sample ``sample_id``'s file of (corruption, severity) lies under ``root``."""
    return Path(root) / corruption / str(severity) / sample_id


def _check_folder(root: Path, corruption: str, severity: int) -> Path:
    if not root.is_dir():
        raise DataFolderError(
            f"ImageNet-C folder {root} (from {OPTION}) does not exist or is not a folder; "
            f"expected the layout {LAYOUT}"
        )
    folder = root / corruption / str(severity)
    if not folder.is_dir():
        found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        raise DataFolderError(
            f"ImageNet-C folder {root} (from {OPTION}) lacks {corruption}/{severity}/ "
            f"(corruption folders found: {', '.join(found) or 'none'}); expected the layout "
            f"{LAYOUT}"
        )
    return folder


def check_imagenet_c_root(root: str | os.PathLike[str]) -> None:
    """Raise InvalidOptionError unless ``root`` is a folder holding at least one corruption's
    severity folders (``<root>/<corruption>/<1..5>/``), so a wrong path stops a run at its start.
    """
    path = Path(root).expanduser()
    if not path.is_dir():
        raise InvalidOptionError(
            f"{OPTION}={root}: no such folder; expected the released ImageNet-C files in the "
            f"layout {LAYOUT}"
        )
    names = corruption_names()
    found = [n for n in names if any((path / n / str(s)).is_dir() for s in SEVERITIES)]
    if not found:
        raise InvalidOptionError(
            f"{OPTION}={root}: holds none of the 15 corruptions' folders ({names[0]}/1/, ...); "
            f"expected the layout {LAYOUT}"
        )


def _read_one(path: Path, size: int) -> np.ndarray:
    if not path.is_file():
        raise DataFolderError(
            f"ImageNet-C file {path} (from {OPTION}) does not exist; expected one file per "
            f"evaluation sample in the layout {LAYOUT}"
        )
    image = decode_pil(path)
    if image.shape[:2] != (size, size):
        raise ImageDecodeError(
            f"ImageNet-C file {path} is {image.shape[0]} x {image.shape[1]} pixels; expected "
            f"{size} x {size} (the profile's crop, as the released files are)",
            path=str(path),
        )
    return image


def read_imagenet_c(
    root: str | os.PathLike[str],
    corruption: str,
    severity: int,
    sample_ids: Sequence[str],
    size: int,
    workers: int = 4,
) -> np.ndarray:
    """The (corruption, severity) files of ``sample_ids``: uint8 ``N x size x size x 3``, in order.

    A missing folder or file raises DataFolderError naming it and the layout; a file of another
    size raises ImageDecodeError. ``workers`` threads decode (0: this thread).
    """
    get_corruption(corruption)
    root = Path(root).expanduser()
    _check_folder(root, corruption, severity)
    paths = [imagenet_c_path(root, corruption, severity, sid) for sid in sample_ids]
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    if workers > 0 and len(paths) > 1:
        with ThreadPoolExecutor(workers) as pool:
            for i, image in enumerate(pool.map(lambda p: _read_one(p, size), paths)):
                out[i] = image
    else:
        for i, path in enumerate(paths):
            out[i] = _read_one(path, size)
    return out
