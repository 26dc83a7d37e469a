"""CIFAR-10 as an ImageFolder: export torchvision's download to ``<root>/{train,test}/<class>/``.

Downloading happens only through :func:`download_cifar10`, which callers reach with an explicit
``download=True``; nothing else in RobustMQ touches the network. Images are written as lossless
PNG (``<root>/<split>/<class>/<nnnnn>.png``, numbered by position in torchvision's split).
Each split is written to ``<split>.partial`` and renamed when complete, so an interrupted export
is redone.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image

from robustmq.exceptions import InvalidOptionError

__all__ = ["SPLITS", "download_cifar10", "export_split"]

log = logging.getLogger(__name__)

#: ImageFolder split name -> torchvision's ``train`` flag.
SPLITS = {"train": True, "test": False}
_DOWNLOAD_DIR = ".cifar10-download"


def export_split(
    images: np.ndarray, targets: Sequence[int], classes: Sequence[str], dest: Path
) -> Path:
    """Write ``images`` (``N x H x W x 3`` uint8) as ``dest/<class>/<nnnnn>.png``; returns ``dest``.

    Writes to ``dest.partial`` first and renames it to ``dest`` once every file is written.
    """
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise InvalidOptionError(
            f"images: {images.dtype} array of shape {images.shape}; expected N x H x W x 3 uint8"
        )
    if len(targets) != len(images):
        raise InvalidOptionError(
            f"{len(targets)} targets for {len(images)} images; expected one target per image"
        )
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for name in classes:
        (partial / name).mkdir(parents=True)
    for index, (image, target) in enumerate(zip(images, targets, strict=True)):
        Image.fromarray(image).save(partial / classes[target] / f"{index:05d}.png")
    os.replace(partial, dest)
    return dest


def download_cifar10(root: str | os.PathLike[str]) -> Path:
    """``root`` holding CIFAR-10 as ``train/`` and ``test/``; downloads with torchvision if absent.

    A split folder that already exists is kept as it is. The archive is kept in
    ``root/.cifar10-download``.
    """
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path / ".lock")):
        for split, train in SPLITS.items():
            if (path / split).is_dir():
                continue
            from torchvision.datasets import CIFAR10

            log.info("downloading CIFAR-10 (%s) into %s", split, path / _DOWNLOAD_DIR)
            data = CIFAR10(str(path / _DOWNLOAD_DIR), train=train, download=True)
            export_split(np.asarray(data.data), list(data.targets), data.classes, path / split)
    return path
