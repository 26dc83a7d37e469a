"""Where a natural cell's corrupted images come from, once per process per (corruption, severity).

:class:`NaturalSets` serves the corrupted evaluation set of a (corruption, severity) as a float
tensor laid out as :func:`robustmq.data.load_tensors` lays out the clean set (same samples, same
order). The images come from the shared disk cache (:mod:`.generate`, built on first need, under
the profile's corruption scale: :mod:`.scales`) or, with ``--rmq-imagenet-c DIR``, from the
released ImageNet-C files (:mod:`.imagenet_c`; ImageNet-C's own scale). A small
per-process cache keeps them as uint8 (least recently used out past ``memory_bytes``), so the cells
of every model share one read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustmq.data import ImageFolder, get_eval_data
from robustmq.data.pipeline import Pipeline
from robustmq.noise.natural.corruptions import get_corruption
from robustmq.noise.natural.generate import SetSource, build_sets, load_set
from robustmq.noise.natural.imagenet_c import read_imagenet_c
from robustmq.results.record import sample_ids_digest

__all__ = ["MEMORY_BYTES", "NATURAL_PER_CLASS", "NaturalSets", "eval_dataset", "natural_per_class"]

#: Default budget of the per-process cache (uint8 pixels).
MEMORY_BYTES = 1024**3
#: Evaluation images per class of natural cells when ``--rmq-n-samples`` is not given (a profile
#: not listed uses its clean default). Synthetic: 10 of the clean set's 50 per class (a subset:
#: the seeded selection keeps earlier picks): the 52 x 75 cells then cost ~0.17 s of CPU each at
#: 64 px (~11 min of CPU, generation included: ~6 min on 2 idle cores); 25 per class cost 0.26 s.
#: The synthetic scale corrupts at 224 px (:mod:`.scales`): generating the 75 sets of 100 images
#: took 78 s on 2 busy cores (19 s at 64 px), once for every model. cifar10: 100 of the 1,000 test
#: images per class (the clean cell takes all 10,000; its 75 sets of 1,000 images are generated
#: once for every model).
NATURAL_PER_CLASS: dict[str, int] = {"synthetic": 10, "cifar10": 100}


def natural_per_class(profile: str, num_classes: int, n_samples: int | None) -> int | None:
    """Images per class of natural cells: from ``n_samples`` when given, else the profile's."""
    if n_samples is not None:
        return max(1, n_samples // num_classes)
    return NATURAL_PER_CLASS.get(profile)


def eval_dataset(
    profile: str,
    data_root: str | None,
    n_per_class: int | None,
    seed: int,
    pipeline: Pipeline | None = None,
) -> tuple[ImageFolder, Pipeline]:
    """The evaluation images natural cells corrupt, pre-processed by ``pipeline`` (default: the
    profile's) (``get_eval_data``; the natural family keeps the sets made from them in the run's
    context, so this runs once per run and pipeline)."""
    return get_eval_data(
        profile, data_root=data_root, n_per_class=n_per_class, seed=seed, pipeline=pipeline
    )


class NaturalSets:
    """The corrupted evaluation sets of one dataset, pipeline, seed and source."""

    def __init__(
        self,
        dataset: ImageFolder,
        pipeline: Pipeline,
        *,
        seed: int,
        jpeg: bool = False,
        imagenet_c: str | Path | None = None,
        memory_bytes: int = MEMORY_BYTES,
        workers: int | None = None,
        scale: str = "imagenet",
    ) -> None:
        self.dataset = dataset
        self.pipeline = pipeline
        self.seed = seed
        self.jpeg = jpeg
        self.imagenet_c = Path(imagenet_c) if imagenet_c is not None else None
        self.memory_bytes = memory_bytes
        self.workers = workers
        self._source = SetSource.of(dataset, pipeline, seed=seed, jpeg=jpeg, scale=scale)
        self._labels = torch.tensor(dataset.labels, dtype=torch.int64)
        self._memory: OrderedDict[tuple[str, int], tuple[torch.Tensor, dict[str, Any]]] = (
            OrderedDict()
        )

    @property
    def sample_ids(self) -> tuple[str, ...]:
        """The samples of every set, in order."""
        return self.dataset.sample_ids

    @property
    def labels(self) -> torch.Tensor:
        """The class index of every sample (int64), in order."""
        return self._labels

    @property
    def sample_ids_sha256(self) -> str:
        """sha256 of the sample ids in order (as records name a sample set)."""
        return sample_ids_digest(self.sample_ids)

    @property
    def scale(self) -> str:
        """The corruption scale of the sets (``imagenet`` for the released ImageNet-C files)."""
        return "imagenet" if self.imagenet_c is not None else self._source.scale

    @property
    def source(self) -> str:
        """``generated`` or ``imagenet-c``."""
        return "generated" if self.imagenet_c is None else "imagenet-c"

    def prepare(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Generate every missing set of ``pairs`` now, in one pool (nothing for ImageNet-C)."""
        if self.imagenet_c is None:
            build_sets(
                self.dataset,
                self.pipeline,
                pairs,
                seed=self.seed,
                jpeg=self.jpeg,
                workers=self.workers,
                scale=self._source.scale,
            )

    def _read(self, corruption: str, severity: int) -> tuple[np.ndarray, dict[str, Any]]:
        if self.imagenet_c is not None:
            pixels = read_imagenet_c(
                self.imagenet_c, corruption, severity, self.sample_ids, self.pipeline.crop_size
            )
            return pixels, {"source": self.source, "imagenet_c": str(self.imagenet_c)}
        pixels, meta = load_set(
            self.dataset,
            self.pipeline,
            corruption,
            severity,
            seed=self.seed,
            jpeg=self.jpeg,
            scale=self._source.scale,
        )
        provenance = {
            "source": self.source,
            "key": meta["key"],
            "package": meta["package"],
            "jpeg": meta["jpeg"],
            "scale": meta["scale"],
            "calls": meta["calls"],
        }
        return pixels, provenance

    def _uint8(self, corruption: str, severity: int) -> tuple[torch.Tensor, dict[str, Any]]:
        get_corruption(corruption)
        pair = (corruption, severity)
        if pair in self._memory:
            self._memory.move_to_end(pair)
            return self._memory[pair]
        pixels, provenance = self._read(corruption, severity)
        chw = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
        self._memory[pair] = (chw, provenance)
        used = sum(t.numel() for t, _ in self._memory.values())
        while used > self.memory_bytes and len(self._memory) > 1:
            old, _ = self._memory.popitem(last=False)[1]
            used -= old.numel()
        return chw, provenance

    def images(self, corruption: str, severity: int) -> torch.Tensor:
        """The corrupted set: float32 ``[N, 3, H, W]`` in [0, 1] (x / 255), a new tensor."""
        chw, _ = self._uint8(corruption, severity)
        return chw.to(torch.float32).div_(255)

    def provenance(self, corruption: str, severity: int) -> dict[str, Any]:
        """Where the set came from (source, cache key, package, JPEG option, scale, calls)."""
        return dict(self._uint8(corruption, severity)[1])

    def cached(self) -> int:
        """How many sets the per-process cache holds."""
        return len(self._memory)
