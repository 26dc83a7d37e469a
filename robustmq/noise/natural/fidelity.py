"""How closely a profile's corruption scale reproduces its reference: RMS distortion, side by side.

``python -m robustmq.noise.natural.perf fidelity --profile P`` prints, for every corruption x
severity, the RMS distortion (in 0-255 levels, pooled over every pixel of every image) of the
profile's corrupted crops, the same of the reference, their ratio, and the distortion and ratio
of ImageNet-C's table applied to the crop as it is (the ``imagenet`` scale, what every profile
used before scales existed). The reference depends on the scale (:mod:`.scales`):

- ``cifar10`` (corrupts the 32 px source): CIFAR-10-C's table at 32 px, i.e. ``RMS(C(x) - x)`` on
  the native test images, against ``RMS(crop(C(x)) - crop(x))`` at the profile's crop (the
  pipeline's upsampling smooths pixel-level changes, so noise-like ratios sit below 1);
- ``imagenet`` and ``synthetic`` (corrupt the crop): ImageNet-C at 224 px resized to the
  profile's crop (DCT resampling, :func:`~.scales.dct_resize`), on images that really are
  224 px: the profile's evaluation images decoded at the 224 px geometry (resize scaled by
  224 / crop, crop 224) or, for a generated profile without ``--data-root``, its synthetic scenes
  rendered at the size that gives 224 px after the same geometry (280 px for synthetic); the
  profile's image is that 224 px image DCT-resized to the crop.

Every corruption call of one image, corruption and severity gets the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from robustmq.data.pipeline import Pipeline
from robustmq.data.profiles import Profile
from robustmq.noise.natural.corruptions import (
    SEVERITIES,
    corrupt_image,
    corruption_names,
    image_seed,
)
from robustmq.noise.natural.scales import REFERENCE_SIZE, CorruptionScale, dct_resize, get_scale

__all__ = [
    "TARGET",
    "FidelityImages",
    "FidelityRow",
    "fidelity_images",
    "fidelity_table",
    "format_fidelity",
    "rms",
]

#: The range a scale's ratios should fall in.
TARGET = (0.8, 1.25)


def rms(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean square of ``a - b`` over every element, in the arrays' units."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2)))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FidelityImages:
    """The images a fidelity table is measured on.

    ``inputs``: what the scale corrupts (the crops, or the 32 px sources); ``crops``: the
    profile's clean crops; ``reference``: the reference's clean images (224 px for ImageNet-C,
    the 32 px sources for CIFAR-10-C); ``what``: how they were made, for the printout.
    """

    inputs: np.ndarray
    crops: np.ndarray
    reference: np.ndarray
    what: str


def _rendered(profile: Profile, per_class: int, seed: int) -> tuple[np.ndarray, str]:
    """The profile's synthetic scenes drawn at the size that gives 224 px crops."""
    from robustmq.data.drawing import CLASSES, render

    assert profile.synthetic is not None
    size = round(profile.synthetic.size * REFERENCE_SIZE / profile.crop_size)
    resize = round(profile.resize_size * REFERENCE_SIZE / profile.crop_size)
    pipeline = Pipeline(resize_size=resize, crop_size=REFERENCE_SIZE)
    images = []
    for index in range(per_class):
        for label, name in enumerate(CLASSES):
            rng = np.random.default_rng([seed, label, index, REFERENCE_SIZE])
            images.append(pipeline.resize_crop(render(name, rng, size)))
    what = (
        f"synthetic scenes rendered at {size} px, resized to {resize} and cropped to "
        f"{REFERENCE_SIZE} (seed {seed})"
    )
    return np.stack(images), what


def fidelity_images(
    profile: Profile,
    scale: CorruptionScale,
    *,
    per_class: int,
    seed: int = 0,
    data_root: str | None = None,
) -> FidelityImages:
    """The images to measure ``scale`` on for ``profile`` (see the module's docstring)."""
    from robustmq.data import get_eval_data

    crop = profile.crop_size
    if scale.stage == "source" or data_root is not None or profile.synthetic is None:
        dataset, pipeline = get_eval_data(
            profile.name, data_root=data_root, n_per_class=per_class, seed=seed
        )
        if scale.stage == "source":
            sources = np.stack([scale.input_of(pipeline, path) for path, _ in dataset.samples])
            crops = np.stack([pipeline.resize_crop(s) for s in sources])
            what = f"{len(sources)} evaluation images of {dataset.root} ({dataset.split})"
            return FidelityImages(sources, crops, sources, what)
        resize = round(profile.resize_size * REFERENCE_SIZE / crop)
        big = Pipeline(resize_size=resize, crop_size=REFERENCE_SIZE)
        reference = np.stack([big.load_uint8(path) for path, _ in dataset.samples])
        what = (
            f"{len(reference)} evaluation images of {dataset.root} ({dataset.split}), resized "
            f"to {resize} and cropped to {REFERENCE_SIZE}"
        )
    else:
        reference, what = _rendered(profile, per_class, seed)
    if crop == REFERENCE_SIZE:
        crops = reference
    else:
        crops = np.stack([_to_uint8(dct_resize(x, crop, crop)) for x in reference])
        what += f"; the profile's images: DCT-resized to {crop} px"
    return FidelityImages(crops, crops, reference, what)


@dataclass(frozen=True)
class FidelityRow:
    """One corruption x severity: RMS distortions (0-255 levels) and their ratios."""

    corruption: str
    severity: int
    #: the profile's corrupted crops against its clean crops.
    rms: float
    #: the reference's distortion.
    reference: float
    #: ImageNet-C's table applied to the crop as it is, against the clean crops.
    unscaled: float

    @property
    def ratio(self) -> float:
        """``rms / reference`` (NaN when the reference did not change the images)."""
        return self.rms / self.reference if self.reference > 0 else math.nan

    @property
    def unscaled_ratio(self) -> float:
        """``unscaled / reference`` (NaN when the reference did not change the images)."""
        return self.unscaled / self.reference if self.reference > 0 else math.nan


def _reference(
    scale: CorruptionScale, images: FidelityImages, name: str, severity: int, seeds: Sequence[int]
) -> float:
    if scale.stage == "source":
        out = [
            corrupt_image(x, name, severity, s, table=scale.table)
            for x, s in zip(images.reference, seeds, strict=True)
        ]
        return rms(np.stack(out), images.reference)
    crop = images.crops.shape[1]
    out = []
    for x, s in zip(images.reference, seeds, strict=True):
        corrupted = corrupt_image(x, name, severity, s)
        out.append(
            corrupted if crop == x.shape[0] else _to_uint8(dct_resize(corrupted, crop, crop))
        )
    return rms(np.stack(out), images.crops)


def fidelity_table(
    profile: Profile,
    images: FidelityImages,
    *,
    corruptions: Iterable[str] | None = None,
    severities: Iterable[int] = SEVERITIES,
    seed: int = 0,
) -> list[FidelityRow]:
    """One :class:`FidelityRow` per corruption x severity, under ``profile``'s corruption scale,
    on ``images`` (:func:`fidelity_images`)."""
    spec = get_scale(profile.corruption_scale)
    pipeline = Pipeline.from_profile(profile)
    names = list(corruption_names() if corruptions is None else corruptions)
    severities = list(severities)
    rows = []
    for name in names:
        for severity in severities:
            seeds = [
                image_seed(seed, f"fidelity/{i}", name, severity) for i in range(len(images.crops))
            ]
            ours = [
                spec.apply(x, name, severity, s, pipeline=pipeline)
                for x, s in zip(images.inputs, seeds, strict=True)
            ]
            unscaled = [
                corrupt_image(x, name, severity, s)
                for x, s in zip(images.crops, seeds, strict=True)
            ]
            rows.append(
                FidelityRow(
                    name,
                    severity,
                    rms(np.stack(ours), images.crops),
                    _reference(spec, images, name, severity, seeds),
                    rms(np.stack(unscaled), images.crops),
                )
            )
    return rows


def _reference_text(profile: Profile, spec: CorruptionScale) -> str:
    if spec.stage == "source":
        return (
            f"CIFAR-10-C's table at {spec.native_size} px (RMS on the native images), next to "
            f"the profile's {profile.crop_size} px crops of the corrupted images"
        )
    return f"ImageNet-C at {REFERENCE_SIZE} px, DCT-resized to {profile.crop_size} px"


def format_fidelity(
    profile: Profile,
    images: FidelityImages,
    rows: Sequence[FidelityRow],
    target: tuple[float, float] = TARGET,
) -> str:
    """The rows as a Markdown table with a header and a summary of the ratios."""
    spec = get_scale(profile.corruption_scale)
    crop = profile.crop_size
    if spec.stage == "source":
        ref_column = f"reference at {spec.native_size} px"
    elif crop == REFERENCE_SIZE:
        ref_column = f"reference at {REFERENCE_SIZE} px"
    else:
        ref_column = f"reference ({REFERENCE_SIZE} px -> {crop} px)"
    lines = [
        f"corruption fidelity: profile {profile.name}, scale {spec.name} ({spec.description})",
        f"images: {images.what}",
        f"reference: {_reference_text(profile, spec)}",
        "RMS distortion in 0-255 levels, pooled over every pixel of every image; 'unscaled': "
        f"ImageNet-C's table applied to the {crop} px crop as it is",
        "",
        f"| corruption | severity | RMS at {crop} px | {ref_column} | ratio | "
        "unscaled | unscaled ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.corruption} | {r.severity} | {r.rms:.2f} | {r.reference:.2f} | "
            f"{r.ratio:.2f} | {r.unscaled:.2f} | {r.unscaled_ratio:.2f} |"
        )
    ratios = [r.ratio for r in rows if not math.isnan(r.ratio)]
    low, high = target
    if spec.stage == "source":
        lines.append("")
        lines.append(
            "note: the same corrupted images, seen after the pipeline's bilinear upsampling: "
            "it keeps about 2/3 of the RMS of pixel-level noise ((2/3)^2 of its variance in two "
            "dimensions), so noise-like ratios near 0.67 measure the upsampling, not the table"
        )
    outside = [r for r in rows if not low <= r.ratio <= high]
    lines.append("")
    if ratios:
        lines.append(f"ratio: {min(ratios):.2f} to {max(ratios):.2f} over {len(ratios)} cells")
    unscaled = [r.unscaled_ratio for r in rows if not math.isnan(r.unscaled_ratio)]
    if unscaled:
        lines.append(f"unscaled ratio: {min(unscaled):.2f} to {max(unscaled):.2f}")
    if outside:
        text = ", ".join(f"{r.corruption}-s{r.severity} ({r.ratio:.2f})" for r in outside)
        lines.append(f"outside {low}-{high}: {len(outside)} cells: {text}")
    else:
        lines.append(f"outside {low}-{high}: none")
    return "\n".join(lines)
