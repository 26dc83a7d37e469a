"""Corruption scales: which parameter table a profile's corruptions use, and at which image size.

ImageNet-C's parameters were set for 224 px crops. Applied as they are to the 64 px crops of the
``synthetic`` and ``cifar10`` profiles they are much stronger than intended: measured as the RMS
distortion at 64 px against the same corruption applied at 224 px and resized to 64 px
(``python -m robustmq.noise.natural.perf fidelity``, synthetic scenes, the "unscaled" column),
noises 2.7-3.4 x, defocus blur 1.2-2.2 x, glass 1.3-1.7 x, motion 1.3-1.4 x, elastic 1.5-2.0 x,
pixelate 2.0-8.0 x, JPEG 1.5-2.1 x; zoom blur, snow, frost, fog, brightness and contrast
1.00-1.06 x. Each profile therefore declares its scale (``Profile.corruption_scale``), one of:

- ``imagenet``: ImageNet-C's parameters applied to the profile's crop as it is (the imagenet
  profile: its crop is 224 px). Byte-identical to the generation before scales existed.
- ``cifar10``: CIFAR-10-C's own table (:mod:`.cifar_c`, Hendrycks & Dietterich's
  ``make_cifar_c.py``) applied to the native 32 x 32 image, *before* the profile's pipeline
  resizes and crops it (cifar10: resize 36, crop 32), as CIFAR-10-C's images were made from the
  32 px originals. A source image of another size is refused.
- ``synthetic``: ImageNet-C's parameters at their own 224 px scale: the crop is resized up to
  224 x 224, corrupted there and resized back to the crop's size, both ways with DCT resampling
  (band-limited interpolation with the symmetric boundary of the DCT-II: the image's
  orthonormal 2-D DCT coefficients are zero-padded, or truncated, to the new size, scaled by
  sqrt(new area / old area) and inverted; rounded and clipped to uint8 after each resize).
  Chosen by measurement (the fidelity diagnostic on synthetic scenes rendered at 280 px and
  cropped to 224 px, whose 64 px versions are the DCT-resized ones; 20 images): the distortion
  then matches the reference (ImageNet-C at 224 px, DCT-resized to 64 px) within 0.91-1.06 x for
  all 75 corruption x severity cells. The lowest, 0.91-0.97, are elastic (every severity) and
  pixelate severities 4-5, presumably because the reference's 224 px images hold detail finer
  than 64 px, which those two move or merge into coarser structures, while the upsampled crop
  holds none. With Pillow's Lanczos filter both ways instead, the resize-up-and-down round trip
  alone costs 4.5 levels RMS (1.0 with DCT), which took pixelate severities 1-2 (reference
  2.3-2.6 levels) to 2.3-2.6 x and the noises' severity 1 to 1.2-1.3 x; adding only the
  corruption's change at 224 px to the crop (the round trip left out) instead left the blurs at
  0.82-0.92 x, elastic at 0.76-0.82 x and pixelate at 0.77-0.81 x, because the Lanczos round
  trip damps the detail the blurs remove. A derived 64 px table (each parameter rescaled) would
  need a search per corruption and severity and could not reproduce the frost picture's or the
  JPEG blocks' scale; the DCT route reuses ImageNet-C's table unchanged. It costs more:
  corruptions run at 224 px (~10 x the 64 px work): the synthetic natural sets (75 x 100
  images) took 78 s to generate on 2 busy cores, against 19 s at 64 px.

A scale is part of every corrupted set's cache key (:meth:`CorruptionScale.fields`), so sets
made under another scale or table are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robustmq.data.pipeline import Pipeline
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.hashing import sha256_json
from robustmq.noise.natural import cifar_c
from robustmq.noise.natural.corruptions import corrupt_image, jpeg_round_trip
from robustmq.registry import Registry

__all__ = [
    "REFERENCE_SIZE",
    "SCALES",
    "CorruptionScale",
    "dct_resize",
    "get_scale",
    "scale_names",
]

#: ImageNet-C's crop side: where its parameters apply.
REFERENCE_SIZE = 224


def dct_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` (``H x W [x C]``) resampled to ``height x width`` through its DCT: float64.

    The orthonormal 2-D DCT-II coefficients are zero-padded (larger) or truncated (smaller) to
    the new size, scaled by sqrt(new area / old area) so a constant image keeps its value, and
    inverted: band-limited (ideal low-pass) interpolation with the DCT's symmetric boundary, so
    resizing up and back down returns the image (up to floating point).
    """
    from scipy.fft import dctn, idctn

    a = np.asarray(image, dtype=np.float64)
    h, w = a.shape[:2]
    coef = dctn(a, type=2, norm="ortho", axes=(0, 1))
    out = np.zeros((height, width, *a.shape[2:]), dtype=np.float64)
    kh, kw = min(h, height), min(w, width)
    out[:kh, :kw] = coef[:kh, :kw]
    resized: np.ndarray = idctn(out, type=2, norm="ortho", axes=(0, 1))
    return resized * np.sqrt(height * width / (h * w))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class CorruptionScale:
    """How one profile corrupts an image: a parameter table, a stage and a working size.

    ``table``: ``imagenet`` or ``cifar10`` (see :func:`~.corruptions.corrupt_image`).
    ``stage``: ``crop`` (the pipeline's uint8 crop is corrupted) or ``source`` (the decoded image
    is corrupted at its native size, then the pipeline resizes and crops it).
    ``work_size``: the side at which the corruption runs (the crop is DCT-resized there and back);
    None: the image's own size. ``native_size``: for the ``source`` stage, the only source size
    accepted (the table's). ``version``: bumped when the scale's arithmetic changes.
    """

    name: str
    description: str
    table: str
    stage: str = "crop"
    work_size: int | None = None
    native_size: int | None = None
    version: int = 1

    def fields(self) -> dict[str, Any]:
        """What a corrupted set made under this scale depends on (part of its cache key)."""
        fields: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "table": self.table,
            "stage": self.stage,
            "work_size": self.work_size,
            "resample": "dct" if self.work_size is not None else None,
        }
        if self.table == "cifar10":
            fields["table_sha256"] = sha256_json({k: list(v) for k, v in cifar_c.TABLE.items()})
            fields["table_source"] = f"{cifar_c.SOURCE}@{cifar_c.SOURCE_COMMIT}"
        return fields

    def check_source(self, image: np.ndarray, name: str) -> np.ndarray:
        """``image`` if this scale can corrupt it as a source image; else InvalidOptionError."""
        if self.native_size is not None and image.shape[:2] != (self.native_size,) * 2:
            raise InvalidOptionError(
                f"corruption scale {self.name!r} corrupts {self.native_size} x "
                f"{self.native_size} source images ({self.description}); {name} is "
                f"{image.shape[0]} x {image.shape[1]}"
            )
        return image

    def input_of(self, pipeline: Pipeline, path: Any) -> np.ndarray:
        """What :meth:`apply` takes for the image at ``path``: its crop, or the checked source."""
        if self.stage == "source":
            return self.check_source(pipeline.decode(path), str(path))
        return pipeline.load_uint8(path)

    def corrupt_source(
        self, image: np.ndarray, corruption: str, severity: int, seed: int
    ) -> np.ndarray:
        """The checked source ``image`` corrupted at its own size (the ``source`` stage's first
        step, before the pipeline's resize and crop); ``seed`` seeds the one corruption call."""
        self.check_source(image, "the image")
        return corrupt_image(image, corruption, severity, seed, table=self.table)

    def apply(
        self,
        image: np.ndarray,
        corruption: str,
        severity: int,
        seed: int,
        *,
        pipeline: Pipeline | None = None,
        jpeg: bool = False,
    ) -> np.ndarray:
        """The corrupted crop (uint8) of ``image`` (:meth:`input_of`'s output) under this scale.

        ``seed`` seeds the one corruption call (:func:`~.corruptions.corrupt_image`); ``jpeg``
        round-trips the final crop through JPEG quality 85. The ``source`` stage needs the
        ``pipeline`` that makes the crop.
        """
        if self.stage == "source":
            if pipeline is None:
                raise InvalidOptionError(
                    f"corruption scale {self.name!r} corrupts the source image before the "
                    "pipeline's resize and crop; expected a pipeline"
                )
            out = pipeline.resize_crop(self.corrupt_source(image, corruption, severity, seed))
        elif self.work_size is not None:
            h, w = image.shape[:2]
            up = _to_uint8(dct_resize(image, self.work_size, self.work_size))
            out = corrupt_image(up, corruption, severity, seed, table=self.table)
            out = _to_uint8(dct_resize(out, h, w))
        else:
            return corrupt_image(image, corruption, severity, seed, jpeg=jpeg, table=self.table)
        return jpeg_round_trip(out) if jpeg else out


SCALES: Registry[CorruptionScale] = Registry("corruption scale", UnknownNameError)

for _scale in (
    CorruptionScale(
        "imagenet",
        "ImageNet-C's parameters (224 px) applied to the crop as it is",
        table="imagenet",
    ),
    CorruptionScale(
        "cifar10",
        "CIFAR-10-C's parameters applied to the native 32 px image before the resize and crop",
        table="cifar10",
        stage="source",
        native_size=cifar_c.NATIVE_SIZE,
    ),
    CorruptionScale(
        "synthetic",
        f"ImageNet-C's parameters at {REFERENCE_SIZE} px: the crop DCT-resized to "
        f"{REFERENCE_SIZE}, corrupted, DCT-resized back",
        table="imagenet",
        work_size=REFERENCE_SIZE,
    ),
):
    SCALES.register(_scale.name)(_scale)


def get_scale(name: str | CorruptionScale) -> CorruptionScale:
    """The scale called ``name`` (a scale is returned as it is); UnknownNameError listing them."""
    if isinstance(name, CorruptionScale):
        return name
    return SCALES.get(name)


def scale_names() -> list[str]:
    """The registered scale names, sorted."""
    return SCALES.names()
