"""A variant's pre-processed evaluation set: built once, cached on disk and in the process.

The set depends on the data and the pipeline, never on the model, so every model (and every xdist
worker) shares one build. :func:`variant_set` looks in a small per-process cache, then on disk under
``cache_dir()/systematic/``, and only then decodes the images (``Pipeline.load_uint8``, the same
steps as :func:`robustmq.data.load_tensors`, kept as uint8 until the end) while holding a file
lock, so that concurrent processes build a set once and the others wait and read it.

The disk key is the sha256 of: the data root and split, the dataset fingerprint (sample ids and
labels in order), every file's size and modification time, the pipeline settings, and the versions
of Pillow, OpenCV, PyAV/FFmpeg and numpy. A cached file that cannot be read or does not hold the
expected samples is rebuilt. Files are written to a temporary name and renamed
(:mod:`robustmq.artifacts`), so a reader never sees half a file.

Samples come in the dataset's order (sample ids sorted), so every variant's set lines up with the
reference set and with the clean evaluation set; an unreadable image is an error (never skipped),
so all variants hold the same samples.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustmq.artifacts import ensure_one, write_artifact
from robustmq.data import EvalTensors, ImageFolder, get_eval_data
from robustmq.data.cache import cache_dir
from robustmq.data.pipeline import Pipeline
from robustmq.hashing import sha256_json
from robustmq.noise.systematic.variants import Variant, get_variant

__all__ = [
    "FORMAT_VERSION",
    "VariantSet",
    "clear_memory_cache",
    "decoder_versions",
    "sets_dir",
    "variant_set",
]

log = logging.getLogger(__name__)

#: Version of the on-disk format and key; part of every key.
FORMAT_VERSION = 1
#: The per-process cache keeps sets up to this many bytes (float images) in all (at least one set).
MEMORY_BUDGET_BYTES = 2 * 1024**3
_MEMORY: OrderedDict[str, VariantSet] = OrderedDict()
# (profile, data_root, n_per_class, seed) -> (dataset, its files' digest): listing a folder and
# verifying the synthetic set takes ~0.5 s, too long to repeat in every cell
_DATASETS: dict[tuple[str, str | None, int | None, int], tuple[ImageFolder, str]] = {}


@dataclass(frozen=True, eq=False)
class VariantSet:
    """A variant's evaluation set: ``tensors`` (as :func:`load_tensors` gives them) and provenance.

    ``key`` is the cache key; ``images_sha256`` the sha256 of the uint8 ``N x H x W x 3`` pixels;
    ``fingerprint`` the dataset's (sample ids and labels); ``pipeline`` the settings that made it.
    """

    variant: str
    tensors: EvalTensors
    key: str
    images_sha256: str
    fingerprint: str
    pipeline: dict[str, Any]


def sets_dir() -> Path:
    """The folder of cached sets: ``cache_dir()/systematic``."""
    return cache_dir() / "systematic"


def decoder_versions() -> dict[str, str]:
    """Versions of the libraries that decode and resize (Pillow, OpenCV, PyAV, FFmpeg, numpy)."""
    import av
    import cv2
    import PIL

    from robustmq.noise.systematic.decoders import ffmpeg_version

    return {
        "Pillow": PIL.__version__,
        "cv2": cv2.__version__,
        "av": av.__version__,
        "libavcodec": ffmpeg_version(),
        "numpy": np.__version__,
    }


def _files_digest(dataset: ImageFolder) -> str:
    digest = hashlib.sha256()
    for path, _ in dataset.samples:
        st = os.stat(path)
        digest.update(f"{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _key(dataset: ImageFolder, files: str, pipeline: Pipeline) -> str:
    material = {
        "format": FORMAT_VERSION,
        "root": str(dataset.root),
        "split": dataset.split,
        "fingerprint": dataset.fingerprint,
        "files": files,
        "pipeline": pipeline.settings(),
        "versions": decoder_versions(),
    }
    return sha256_json(material)


def _to_tensors(pixels: np.ndarray, labels: np.ndarray, ids: tuple[str, ...]) -> EvalTensors:
    # the same operations as load_tensors, so the float values are identical
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    return EvalTensors(
        images=images.to(torch.float32).div_(255),
        labels=torch.from_numpy(labels.astype(np.int64)),
        sample_ids=ids,
    )


def _decode(dataset: ImageFolder, pipeline: Pipeline, workers: int) -> np.ndarray:
    """Every sample as uint8 ``N x crop x crop x 3`` in order; ImageDecodeError on a bad file."""
    paths = [path for path, _ in dataset.samples]
    crop = pipeline.crop_size
    pixels = np.empty((len(paths), crop, crop, 3), dtype=np.uint8)
    if workers > 0 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, image in enumerate(pool.map(pipeline.load_uint8, paths)):
                pixels[i] = image
    else:
        for i, path in enumerate(paths):
            pixels[i] = pipeline.load_uint8(path)
    return pixels


def _load(path: Path, dataset: ImageFolder, crop: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached pixels and labels at ``path`` if they hold ``dataset``'s samples, else None."""
    try:
        with np.load(path, allow_pickle=False) as data:
            pixels, labels, ids = data["images"], data["labels"], data["sample_ids"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable cached set %s (%s); rebuilding it", path, exc)
        return None
    if (
        tuple(ids.tolist()) != dataset.sample_ids
        or tuple(labels.tolist()) != dataset.labels
        or pixels.dtype != np.uint8
        or pixels.shape != (len(dataset), crop, crop, 3)
    ):
        log.warning("cached set %s does not hold the expected samples; rebuilding it", path)
        return None
    return pixels, labels


def _pixels(
    dataset: ImageFolder, pipeline: Pipeline, key: str, disk: bool, workers: int
) -> np.ndarray:
    if not disk:
        return _decode(dataset, pipeline, workers)

    def stored(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        return _load(path, dataset, pipeline.crop_size) if path.is_file() else None

    def build(path: Path) -> tuple[np.ndarray, np.ndarray]:
        log.info("building the systematic-noise set %s (%s)", path.name, pipeline)
        pixels = _decode(dataset, pipeline, workers)
        labels = np.asarray(dataset.labels, dtype=np.int64)
        ids = np.array(dataset.sample_ids, dtype=np.str_)
        write_artifact(path, lambda f: np.savez(f, images=pixels, labels=labels, sample_ids=ids))
        return pixels, labels

    return ensure_one(sets_dir() / f"{key}.npz", stored, build)[0]


def _remember(key: str, value: VariantSet) -> None:
    _MEMORY[key] = value
    total = sum(_nbytes(v) for v in _MEMORY.values())
    while len(_MEMORY) > 1 and total > MEMORY_BUDGET_BYTES:
        _, dropped = _MEMORY.popitem(last=False)
        total -= _nbytes(dropped)


def _nbytes(value: VariantSet) -> int:
    images = value.tensors.images
    return images.element_size() * images.nelement()


def _dataset(
    profile: str, data_root: str | None, n_per_class: int | None, seed: int
) -> tuple[ImageFolder, str]:
    args = (profile, data_root, n_per_class, seed)
    if args not in _DATASETS:
        dataset, _ = get_eval_data(profile, data_root=data_root, n_per_class=n_per_class, seed=seed)
        _DATASETS[args] = (dataset, _files_digest(dataset))
    return _DATASETS[args]


#: Evaluation images per class of systematic cells when ``--rmq-n-samples`` is not given (a
#: profile not listed uses its clean default). cifar10: 100 of the 1,000 test images per class
#: (the clean cell takes all 10,000): each variant re-decodes and resizes its images, and the
#: paired tests of finding 4 detect a 2-point difference with ~30 images per class (robustmq
#: findings on the synthetic profile).
SYSTEMATIC_PER_CLASS: dict[str, int] = {"cifar10": 100}


def systematic_per_class(profile: str, n_per_class: int | None) -> int | None:
    """Images per class of systematic cells: ``n_per_class`` when given, else the profile's."""
    return n_per_class if n_per_class is not None else SYSTEMATIC_PER_CLASS.get(profile)


def variant_set(
    variant: str | Variant,
    profile: str = "synthetic",
    *,
    data_root: str | os.PathLike[str] | None = None,
    n_per_class: int | None = None,
    seed: int = 0,
    geometry: str = "aspect",
    disk_cache: bool = True,
    workers: int = 0,
) -> VariantSet:
    """``variant``'s pre-processed evaluation set of ``profile`` (same samples as the clean set).

    ``data_root``, ``n_per_class`` and ``seed`` choose the images as
    :func:`~robustmq.data.get_eval_data` does; ``geometry`` is ``aspect`` or ``square``. Cached per
    process and, with ``disk_cache`` (default), on disk for every later process; ``workers > 0``
    decodes in that many threads. Treat the tensors as read-only.
    """
    variant = get_variant(variant) if isinstance(variant, str) else variant
    pipeline = variant.pipeline(profile, geometry)
    root = None if data_root is None else os.fspath(data_root)
    dataset, files = _dataset(profile, root, n_per_class, seed)
    key = _key(dataset, files, pipeline)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        return _MEMORY[key]
    pixels = _pixels(dataset, pipeline, key, disk_cache, workers)
    labels = np.asarray(dataset.labels, dtype=np.int64)
    result = VariantSet(
        variant=variant.name,
        tensors=_to_tensors(pixels, labels, dataset.sample_ids),
        key=key,
        images_sha256=hashlib.sha256(pixels.tobytes()).hexdigest(),
        fingerprint=dataset.fingerprint,
        pipeline=pipeline.settings(),
    )
    _remember(key, result)
    return result


def clear_memory_cache() -> None:
    """Forget the sets and dataset listings :func:`variant_set` holds in this process."""
    _MEMORY.clear()
    _DATASETS.clear()
