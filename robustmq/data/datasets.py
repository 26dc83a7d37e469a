"""Resolve a profile to its data: the evaluation and training ImageFolders and the pipeline.

Where each profile's images come from (``data_root`` is the benchmark's ``--rmq-data-root``):

- ``synthetic``: generated on first use, with the profile's parameters, into
  ``cache_dir()/data/synthetic-v1-<size>px-<train>-<val>``; a ``data_root`` that already holds a
  generated set is used with the parameters it was made with, an empty one is filled with the
  profile's (see :func:`~robustmq.data.synthetic.ensure_synthetic`);
- ``cifar10``: ``data_root`` or ``$ROBUSTMQ_CIFAR10``, an ImageFolder root with ``train/`` and
  ``test/``; ``download=True`` fetches it with torchvision into that folder first;
- ``imagenet``: ``data_root`` or ``$ROBUSTMQ_IMAGENET``, holding ``val/<wnid>/*.JPEG`` (and
  ``train/`` for training).

A missing folder raises :class:`DataFolderError` naming the option, the variable and the layout; a
folder with another number of classes than the profile raises :class:`ClassCountError`.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from robustmq.data.cache import cache_dir
from robustmq.data.errors import ClassCountError, DataFolderError
from robustmq.data.folder import ImageFolder
from robustmq.data.pipeline import Pipeline
from robustmq.data.profiles import Profile, get_profile
from robustmq.data.synthetic import ensure_synthetic, synthetic_params
from robustmq.exceptions import InvalidOptionError

__all__ = [
    "ENV_ROOTS",
    "OPTION",
    "SYNTHETIC_DIR",
    "get_eval_data",
    "get_train_data",
    "resolve_root",
]

#: The benchmark's command-line option naming the data folder.
OPTION = "--rmq-data-root"
#: Environment variables naming a profile's data folder when no ``data_root`` is given.
ENV_ROOTS = {"cifar10": "ROBUSTMQ_CIFAR10", "imagenet": "ROBUSTMQ_IMAGENET"}
#: Folder of the generated set under ``cache_dir()/data``.
SYNTHETIC_DIR = "synthetic-v1"
_LAYOUTS = {
    "cifar10": "<root>/train/<class>/<image> and <root>/test/<class>/<image>, 10 class folders",
    "imagenet": "<root>/val/<wnid>/<image>.JPEG (and <root>/train/<wnid>/... for training), "
    "1000 class folders",
}

PathLike = str | os.PathLike[str]


def _layout(profile_name: str) -> str:
    return _LAYOUTS.get(profile_name, "<root>/<split>/<class>/<image>")


def resolve_root(
    profile: Profile, data_root: PathLike | None = None, download: bool = False
) -> Path:
    """The root folder of ``profile``'s images (generating or downloading only where documented)."""
    env = ENV_ROOTS.get(profile.name)
    if data_root is None and env is not None:
        data_root = os.environ.get(env) or None
    if profile.synthetic is not None:
        spec = profile.synthetic
        if data_root is None:
            folder = f"{SYNTHETIC_DIR}-{spec.size}px-{spec.train_per_class}-{spec.val_per_class}"
            return ensure_synthetic(cache_dir() / "data" / folder, **asdict(spec))
        # a folder generated earlier (with any parameters) is used as it is, after verification
        params = synthetic_params(data_root)
        return ensure_synthetic(data_root, **(params if params is not None else asdict(spec)))
    if data_root is None:
        raise DataFolderError(
            f"profile {profile.name!r} needs its data folder: pass {OPTION} (data_root=)"
            + (f" or set ${env}" if env else "")
            + f"; expected the layout {_layout(profile.name)}"
        )
    if download:
        if profile.name != "cifar10":
            raise InvalidOptionError(
                f"download=True for profile {profile.name!r}; expected it only for 'cifar10'"
            )
        from robustmq.data.cifar10 import download_cifar10

        return download_cifar10(data_root)
    return Path(data_root).expanduser()


def _per_class(value: object, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(
            f"n_per_class={value!r} ({type(value).__name__}); expected an integer >= 1, or None "
            "for the profile's default"
        )
    return value


def _dataset(
    profile: Profile,
    split: str,
    data_root: PathLike | None,
    per_class: int | None,
    seed: int,
    pipeline: Pipeline | None,
    download: bool,
    follow_symlinks: bool,
) -> tuple[ImageFolder, Pipeline]:
    root = resolve_root(profile, data_root, download)
    pipeline = pipeline if pipeline is not None else Pipeline.from_profile(profile)
    if not (root / split).is_dir():
        env = ENV_ROOTS.get(profile.name)
        raise DataFolderError(
            f"{root / split} does not exist: the {profile.name!r} data folder (from {OPTION}"
            + (f" or ${env}" if env else "")
            + f") must hold split {split!r}; expected the layout "
            + _layout(profile.name)
        )
    dataset = ImageFolder(root, split, pipeline, follow_symlinks=follow_symlinks)
    if len(dataset.classes) != profile.num_classes:
        raise ClassCountError(
            f"{root / split} holds {len(dataset.classes)} class folders; expected "
            f"{profile.num_classes} for profile {profile.name!r}"
        )
    if per_class is not None:
        dataset = dataset.subset(per_class, seed)
    return dataset, pipeline


def get_eval_data(
    profile_name: str,
    data_root: PathLike | None = None,
    n_per_class: int | None = None,
    seed: int = 0,
    pipeline: Pipeline | None = None,
    *,
    download: bool = False,
    follow_symlinks: bool = False,
) -> tuple[ImageFolder, Pipeline]:
    """The profile's evaluation set (``n_per_class`` per class, default the profile's) and pipeline.

    The subset is chosen by ``seed`` (:meth:`ImageFolder.subset`); ``pipeline`` defaults to the
    profile's reference pipeline and is attached to the returned dataset. ``follow_symlinks``:
    see :class:`~robustmq.data.folder.ImageFolder`.
    """
    profile = get_profile(profile_name)
    per_class = _per_class(n_per_class, profile.eval_per_class)
    return _dataset(
        profile, profile.eval_split, data_root, per_class, seed, pipeline, download, follow_symlinks
    )


def get_train_data(
    profile_name: str,
    data_root: PathLike | None = None,
    n_per_class: int | None = None,
    seed: int = 0,
    pipeline: Pipeline | None = None,
    *,
    download: bool = False,
    follow_symlinks: bool = False,
) -> tuple[ImageFolder, Pipeline]:
    """The profile's training set (``n_per_class`` per class, default its recipe's) and pipeline."""
    profile = get_profile(profile_name)
    per_class = _per_class(n_per_class, profile.recipe.train_per_class)
    return _dataset(
        profile,
        profile.train_split,
        data_root,
        per_class,
        seed,
        pipeline,
        download,
        follow_symlinks,
    )
