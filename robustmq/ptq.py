"""Post-training quantization (PTQ): a quantized checkpoint made from a float one without QAT.

``ensure_ptq_checkpoint(float_checkpoint, spec, profile)`` opens the float checkpoint, converts it
with ``quantize_model(model, quantizer, bits, "academic")``, calibrates the quantizers on
``images`` training images of the profile (class-balanced, chosen by ``seed``, pre-processed like
the evaluation images, at the model's input size), re-estimates the BatchNorm statistics of the
quantized model on the same images (no parameter is learned) and, when ``epochs`` > 0, fine-tunes
it that many epochs with the profile's QAT recipe. The result is cached like the zoo's checkpoints:
content-keyed (the float file's sha256, quantizer, bits, policy, the quantizer's arithmetic
version, the calibration set's identity, the BatchNorm step, the fine-tuning and
:data:`PTQ_VERSION`), built once under
a file lock, written atomically; its meta says ``"method": "ptq"`` and records all of that.

This module never prints; ``python -m robustmq.ptq_perf`` measures PTQ against QAT.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from robustmq._version import __version__
from robustmq.artifacts import ensure_one
from robustmq.cells import FLOAT, ModelSpec
from robustmq.checkpoints import open_checkpoint, read_checkpoint_metadata, save_checkpoint
from robustmq.data import cache_dir, get_eval_data, get_train_data, load_tensors
from robustmq.data.pipeline import Pipeline
from robustmq.data.profiles import Profile, get_profile
from robustmq.data.sizes import pipeline_for_input
from robustmq.exceptions import CheckpointError, InvalidOptionError
from robustmq.hashing import sha256_file, sha256_json, sha256_lines
from robustmq.metrics import accuracy
from robustmq.models import input_size_of
from robustmq.predict import default_device, predict
from robustmq.quant import calibrate, get_quantizer, quantize_model
from robustmq.train import FolderTrainData, Progress, TensorTrainData, TrainData, train
from robustmq.zoo import CPU_BUILD_THREADS, NC_FACTOR, train_settings

__all__ = [
    "DEFAULT_PTQ_IMAGES",
    "POLICY",
    "PTQ_VERSION",
    "CalibrationSet",
    "calibration_set",
    "ensure_ptq_checkpoint",
    "evaluate_accuracy",
    "ptq_dir",
    "reestimate_batchnorm",
]

log = logging.getLogger(__name__)

#: Bumped whenever this module changes what a PTQ build produces (part of every cache key).
PTQ_VERSION = 1
#: The quantization policy of PTQ checkpoints (the zoo's).
POLICY = "academic"
#: Calibration images by default: 1,024, one per ImageNet class and then some. Measured on the
#: synthetic zoo (``python -m robustmq.ptq_perf --quantizer pact lsq --bits 2 4 8 --images 64 128
#: 256 512 1024 2048``, 4 architectures, 500 evaluation images): from 64 to 2,048 images no size
#: moved the mean gap to QAT by more than the noise between sizes (LSQ 4-bit -3.3 -4.3 -3.8 -3.9
#: -3.6 -3.5 points, PACT 4-bit -0.5 -0.8 -1.0 -1.4 -0.6 -1.0, 8-bit within +-0.6; 2-bit models
#: move by up to 10 points between sizes, with no trend); the 8-bit means were highest from 512
#: on (+0.3 / +0.4 against -0.2). So the count is set by coverage: class-balanced, 1,024 images
#: give every one of ImageNet's 1,000 classes an image (256 would leave 744 out), the calibration
#: set size of BRECQ and QDrop on ImageNet, for two forward passes (quantizer ranges, BatchNorm
#: statistics): 3 s for a synthetic ResNet50 on one busy CPU thread, its evaluation included.
DEFAULT_PTQ_IMAGES = 1024


def ptq_dir(profile: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Folder of a profile's PTQ checkpoints: ``root`` or ``<cache>/ptq/<profile>``."""
    return Path(root) if root is not None else cache_dir() / "ptq" / profile


@dataclass(frozen=True)
class CalibrationSet:
    """The training images PTQ calibrates on, and what identifies them.

    ``samples`` holds ``(sample id, label, path)`` sorted by sample id; ``identity`` is the
    JSON-able part of the cache key (profile, count, seed, pipeline, sample-id and file digests).
    """

    samples: tuple[tuple[str, int, str], ...]
    pipeline: Pipeline
    identity: dict[str, Any]

    def tensors(self) -> tuple[Tensor, Tensor]:
        """The images (float ``[N, 3, S, S]`` in [0, 1], the pipeline's crop) and labels."""
        images = torch.stack([self.pipeline(path) for _, _, path in self.samples])
        labels = torch.tensor([label for _, label, _ in self.samples], dtype=torch.int64)
        return images, labels


def _check_int(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidOptionError(
            f"{name}={value!r} ({type(value).__name__}) is invalid; expected an integer >= {least}"
        )
    return value


def calibration_set(
    profile: str,
    images: int,
    *,
    seed: int = 0,
    data_root: str | None = None,
    input_size: int | None = None,
) -> CalibrationSet:
    """``images`` training images of ``profile``, class-balanced and chosen by ``seed``.

    Every class gives ``images // classes`` images (the first of its seeded order, as
    :meth:`~robustmq.data.ImageFolder.subset` picks them), and ``images % classes`` classes,
    chosen by ``seed``, one more. They are pre-processed by the profile's pipeline at
    ``input_size`` (:func:`~robustmq.data.sizes.pipeline_for_input`). Only the files are read
    here (for their digest); :meth:`CalibrationSet.tensors` decodes them.
    """
    prof = get_profile(profile)
    _check_int("images", images, 1)
    _check_int("seed", seed, 0)
    pipeline = pipeline_for_input(prof, input_size)
    per_class, extra = divmod(images, prof.num_classes)
    most = per_class + (1 if extra else 0)
    try:
        # every class's first `most` images in its seeded order; a subset of it by the same
        # order holds the first `per_class` (ImageFolder.subset keeps earlier picks)
        dataset, _ = get_train_data(
            profile, data_root=data_root, n_per_class=most, seed=seed, pipeline=pipeline
        )
    except InvalidOptionError as exc:
        raise InvalidOptionError(
            f"images={images} calibration images of profile {profile!r} need {most} per "
            f"class: {exc}"
        ) from exc
    chosen: dict[str, tuple[int, str]] = {}
    if per_class:
        base = dataset if not extra else dataset.subset(per_class, seed)
        chosen.update((sid, (label, path)) for sid, (path, label) in _items(base))
    if extra:
        order = torch.randperm(prof.num_classes, generator=torch.Generator().manual_seed(seed))
        lucky = set(order[:extra].tolist())
        chosen.update(
            (sid, (label, path))
            for sid, (path, label) in _items(dataset)
            if label in lucky and sid not in chosen
        )
    samples = tuple((sid, label, path) for sid, (label, path) in sorted(chosen.items()))
    identity = {
        "profile": profile,
        "images": len(samples),
        "seed": seed,
        "pipeline": pipeline.settings(),
        "sample_ids_sha256": sha256_lines(f"{sid}\t{label}" for sid, label, _ in samples),
        "files_sha256": sha256_lines(f"{sid}\t{sha256_file(path)}" for sid, _, path in samples),
    }
    return CalibrationSet(samples, pipeline, identity)


def _items(dataset: Any) -> Iterator[tuple[str, tuple[str, int]]]:
    return zip(dataset.sample_ids, dataset.samples, strict=True)


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` torch threads (None: unchanged), restoring the old count."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def evaluate_accuracy(
    model: nn.Module,
    profile: str,
    *,
    data_root: str | None = None,
    seed: int = 0,
    pipeline: Pipeline | None = None,
    device: str | torch.device = "cpu",
) -> tuple[float, int]:
    """Top-1 accuracy of ``model`` (on ``device``) on the profile's evaluation set, and its size.

    The set is the zoo's validation set: :func:`~robustmq.data.get_eval_data` with ``seed``
    (synthetic: 500 images), pre-processed by ``pipeline`` (default: the profile's).
    """
    dataset, pipeline = get_eval_data(profile, data_root=data_root, seed=seed, pipeline=pipeline)
    data = load_tensors(dataset, pipeline)
    correct = predict(model, data.images, 256, device) == data.labels
    return accuracy(correct), int(data.labels.numel())


def _finetune_set(
    profile: Profile, arch: str, pipeline: Pipeline, data_root: str | None, seed: int
) -> tuple[Any, Pipeline, dict[str, Any]]:
    """The training set of the QAT recipe (images at the resize size) and what identifies it."""
    full = dataclasses.replace(pipeline, crop_size=pipeline.resize_size)
    dataset, _ = get_train_data(profile.name, data_root=data_root, seed=seed, pipeline=full)
    identity = {
        "sample_ids_sha256": dataset.fingerprint,
        "qat_images": profile.recipe.qat_images_of(arch),
        "train_pad": profile.recipe.train_pad,
    }
    return dataset, full, identity


def _finetune_data(
    profile: Profile, arch: str, dataset: Any, full: Pipeline, crop: int, batch_size: int
) -> TrainData:
    """The QAT recipe's batches: random ``crop`` crops and flips, as the zoo trains."""
    if not profile.builds_checkpoints:  # ImageNet-sized: stream with the standard augmentation
        samples = [(str(path), int(label)) for path, label in dataset.samples]
        return FolderTrainData(samples, crop, batch_size)
    tensors = load_tensors(dataset, full)
    images = tensors.images.mul(255).round_().to(torch.uint8)
    pad = profile.recipe.train_pad
    if pad:
        images = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    max_images = profile.recipe.qat_images_of(arch)
    return TensorTrainData(images, tensors.labels, crop, batch_size, max_images=max_images)


def reestimate_batchnorm(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Replace every BatchNorm's running statistics by their mean over ``batches``; images seen.

    Only the BatchNorm layers run in train mode (cumulative average, ``momentum=None``); every
    other module stays in eval mode, nothing else changes, and the model ends in eval mode. A
    quantized model needs it: its convolutions' outputs are no longer the float model's, and
    DoReFa's (and PACT's) weight transform rescales each weight tensor to [-1, 1], so the float
    model's statistics no longer fit at all (synthetic zoo, PACT 8-bit from 1,024 images: 11-70 %
    without, 90-92 % with, QAT 90-93 %).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    momenta = [m.momentum for m in norms]
    seen = 0
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
            m.train()
        with torch.no_grad():
            for batch in batches:
                model(batch)
                seen += int(batch.shape[0])
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    return seen


def _calibration_batches(images: Tensor, batch_size: int, seed: int) -> list[Tensor]:
    """``images`` in a seeded random order (mixed classes), in batches of ``batch_size``."""
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    shuffled = images[order]
    return [shuffled[i : i + batch_size] for i in range(0, shuffled.shape[0], batch_size)]


def ensure_ptq_checkpoint(
    float_checkpoint: str | os.PathLike[str],
    spec: ModelSpec,
    profile: str,
    *,
    data_root: str | None = None,
    images: int = DEFAULT_PTQ_IMAGES,
    epochs: int = 0,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    progress: Progress | None = None,
    input_size: int | None = None,
    reestimate_bn: bool = True,
) -> Path:
    """Path of ``spec``'s PTQ checkpoint made from ``float_checkpoint``, built once and cached.

    ``spec`` names the architecture, quantizer and bits (policy ``academic``). The float checkpoint
    is opened with :func:`~robustmq.checkpoints.open_checkpoint` (safetensors or a
    ``weights_only`` state_dict; its errors propagate as they are, naming the file) and must hold
    a float ``spec.arch`` with the profile's number of classes. The quantized copy is calibrated on
    :func:`calibration_set` (``images``, ``seed``, at ``input_size``; None: the size registered
    with ``robustmq.register_model``, else the profile's crop) in batches of the recipe's batch
    size (a seeded mix of the classes), its BatchNorm statistics re-estimated on the same batches
    (:func:`reestimate_batchnorm`; ``reestimate_bn=False`` leaves the float model's), then it is
    fine-tuned ``epochs`` epochs with the profile's QAT recipe
    (:func:`robustmq.zoo.train_settings`; ``progress`` receives the trainer's reports).
    For CPU-sized profiles it is then evaluated on the zoo's validation set (``val_accuracy``,
    ``converged`` as the zoo's: >= twice chance) and built on the zoo's one CPU thread.

    The file is ``<root>/<spec.id>-<key>.safetensors`` (``root`` default:
    :func:`ptq_dir`), ``key`` the sha256 of everything that determines it; a present, intact file
    with that key is reused without building.
    """
    if spec.is_float:
        raise InvalidOptionError(
            f"spec {spec.id} is the float model; PTQ needs a quantizer and bits "
            "(e.g. ModelSpec('resnet18', 'lsq', 4))"
        )
    _check_int("images", images, 1)
    _check_int("epochs", epochs, 0)
    _check_int("seed", seed, 0)
    prof = get_profile(profile)
    parent = open_checkpoint(
        float_checkpoint, arch=spec.arch, quantizer=FLOAT, num_classes=prof.num_classes
    )
    size = input_size if input_size is not None else input_size_of(spec.arch)
    calib = calibration_set(profile, images, seed=seed, data_root=data_root, input_size=size)
    settings = (
        dataclasses.replace(train_settings(spec, prof, seed), epochs=epochs) if epochs else None
    )
    finetune: dict[str, Any] | None = None
    train_set: tuple[Any, Pipeline] | None = None
    if settings is not None:
        dataset, full, identity = _finetune_set(prof, spec.arch, calib.pipeline, data_root, seed)
        train_set = (dataset, full)
        finetune = {"settings": settings.to_dict(), **identity}
    key_fields: dict[str, Any] = {
        "ptq_version": PTQ_VERSION,
        "float_sha256": parent.sha256,
        "arch": spec.arch,
        "quantizer": spec.quantizer,
        "bits": spec.bits,
        "policy": POLICY,
        "arithmetic_version": get_quantizer(spec.quantizer).arithmetic_version,
        "calibration": {**calib.identity, "batch_size": prof.recipe.batch_size},
        "bn_reestimated": reestimate_bn,
        "epochs": epochs,
        "finetune": finetune,
    }
    key = sha256_json(key_fields)
    path = ptq_dir(profile, root) / f"{spec.id}-{key[:16]}.safetensors"
    torch_device = torch.device(device) if device is not None else default_device()

    def current(candidate: Path) -> Path | None:
        if not candidate.is_file():
            return None
        try:
            meta = read_checkpoint_metadata(candidate, verify=True)["meta"]
        except (CheckpointError, OSError) as exc:
            log.warning("%s: unreadable or damaged (%s), rebuilding", candidate, exc)
            return None
        return candidate if meta.get("ptq_key") == key else None

    def build(target: Path) -> Path:
        pinned = torch_device.type == "cpu" and prof.builds_checkpoints
        start = time.perf_counter()
        with _threads(CPU_BUILD_THREADS if pinned else None):
            threads = torch.get_num_threads() if torch_device.type == "cpu" else None
            model = quantize_model(parent.model, spec.quantizer, spec.bits or 32, POLICY)
            model.to(torch_device)
            calib_images, _ = calib.tensors()
            batches = _calibration_batches(calib_images, prof.recipe.batch_size, seed)
            calibrate(model, (batch.to(torch_device) for batch in batches))
            if reestimate_bn:
                reestimate_batchnorm(model, (batch.to(torch_device) for batch in batches))
            if settings is not None and train_set is not None:
                crop = calib.pipeline.crop_size
                data = _finetune_data(prof, spec.arch, *train_set, crop, settings.batch_size)
                train(model, data, settings, device=torch_device, progress=progress)
            model.eval()
            val: tuple[float, int] | None = None
            if prof.builds_checkpoints:
                val = evaluate_accuracy(
                    model,
                    profile,
                    data_root=data_root,
                    seed=seed,
                    pipeline=calib.pipeline,
                    device=torch_device,
                )
        meta: dict[str, Any] = {
            "method": "ptq",
            "profile": profile,
            "dataset": profile,
            "model_id": spec.id,
            "float_checkpoint": str(parent.path),
            "float_sha256": parent.sha256,
            "quantizer": spec.quantizer,
            "bits": spec.bits,
            "policy": POLICY,
            "arithmetic_version": key_fields["arithmetic_version"],
            "calibration": {
                **key_fields["calibration"],
                "sample_ids": [sid for sid, _, _ in calib.samples],
            },
            "bn_reestimated": reestimate_bn,
            "epochs": epochs,
            "finetune": finetune,
            "seed": seed,
            "ptq_version": PTQ_VERSION,
            "ptq_key": key,
            "build_seconds": round(time.perf_counter() - start, 2),
            "device": str(torch_device),
            "torch_threads": threads,
            "torch": str(torch.__version__),
            "robustmq": __version__,
        }
        if val is not None:
            chance = 1.0 / prof.num_classes
            meta.update(
                val_accuracy=val[0], val_samples=val[1], converged=val[0] >= NC_FACTOR * chance
            )
        save_checkpoint(model.cpu(), target, **meta)
        return target

    return ensure_one(path, current, build)
