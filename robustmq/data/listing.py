"""Listing the images of a split folder, with symbolic links handled explicitly.

By default no symbolic link below the split folder is followed: links inside class folders are
left out with one :class:`~robustmq.data.errors.SymlinkWarning` that counts and names them, and a
class folder that is itself a link raises :class:`~robustmq.data.errors.DataFolderError` (leaving
a class out would shift the index of every later class).

With ``follow_symlinks=True`` a link is followed when its real target lies inside the data root
(or the split folder's real path) and is not listed already: each real folder is walked once and
each real file listed once, so a link to a folder already listed or to one holding listed folders
(``loop -> .``, ``up -> ..``, a link into another class's folder), a second link to the same file,
and a link leaving the root are left out, with the warning. Real folders are walked before links,
so a file keeps the id of its real location.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from pathlib import Path

from robustmq.data.errors import DataFolderError, SymlinkWarning

__all__ = ["IMAGE_EXTENSIONS", "is_image_file", "list_split"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff"})
_SHOWN = 5  # how many left-out links the warning names

# (sample id, logical path, label) of a link waiting to be followed or left out
_Link = tuple[str, str, int]


def is_image_file(name: str) -> bool:
    """Whether ``name`` is a visible file name with an image extension (any case)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class _Walk:
    def __init__(self, split_dir: Path, root: Path, follow: bool) -> None:
        self.split_dir = split_dir
        self.follow = follow
        self.bounds = (os.path.realpath(root), os.path.realpath(split_dir))
        self.walked: list[str] = []  # real folders listed: class folders, followed targets
        self.files: set[str] = set()  # real paths of listed files (when following)
        self.skipped: list[str] = []  # "id: reason"

    def class_folders(self, names: list[str]) -> list[str]:
        """The real path of each class folder; DataFolderError for a link that cannot be one."""
        split_real = os.path.realpath(self.split_dir)
        reals = [os.path.join(split_real, n) for n in names]
        self.walked = [r for n, r in zip(names, reals, strict=True) if not self._is_link(n)]
        for i, name in enumerate(names):
            if not self._is_link(name):
                continue
            path = self.split_dir / name
            if not self.follow:
                raise DataFolderError(
                    f"class folder {path} is a symbolic link, and links are not followed by "
                    "default (leaving the class out would shift every later class index); pass "
                    "follow_symlinks=True (or set ROBUSTMQ_FOLLOW_SYMLINKS=1) to follow links "
                    "inside the data root"
                )
            reals[i] = os.path.realpath(path)
            reason = self._refusal(reals[i])
            if reason:
                raise DataFolderError(f"class folder {path} is a symbolic link that {reason}")
            self.walked.append(reals[i])
        return reals

    def _is_link(self, name: str) -> bool:
        return (self.split_dir / name).is_symlink()

    def _refusal(self, real: str) -> str | None:
        """Why a link to the folder ``real`` is not followed, or None."""
        if not any(_inside(real, b) for b in self.bounds):
            return f"leads to {real}, outside the data root"
        if any(_inside(real, w) or _inside(w, real) for w in self.walked):
            return f"leads to {real}, a folder listed already or holding one (a loop or a repeat)"
        return None

    def tree(self, path: str, rel: str, real: str, label: int, out: list[str]) -> list[_Link]:
        """Append the ids of the images under ``path`` (not through links); return its links."""
        links: list[_Link] = []
        with os.scandir(path) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                child = f"{rel}/{entry.name}"
                if entry.is_symlink():
                    links.append((child, entry.path, label))
                elif entry.is_dir(follow_symlinks=False):
                    links += self.tree(
                        entry.path, child, os.path.join(real, entry.name), label, out
                    )
                elif entry.is_file(follow_symlinks=False) and is_image_file(entry.name):
                    file = os.path.join(real, entry.name)
                    if file in self.files:  # reached again through a followed link
                        self.skipped.append(f"{child}: leads to {file}, a file listed already")
                        continue
                    out.append(child)
                    if self.follow:
                        self.files.add(file)
        return links

    def links(self, pending: list[_Link], found: list[list[str]]) -> None:
        """Follow (or leave out) each pending link, and the links found behind them."""
        queue = deque(sorted(pending))
        while queue:
            rel, path, label = queue.popleft()
            name = rel.rsplit("/", 1)[-1]
            is_dir = os.path.isdir(path)
            if not (is_dir or is_image_file(name)):
                continue  # a link to a stray file is ignored like the file would be
            if not self.follow:
                self.skipped.append(f"{rel}: not followed")
                continue
            real = os.path.realpath(path)
            if is_dir:
                reason = self._refusal(real)
                if reason is None:
                    self.walked.append(real)
                    queue.extend(sorted(self.tree(path, rel, real, label, found[label])))
                    continue
            elif not os.path.isfile(real):
                reason = "is broken"
            elif not any(_inside(real, b) for b in self.bounds):
                reason = f"leads to {real}, outside the data root"
            elif real in self.files:
                reason = f"leads to {real}, a file listed already"
            else:
                self.files.add(real)
                found[label].append(rel)
                continue
            self.skipped.append(f"{rel}: {reason}")

    def warn(self) -> None:
        if not self.skipped:
            return
        n = len(self.skipped)
        more = f" (+{n - _SHOWN} more)" if n > _SHOWN else ""
        hint = (
            "; pass follow_symlinks=True (or set ROBUSTMQ_FOLLOW_SYMLINKS=1) to follow links "
            "inside the data root"
            if not self.follow
            else ""
        )
        warnings.warn(
            f"{n} symbolic link(s) under {self.split_dir} left out: "
            f"{'; '.join(self.skipped[:_SHOWN])}{more}{hint}",
            SymlinkWarning,
            stacklevel=4,
        )


def list_split(
    split_dir: Path, root: Path, classes: list[str], follow_symlinks: bool = False
) -> tuple[list[list[str]], tuple[str, ...]]:
    """The sorted image ids of each class folder of ``split_dir``, and the links left out.

    Ids are paths relative to ``split_dir`` (``class/sub/file``); see the module for links.
    """
    walk = _Walk(split_dir, root, follow_symlinks)
    reals = walk.class_folders(classes)
    found: list[list[str]] = [[] for _ in classes]
    pending: list[_Link] = []
    for label, (name, real) in enumerate(zip(classes, reals, strict=True)):
        pending += walk.tree(str(split_dir / name), name, real, label, found[label])
    walk.links(pending, found)
    walk.warn()
    return [sorted(ids) for ids in found], tuple(walk.skipped)
