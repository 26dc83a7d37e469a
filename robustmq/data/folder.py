"""An ImageFolder dataset over ``<root>/<split>/<class>/<file>``, and seeded per-class subsets.

Conventions (torchvision's): class index = position of the class folder's name in sorted order;
samples are sorted by path. A sample's id is its path relative to the split folder, with forward
slashes (``n01440764/ILSVRC2012_val_00000293.JPEG``); class folders are searched recursively.

Behaviour on bad data:

- missing root or split folder (or a file in their place): :class:`DataFolderError` naming the path
  and the expected layout (the split error lists the splits that exist);
- a split with no class folder: :class:`NoClassesError`;
- a class folder with no image: :class:`EmptyClassError` naming it (skipping it would silently shift
  the class indices of every later class);
- files whose extension is not an image extension (``.jpg .jpeg .png .bmp .webp .ppm .tif .tiff``,
  any case), files directly in the split folder, and hidden files and folders (name starting with
  ``.``, e.g. ``.DS_Store``, ``.ipynb_checkpoints``) are ignored;
- symbolic links are not followed unless ``follow_symlinks=True``, and then only inside the data
  root, each real folder and file once (:mod:`robustmq.data.listing`); links left out are named
  in a :class:`~robustmq.data.errors.SymlinkWarning` and in ``skipped_links``;
- unreadable images are not detected here (the listing does not decode); decoding raises
  :class:`~robustmq.data.errors.ImageDecodeError`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from robustmq.data.errors import DataFolderError, EmptyClassError, NoClassesError
from robustmq.data.listing import IMAGE_EXTENSIONS, is_image_file, list_split
from robustmq.data.pipeline import Pipeline
from robustmq.exceptions import InvalidOptionError

__all__ = ["IMAGE_EXTENSIONS", "SUBSET_VERSION", "ImageFolder", "is_image_file"]

#: Version of the subset-selection rule; part of every ``subset_id``.
SUBSET_VERSION = "1"
_LAYOUT = "<root>/<split>/<class>/<image file>"


def _visible_dirs(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _order_key(seed: int, sample_id: str) -> bytes:
    return hashlib.sha256(f"{seed}\x00{sample_id}".encode()).digest()


#: Set to ``1`` to follow symbolic links inside the data root by default (e.g. for ``pytest``).
FOLLOW_SYMLINKS_ENV = "ROBUSTMQ_FOLLOW_SYMLINKS"


class ImageFolder(Dataset[tuple[torch.Tensor, int]]):
    """The images of ``<root>/<split>``; ``dataset[i]`` is ``(pipeline(path), label)``.

    ``follow_symlinks``: follow symbolic links below the split folder that stay inside the root
    (default: follow none, unless the environment variable ``ROBUSTMQ_FOLLOW_SYMLINKS`` is ``1``,
    which is how a benchmark run follows them); ``skipped_links`` names the links left out.
    """

    follow_symlinks: bool = False
    #: The symbolic links left out (``"id: reason"``): not followed, looping or leaving the root.
    skipped_links: tuple[str, ...] = ()

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        pipeline: Pipeline | None = None,
        *,
        follow_symlinks: bool = False,
    ) -> None:
        if not isinstance(follow_symlinks, bool):
            raise InvalidOptionError(
                f"follow_symlinks={follow_symlinks!r} ({type(follow_symlinks).__name__}); "
                "expected True or False"
            )
        self.root = Path(root).expanduser().resolve()
        self.split = split
        self.pipeline = pipeline if pipeline is not None else Pipeline()
        self.follow_symlinks = follow_symlinks or os.environ.get(FOLLOW_SYMLINKS_ENV) == "1"
        #: ``None`` for the whole split, else the id of the subset rule and its arguments.
        self.subset_id: str | None = None
        split_dir = self._split_dir()
        self.classes: tuple[str, ...] = tuple(_visible_dirs(split_dir))
        if not self.classes:
            raise NoClassesError(
                f"split folder {split_dir} holds no class folder; expected the layout {_LAYOUT}"
            )
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        per_class, skipped = list_split(
            split_dir, self.root, list(self.classes), self.follow_symlinks
        )
        self.skipped_links = skipped
        ids: list[str] = []
        labels: list[int] = []
        for label, (name, found) in enumerate(zip(self.classes, per_class, strict=True)):
            if not found:
                raise EmptyClassError(
                    f"class folder {split_dir / name} holds no image; expected at least one file "
                    f"with an extension in {', '.join(sorted(IMAGE_EXTENSIONS))} (an empty class "
                    "would shift the class indices)"
                )
            ids.extend(found)
            labels.extend([label] * len(found))
        self._set_samples(ids, labels)

    def _split_dir(self) -> Path:
        if not self.root.is_dir():
            raise DataFolderError(
                f"data root {self.root} does not exist or is not a folder; expected the layout "
                f"{_LAYOUT}"
            )
        split_dir = self.root / self.split
        if not split_dir.is_dir():
            found = ", ".join(_visible_dirs(self.root)) or "none"
            raise DataFolderError(
                f"split folder {split_dir} does not exist (splits found: {found}); expected the "
                f"layout {_LAYOUT} with split {self.split!r}"
            )
        return split_dir

    def _set_samples(self, ids: Sequence[str], labels: Sequence[int]) -> None:
        order = sorted(range(len(ids)), key=lambda i: ids[i])
        self.sample_ids: tuple[str, ...] = tuple(ids[i] for i in order)
        self.labels: tuple[int, ...] = tuple(labels[i] for i in order)
        split_dir = self.root / self.split
        #: ``(path, label)`` pairs, sorted by path (torchvision's ``samples``).
        self.samples: list[tuple[str, int]] = [
            (str(split_dir / sid), label)
            for sid, label in zip(self.sample_ids, self.labels, strict=True)
        ]

    @property
    def fingerprint(self) -> str:
        """Hex sha256 of the sample ids and labels, in order: what this dataset holds."""
        digest = hashlib.sha256()
        for sid, label in zip(self.sample_ids, self.labels, strict=True):
            digest.update(f"{sid}\x00{label}\n".encode())
        return digest.hexdigest()

    def subset(self, per_class: int, seed: int) -> ImageFolder:
        """A new dataset holding ``per_class`` images of every class, chosen by ``seed``.

        The choice orders each class's ids by ``sha256(seed, sample id)`` and keeps the first
        ``per_class``: it depends on nothing but the ids and the seed (same on every machine), and
        growing ``per_class`` keeps the earlier picks. InvalidOptionError if a class has fewer.
        """
        if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
            raise InvalidOptionError(
                f"per_class={per_class!r} ({type(per_class).__name__}); expected an integer >= 1"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidOptionError(f"seed={seed!r} ({type(seed).__name__}); expected an integer")
        by_class: dict[int, list[str]] = {}
        for sid, label in zip(self.sample_ids, self.labels, strict=True):
            by_class.setdefault(label, []).append(sid)
        ids: list[str] = []
        labels: list[int] = []
        for label, members in sorted(by_class.items()):
            if len(members) < per_class:
                raise InvalidOptionError(
                    f"per_class={per_class} but class {self.classes[label]!r} has only "
                    f"{len(members)} images in {self.root / self.split}; expected per_class <= "
                    "the smallest class"
                )
            chosen = sorted(members, key=lambda sid: _order_key(seed, sid))[:per_class]
            ids.extend(chosen)
            labels.extend([label] * per_class)
        new = object.__new__(ImageFolder)
        new.root, new.split, new.pipeline = self.root, self.split, self.pipeline
        new.follow_symlinks, new.skipped_links = self.follow_symlinks, self.skipped_links
        new.classes, new.class_to_idx = self.classes, dict(self.class_to_idx)
        rule = f"v{SUBSET_VERSION}-k{per_class}-seed{seed}"
        new.subset_id = rule if self.subset_id is None else f"{self.subset_id}/{rule}"
        new._set_samples(ids, labels)
        return new

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.pipeline(path), label

    def __repr__(self) -> str:
        subset = f", subset_id={self.subset_id!r}" if self.subset_id else ""
        return (
            f"ImageFolder(root={str(self.root)!r}, split={self.split!r}, "
            f"{len(self.classes)} classes, {len(self)} images{subset})"
        )
