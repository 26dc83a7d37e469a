"""Decode a whole dataset once into memory: :func:`load_tensors` and its per-process cache.

Bad images: by default (``on_error="raise"``) the first unreadable image stops loading with
:class:`~robustmq.data.errors.ImageDecodeError` naming the file. With ``on_error="skip"`` each one
is left out with a ``RuntimeWarning`` naming the file, and its id is listed in
:attr:`EvalTensors.skipped`, so a result can say which samples it lacks.

Results are cached per process, keyed by (root, split, the sample ids and labels, pipeline,
on_error): a second call with the same arguments returns the same :class:`EvalTensors` object.
Treat its tensors as read-only; :func:`clear_cache` empties the cache.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from robustmq.data.errors import ImageDecodeError
from robustmq.data.folder import ImageFolder
from robustmq.data.pipeline import Pipeline
from robustmq.exceptions import InvalidOptionError

__all__ = ["EvalTensors", "cache_size", "clear_cache", "load_tensors"]

log = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
_CacheKey = tuple[str, str, str, Pipeline, str]
_CACHE: dict[_CacheKey, EvalTensors] = {}


@dataclass(frozen=True, eq=False)
class EvalTensors:
    """A decoded dataset: ``images`` float32 ``[N, 3, H, W]`` in [0, 1], ``labels`` int64 ``[N]``.

    ``sample_ids[i]`` is the id of ``images[i]``; ``skipped`` lists the ids left out as unreadable.
    """

    images: torch.Tensor
    labels: torch.Tensor
    sample_ids: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.sample_ids)


def _load_one(pipeline: Pipeline, path: str) -> np.ndarray | ImageDecodeError:
    try:
        return pipeline.load_uint8(path)
    except ImageDecodeError as exc:
        return exc


def _results(
    pipeline: Pipeline, paths: list[str], workers: int, executor: str
) -> Iterator[np.ndarray | ImageDecodeError]:
    if workers == 0 or len(paths) < 2:
        return (_load_one(pipeline, p) for p in paths)
    pool: Executor
    if executor == "thread":
        pool = ThreadPoolExecutor(max_workers=workers)
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
    chunksize = max(1, len(paths) // (workers * 8))

    def run() -> Iterator[np.ndarray | ImageDecodeError]:
        with pool:
            yield from pool.map(_load_one, [pipeline] * len(paths), paths, chunksize=chunksize)

    return run()


def _check_options(workers: object, on_error: object, executor: object) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InvalidOptionError(
            f"workers={workers!r} ({type(workers).__name__}); expected an integer >= 0 "
            "(0: decode in this thread)"
        )
    if on_error not in ("raise", "skip"):
        raise InvalidOptionError(f"on_error={on_error!r}; expected 'raise' or 'skip'")
    if executor not in ("thread", "process"):
        raise InvalidOptionError(f"executor={executor!r}; expected 'thread' or 'process'")


def _stack(
    arrays: Iterable[np.ndarray | ImageDecodeError],
    dataset: ImageFolder,
    crop: int,
    on_error: OnError,
    progress: Callable[[int], None] | None,
) -> EvalTensors:
    n = len(dataset)
    buffer = np.empty((n, crop, crop, 3), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[str] = []
    for i, result in enumerate(arrays):
        if isinstance(result, ImageDecodeError):
            if on_error == "raise":
                raise result
            warnings.warn(f"skipping unreadable image: {result}", RuntimeWarning, stacklevel=3)
            skipped.append(dataset.sample_ids[i])
        else:
            buffer[len(kept)] = result
            kept.append(i)
        if progress is not None:
            progress(i + 1)
    images = torch.from_numpy(buffer[: len(kept)]).permute(0, 3, 1, 2).contiguous()
    return EvalTensors(
        images=images.to(torch.float32).div_(255),
        labels=torch.tensor([dataset.labels[i] for i in kept], dtype=torch.int64),
        sample_ids=tuple(dataset.sample_ids[i] for i in kept),
        skipped=tuple(skipped),
    )


def load_tensors(
    dataset: ImageFolder,
    pipeline: Pipeline | None = None,
    workers: int = 0,
    *,
    on_error: OnError = "raise",
    executor: Literal["thread", "process"] = "thread",
    cache: bool = True,
    progress: Callable[[int], None] | None = None,
) -> EvalTensors:
    """Every sample of ``dataset`` decoded once by ``pipeline`` (default: the dataset's own).

    ``workers > 0`` decodes in a pool of that many threads (or processes, ``executor="process"``);
    the order of the result is the dataset's order either way. ``progress(n_done)`` is called after
    each image. With ``cache`` (default) the result is kept for the process and returned as is by
    later calls with the same dataset content, pipeline and ``on_error``.
    """
    _check_options(workers, on_error, executor)
    pipeline = pipeline if pipeline is not None else dataset.pipeline
    key: _CacheKey = (str(dataset.root), dataset.split, dataset.fingerprint, pipeline, on_error)
    if cache and key in _CACHE:
        return _CACHE[key]
    log.info(
        "decoding %d images of %s/%s (%s)", len(dataset), dataset.root, dataset.split, pipeline
    )
    paths = [path for path, _ in dataset.samples]
    results = _results(pipeline, paths, workers, executor)
    try:
        tensors = _stack(results, dataset, pipeline.crop_size, on_error, progress)
    finally:
        # a decode error stops _stack early: shut the pool down now, not when the generator
        # is garbage-collected (then its exit ran inside whatever test or cell came next)
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if tensors.skipped:
        log.warning("skipped %d unreadable images", len(tensors.skipped))
    if cache:
        _CACHE[key] = tensors
    return tensors


def clear_cache() -> None:
    """Forget every cached result of :func:`load_tensors` in this process."""
    _CACHE.clear()


def cache_size() -> int:
    """How many results :func:`load_tensors` holds in this process's cache."""
    return len(_CACHE)
