"""Corrupted evaluation sets, generated once and shared by every model and process.

A corrupted set depends on the data, the pipeline, the corruption, the severity, the run seed, the
``imagecorruptions-imaug`` version, the JPEG option and the corruption scale (:mod:`.scales`: the
parameter table and the size it is applied at, a declared part of each profile), never on the
model. :func:`build_sets`
generates the missing sets of a list of (corruption, severity) pairs in a process pool and stores
each under ``cache_dir()/natural/`` as ``<corruption>-s<severity>-<key>.npy`` (uint8
``N x H x W x 3``, the dataset's sample order) with a ``.json`` sidecar (the key's inputs, the
sample ids' digest and how many corruption calls made it). The sidecar is written last
(:mod:`robustmq.artifacts`), so a set without it is incomplete and rebuilt. A file lock per source
(data + pipeline + seed + package + JPEG option + scale) lets concurrent processes (xdist workers)
build each set once: the others wait, then read it.

:func:`corruption_calls` counts the corruption calls made by this process and by the pools it
started; with a warm cache it does not move, whatever the number of models.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustmq.artifacts import ensure, read_sidecar, write_artifact
from robustmq.data.cache import cache_dir
from robustmq.data.folder import ImageFolder
from robustmq.data.pipeline import Pipeline
from robustmq.exceptions import InvalidOptionError, RobustMQError
from robustmq.hashing import sha256_json, sha256_lines
from robustmq.noise.natural import corruptions
from robustmq.noise.natural.corruptions import get_corruption, image_seed
from robustmq.noise.natural.scales import CorruptionScale, get_scale

__all__ = [
    "FORMAT_VERSION",
    "SetSource",
    "build_sets",
    "corrupt_array",
    "corruption_calls",
    "load_set",
    "natural_dir",
]

log = logging.getLogger(__name__)

#: Version of the on-disk format and of the seeding rule; part of every key.
FORMAT_VERSION = 1
#: Images per pool task.
_CHUNK = 64
#: Fewer calls than this are generated in this process (a pool's start costs seconds).
_POOL_MIN_CALLS = 256

_pool_calls = 0

Pair = tuple[str, int]


def corruption_calls() -> int:
    """Corruption calls made by this process and by the generation pools it started."""
    return corruptions.call_count() + _pool_calls


def natural_dir() -> Path:
    """Where generated sets live: ``cache_dir()/natural``."""
    return cache_dir() / "natural"


@dataclass(frozen=True)
class SetSource:
    """What every corrupted set of a run depends on, except the corruption and the severity.

    ``fingerprint`` is the dataset's (sample ids and labels, in order); ``root`` and ``split`` say
    where its files are; ``package`` is :func:`~.corruptions.package_version`; ``scale`` names the
    corruption scale (:func:`~.scales.get_scale`).
    """

    root: str
    split: str
    fingerprint: str
    pipeline: Pipeline
    seed: int
    jpeg: bool
    package: str
    scale: str = "imagenet"

    @classmethod
    def of(
        cls,
        dataset: ImageFolder,
        pipeline: Pipeline,
        *,
        seed: int,
        jpeg: bool = False,
        scale: str = "imagenet",
    ) -> SetSource:
        """The source of ``dataset`` decoded by ``pipeline``, corrupted with ``seed`` under
        ``scale``."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidOptionError(f"seed={seed!r} ({type(seed).__name__}); expected an integer")
        return cls(
            root=str(dataset.root),
            split=dataset.split,
            fingerprint=dataset.fingerprint,
            pipeline=pipeline,
            seed=seed,
            jpeg=bool(jpeg),
            package=corruptions.package_version(),
            scale=get_scale(scale).name,
        )

    def fields(self) -> dict[str, Any]:
        """The source as plain JSON (what the keys hash)."""
        return {
            "format": FORMAT_VERSION,
            "root": self.root,
            "split": self.split,
            "fingerprint": self.fingerprint,
            "pipeline": self.pipeline.settings(),
            "seed": self.seed,
            "jpeg": self.jpeg,
            "package": self.package,
            "scale": get_scale(self.scale).fields(),
        }

    def digest(self) -> str:
        """sha256 of :meth:`fields` (names the generation lock)."""
        return sha256_json(self.fields())

    def key(self, corruption: str, severity: int) -> str:
        """The cache key of one set: sha256 of the source's fields, the corruption and severity."""
        return sha256_json({**self.fields(), "corruption": corruption, "severity": severity})

    def path(self, corruption: str, severity: int) -> Path:
        """The ``.npy`` file of one set (its sidecar: the same name with ``.json``)."""
        key = self.key(corruption, severity)
        return natural_dir() / f"{corruption}-s{severity}-{key[:24]}.npy"

    def lock(self) -> Path:
        """The file lock under which this source's missing sets are generated."""
        return natural_dir() / "locks" / f"{self.digest()[:24]}.lock"


def corrupt_array(
    images: np.ndarray,
    sample_ids: Sequence[str],
    corruption: str,
    severity: int,
    *,
    seed: int,
    jpeg: bool = False,
    scale: str | CorruptionScale = "imagenet",
    pipeline: Pipeline | None = None,
) -> np.ndarray:
    """Every image of ``images`` (uint8 ``N x H x W x 3``) corrupted with its own seed.

    Image ``i`` gets :func:`~.corruptions.image_seed` ``(seed, sample_ids[i], corruption,
    severity)``, so the result does not depend on batching, order or process. ``images`` are what
    ``scale`` corrupts (:meth:`~.scales.CorruptionScale.input_of`: the crops, or for the cifar10
    scale the 32 px source images, then resized and cropped by ``pipeline``).
    """
    spec = get_scale(scale)
    out = [
        spec.apply(
            image,
            corruption,
            severity,
            image_seed(seed, sid, corruption, severity),
            pipeline=pipeline,
            jpeg=jpeg,
        )
        for image, sid in zip(images, sample_ids, strict=True)
    ]
    if not out:
        return np.empty_like(images)
    return np.stack(out)


def _chunk_task(
    images: np.ndarray,
    sample_ids: Sequence[str],
    corruption: str,
    severity: int,
    seed: int,
    jpeg: bool,
    scale: str,
    pipeline: Pipeline,
) -> tuple[np.ndarray, int]:
    """Pool task: the corrupted chunk and how many corruption calls the worker made for it."""
    before = corruptions.call_count()
    out = corrupt_array(
        images,
        sample_ids,
        corruption,
        severity,
        seed=seed,
        jpeg=jpeg,
        scale=scale,
        pipeline=pipeline,
    )
    return out, corruptions.call_count() - before


def _init_worker() -> None:
    try:
        import cv2

        cv2.setNumThreads(1)  # one process per core already
    except ImportError:  # pragma: no cover - cv2 is a dependency of imagecorruptions
        pass


def _decode(dataset: ImageFolder, pipeline: Pipeline, scale: str) -> np.ndarray:
    """What ``scale`` corrupts, for every sample: the uint8 crops, or the checked source images."""
    spec = get_scale(scale)
    images = [spec.input_of(pipeline, path) for path, _ in dataset.samples]
    if not images:
        crop = pipeline.crop_size
        return np.empty((0, crop, crop, 3), dtype=np.uint8)
    return np.stack(images)


def _is_complete(source: SetSource, pair: Pair, sample_ids: Sequence[str]) -> bool:
    path = source.path(*pair)
    meta = read_sidecar(path)
    crop = source.pipeline.crop_size
    return (
        meta is not None
        and path.is_file()
        and meta.get("key") == source.key(*pair)
        and meta.get("sample_ids_sha256") == sha256_lines(sample_ids)
        and meta.get("shape") == [len(sample_ids), crop, crop, 3]
    )


def _sidecar(
    source: SetSource, pair: Pair, images: np.ndarray, ids: Sequence[str], calls: int
) -> dict[str, Any]:
    return {
        "key": source.key(*pair),
        "corruption": pair[0],
        "severity": pair[1],
        **source.fields(),
        "n_images": len(ids),
        "shape": list(images.shape),
        "sample_ids_sha256": sha256_lines(ids),
        "calls": calls,
        "built_by_pid": os.getpid(),
    }


def _check_pairs(pairs: Iterable[Pair]) -> list[Pair]:
    unique: list[Pair] = []
    for corruption, severity in pairs:
        get_corruption(corruption)
        corruptions.check_severity(severity)
        if (corruption, severity) not in unique:
            unique.append((corruption, severity))
    return unique


def _generate(
    source: SetSource,
    pixels: np.ndarray,
    ids: Sequence[str],
    missing: list[Pair],
    workers: int,
) -> Iterator[tuple[Pair, np.ndarray, int]]:
    """Yield (pair, corrupted set, calls) for every missing pair, in order."""
    global _pool_calls
    n = len(ids)
    if workers == 0 or n * len(missing) < _POOL_MIN_CALLS:
        for pair in missing:
            before = corruptions.call_count()
            out = corrupt_array(
                pixels,
                ids,
                *pair,
                seed=source.seed,
                jpeg=source.jpeg,
                scale=source.scale,
                pipeline=source.pipeline,
            )
            yield pair, out, corruptions.call_count() - before
        return
    # spawn, never fork: a forked child inherits OpenCV's and torch's thread pools in a state
    # that deadlocks (seen: cv2 in the child after cv2 ran in the parent)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures = [
            [
                pool.submit(
                    _chunk_task,
                    pixels[start : start + _CHUNK],
                    list(ids[start : start + _CHUNK]),
                    *pair,
                    source.seed,
                    source.jpeg,
                    source.scale,
                    source.pipeline,
                )
                for start in range(0, n, _CHUNK)
            ]
            for pair in missing
        ]
        for pair, chunks in zip(missing, futures, strict=True):
            parts = [f.result() for f in chunks]
            calls = sum(c for _, c in parts)
            _pool_calls += calls
            yield pair, np.concatenate([p for p, _ in parts]), calls


def _make(
    source: SetSource, dataset: ImageFolder, missing: list[Pair], workers: int | None
) -> Iterator[Pair]:
    """Generate and store every missing set (data, then sidecar); yield each pair once stored."""
    log.info("generating %d corrupted sets of %d images", len(missing), len(dataset))
    ids = dataset.sample_ids
    pixels = _decode(dataset, source.pipeline, source.scale)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    for pair, images, calls in _generate(source, pixels, ids, missing, workers):
        save = functools.partial(np.save, arr=images, allow_pickle=False)
        write_artifact(source.path(*pair), save, _sidecar(source, pair, images, ids, calls))
        yield pair


def _source(
    dataset: ImageFolder,
    pipeline: Pipeline,
    *,
    seed: int,
    jpeg: bool,
    workers: int | None,
    scale: str = "imagenet",
) -> SetSource:
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # a spawned child re-running an unguarded main module would wait forever on the lock
        raise RuntimeError(
            "corrupted sets were requested while a spawned process imported the main module; "
            'guard the script\'s entry point with if __name__ == "__main__":'
        )
    if workers is not None and (isinstance(workers, bool) or workers < 0):
        raise InvalidOptionError(f"workers={workers!r}; expected an integer >= 0 or None")
    return SetSource.of(dataset, pipeline, seed=seed, jpeg=jpeg, scale=scale)


def build_sets(
    dataset: ImageFolder,
    pipeline: Pipeline,
    pairs: Iterable[Pair],
    *,
    seed: int,
    jpeg: bool = False,
    workers: int | None = None,
    scale: str = "imagenet",
) -> dict[Pair, Path]:
    """Make sure every (corruption, severity) set of ``pairs`` is on disk; return their paths.

    Missing sets are generated under a file lock (a concurrent process waits, then finds them), in
    a pool of ``workers`` spawned processes (default: one per CPU; 0: in this process); a script
    that calls this must guard its entry point with ``if __name__ == "__main__":``, as spawned
    processes import the main module. Sets already on disk cost no corruption call. ``scale``:
    the corruption scale (:mod:`.scales`; part of every set's key).
    """
    source = _source(dataset, pipeline, seed=seed, jpeg=jpeg, workers=workers, scale=scale)
    ids = dataset.sample_ids

    def stored(pair: Pair) -> Path | None:
        return source.path(*pair) if _is_complete(source, pair, ids) else None

    def build(missing: list[Pair]) -> Iterator[tuple[Pair, Path]]:
        for pair in _make(source, dataset, missing, workers):
            yield pair, source.path(*pair)

    return ensure(_check_pairs(pairs), stored, build, lock=source.lock())


def _read(path: Path, expected: tuple[int, ...]) -> tuple[np.ndarray, dict[str, Any]] | None:
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warning("unreadable corrupted set %s (%s)", path, exc)
        return None
    meta = read_sidecar(path)
    if images.dtype != np.uint8 or images.shape != expected:
        log.warning("corrupted set %s holds %s %s", path, images.dtype, images.shape)
        return None
    return None if meta is None else (images, meta)


def load_set(
    dataset: ImageFolder,
    pipeline: Pipeline,
    corruption: str,
    severity: int,
    *,
    seed: int,
    jpeg: bool = False,
    scale: str = "imagenet",
) -> tuple[np.ndarray, dict[str, Any]]:
    """One corrupted set (uint8 ``N x H x W x 3``, dataset order) and its sidecar.

    A set that is absent, incomplete or unreadable is (re)built first, as :func:`build_sets` does.
    """
    source = _source(dataset, pipeline, seed=seed, jpeg=jpeg, workers=None, scale=scale)
    expected = (len(dataset), pipeline.crop_size, pipeline.crop_size, 3)

    def stored(pair: Pair) -> tuple[np.ndarray, dict[str, Any]] | None:
        complete = _is_complete(source, pair, dataset.sample_ids)
        return _read(source.path(*pair), expected) if complete else None

    def build(missing: list[Pair]) -> Iterator[tuple[Pair, tuple[np.ndarray, dict[str, Any]]]]:
        for pair in _make(source, dataset, missing, None):
            found = stored(pair)
            if found is None:
                raise RobustMQError(
                    f"corrupted set {source.path(*pair)} could not be read back after building "
                    f"it; expected a uint8 array of shape {expected} (is {natural_dir()} writable?)"
                )
            yield pair, found

    pairs = _check_pairs([(corruption, severity)])
    return ensure(pairs, stored, build, lock=source.lock())[pairs[0]]
