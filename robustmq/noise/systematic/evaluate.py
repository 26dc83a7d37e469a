"""One systematic-noise cell: a model evaluated on a variant's set and on the reference set.

The reference set is the ``decoder_pil`` variant under the same resize geometry (with the default
``aspect`` geometry it is the clean evaluation set, bit for bit). The model's correctness on it is
kept per process, keyed by the checkpoint and the set's pixels, so the 14 cells of a model run it
once, and a variant whose pixels equal another's (``resize_pil_bilinear`` is the reference's own
resize; OpenCV decodes baseline JPEGs as Pillow does) reuses that set's predictions instead of
running the model again (same input, same deterministic model: same predictions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from robustmq.data.profiles import get_profile
from robustmq.exceptions import RobustMQError
from robustmq.noise.systematic.metrics import variant_metrics
from robustmq.noise.systematic.sets import (
    VariantSet,
    decoder_versions,
    systematic_per_class,
    variant_set,
)
from robustmq.noise.systematic.variants import REFERENCE, get_variant
from robustmq.predict import predict

__all__ = ["SampleMismatchError", "VariantResult", "clear_correct_cache", "evaluate_variant"]

_CORRECT_CACHE_SIZE = 512
# (model key, sha256 of the set's pixels, dataset fingerprint) -> per-sample correctness, for
# callers that pass no cache of their own (the benchmark passes its run context's)
_CORRECT: dict[Any, Tensor] = {}


class VariantSettings(Protocol):
    """Which images and how: the benchmark's settings satisfy it."""

    profile: str
    data_root: str | None
    seed: int
    batch_size: int
    resize_geometry: str

    def per_class(self, num_classes: int) -> int | None: ...


class SampleMismatchError(RobustMQError, ValueError):
    """A variant's set does not hold the same samples, in the same order, as the reference."""


@dataclass(frozen=True)
class VariantResult:
    """What a cell records: ``metrics``, per-sample ``correct``, ``params``, ``extra_settings``."""

    metrics: dict[str, float]
    correct: Tensor
    params: dict[str, Any]
    extra_settings: dict[str, Any]


def _set(name: str, settings: VariantSettings, input_size: int | None = None) -> VariantSet:
    profile = get_profile(settings.profile)
    variant = get_variant(name)
    if input_size is not None:
        variant = dataclasses.replace(variant, input_size=input_size)
    return variant_set(
        variant,
        profile.name,
        data_root=settings.data_root,
        n_per_class=systematic_per_class(profile.name, settings.per_class(profile.num_classes)),
        seed=settings.seed,
        geometry=settings.resize_geometry,
    )


def _correct(model: nn.Module, data: VariantSet, batch_size: int, device: torch.device) -> Tensor:
    tensors = data.tensors
    return predict(model, tensors.images, batch_size, device) == tensors.labels


def _cached_correct(
    model: nn.Module,
    model_key: str,
    data: VariantSet,
    batch_size: int,
    device: torch.device,
    cache: MutableMapping[Any, Tensor],
) -> Tensor:
    """Correctness of ``model`` on ``data``, once per (model, pixels): identical sets share it."""
    key = (model_key, data.images_sha256, data.fingerprint)
    if key not in cache:
        if len(cache) >= _CORRECT_CACHE_SIZE:
            cache.clear()
        cache[key] = _correct(model, data, batch_size, device)
    return cache[key]


def evaluate_variant(
    model: nn.Module,
    variant: str,
    settings: VariantSettings,
    *,
    model_key: str,
    device: torch.device | str | None = None,
    expected_ids: tuple[str, ...] | None = None,
    cache: MutableMapping[Any, Tensor] | None = None,
    input_size: int | None = None,
) -> VariantResult:
    """``model`` (eval, on ``device``) on ``variant``'s set and on the reference set.

    ``model_key`` identifies the model (e.g. its checkpoint's sha256) in ``cache``, where the
    correctness per (model, pixels) is kept (default: this module's). ``expected_ids`` (the clean
    set's sample ids), if given, must hold the variant's in the same order (all of them, or more
    where the clean cell takes more images per class: cifar10); SampleMismatchError otherwise.
    ``input_size``: the crop of a model registered with its own (None: the profile's); every set
    is then made at that crop.
    """
    spec = get_variant(variant)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    reference = _set(REFERENCE, settings, input_size)
    data = reference if spec.is_reference else _set(spec.name, settings, input_size)
    ids_here = data.tensors.sample_ids
    if expected_ids is not None and len(expected_ids) > len(ids_here):
        wanted = set(ids_here)
        expected_ids = tuple(i for i in expected_ids if i in wanted)
    for name, ids in (("reference", reference.tensors.sample_ids), ("clean", expected_ids)):
        if ids is not None and ids != ids_here:
            raise SampleMismatchError(
                f"variant {spec.name!r} holds {len(data.tensors)} samples that differ from the "
                f"{name} set's {len(ids)} (or their order); expected the same sample ids in order"
            )
    memory = _CORRECT if cache is None else cache
    correct = _cached_correct(model, model_key, data, settings.batch_size, device, memory)
    ref_correct = _cached_correct(model, model_key, reference, settings.batch_size, device, memory)
    extra = {
        "pipeline": data.pipeline,
        "reference_pipeline": reference.pipeline,
        "variant_set_sha256": data.images_sha256,
        "reference_set_sha256": reference.images_sha256,
        "decoder_versions": decoder_versions(),
    }
    return VariantResult(
        metrics=variant_metrics(correct, ref_correct),
        correct=correct,
        params=spec.params(settings.resize_geometry),
        extra_settings=extra,
    )


def clear_correct_cache() -> None:
    """Forget the per-sample correctness kept per (model, set) in this process."""
    _CORRECT.clear()
