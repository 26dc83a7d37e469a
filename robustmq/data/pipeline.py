"""The pre-processing pipeline: decode -> RGB -> resize -> centre crop -> float tensor in [0, 1].

The reference pipeline (RobustMQ protocol) decodes with Pillow, converts to RGB, resizes the shorter
side to ``resize_size`` with Pillow bilinear (aspect kept; ``square=True`` resizes to a square
``resize_size`` x ``resize_size`` as RobustART did), centre-crops ``crop_size`` and returns a
float32 CHW tensor in ``[0, 1]``; mean/std normalization lives in the model. Sizes and crop offsets
follow torchvision's ``Resize(int)`` and ``CenterCrop``.

Decoders and resizers are looked up by name in :data:`DECODERS` and :data:`RESIZERS`, so the
systematic-noise variants plug in by registering more names (the OpenCV and FFmpeg ones in
:mod:`robustmq.data.decoders` and :mod:`robustmq.data.resizers` are imported the first time a name
is not found, so ``Pipeline(decoder="opencv")`` works in any process, xdist workers included,
without importing OpenCV or PyAV before they are needed):

- a decoder takes a path (or the file's bytes) and returns an ``H x W x 3`` uint8 RGB array, raising
  :class:`~robustmq.data.errors.ImageDecodeError` for data it cannot decode;
- a resizer takes an ``H x W x 3`` uint8 array and the target ``(height, width)`` and returns an
  array of that size.

Image modes: every decoder turns each mode into 8-bit RGB by the rules of
:mod:`robustmq.data.modes` (alpha **dropped**, not composited; 16-bit samples keep their high byte;
modes without a rule and images over ``PIL.Image.MAX_IMAGE_PIXELS`` pixels are refused with a typed
:class:`~robustmq.data.errors.ImageDecodeError` naming the file). EXIF orientation is not applied.
Truncated files are errors: Pillow's ``LOAD_TRUNCATED_IMAGES`` is left as it is (off by default).
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from robustmq.data.errors import ImageDecodeError, UnknownDecoderError, UnknownResizerError
from robustmq.data.modes import open_image, pil_to_rgb8
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.registry import Registry

if TYPE_CHECKING:
    from robustmq.data.profiles import Profile

__all__ = [
    "DECODERS",
    "RESIZERS",
    "Decoder",
    "ImageSource",
    "Pipeline",
    "Resizer",
    "center_crop",
    "resized_shape",
    "source_name",
    "to_tensor",
]

ImageSource = str | os.PathLike[str] | bytes
#: ``decode(path_or_bytes) -> H x W x 3 uint8 RGB``.
Decoder = Callable[[ImageSource], np.ndarray]
#: ``resize(image, (height, width)) -> image of that size`` (uint8, H x W x 3).
Resizer = Callable[[np.ndarray, tuple[int, int]], np.ndarray]

DECODERS: Registry[Decoder] = Registry("decoder", UnknownDecoderError)
RESIZERS: Registry[Resizer] = Registry("resize method", UnknownResizerError)


def _lookup(registry: Registry[Any], name: str) -> Any:
    """``registry.get(name)``, registering the OpenCV and FFmpeg steps first if it is missing."""
    try:
        return registry.get(name)
    except UnknownNameError:
        from robustmq.data import decoders, resizers  # noqa: F401  (they register themselves)

        return registry.get(name)


# Pillow's errors for unreadable, truncated or non-image data.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def source_name(source: ImageSource) -> str:
    """How error messages name ``source``: its path, or ``<N bytes>``."""
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return os.fspath(source)


@DECODERS.register("pil")
def decode_pil(source: ImageSource) -> np.ndarray:
    """Decode with Pillow to ``H x W x 3`` uint8 RGB (:mod:`~robustmq.data.modes` rules)."""
    name = source_name(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
        with open_image(stream, name) as image:
            image.load()
            return pil_to_rgb8(image, name)
    except ImageDecodeError:
        raise
    except _DECODE_ERRORS as exc:
        raise ImageDecodeError(
            f"cannot decode image {name}: {exc}; expected a complete image file Pillow can read "
            "(JPEG, PNG, BMP, WebP, PPM, TIFF)",
            path=name,
        ) from exc


def _pil_resizer(method: Image.Resampling) -> Resizer:
    def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        height, width = size
        return np.array(Image.fromarray(image).resize((width, height), resample=method))

    resize.__doc__ = f"Resize with Pillow's {method.name.lower()} filter to (height, width)."
    return resize


for _name, _method in [
    ("nearest", Image.Resampling.NEAREST),
    ("bilinear", Image.Resampling.BILINEAR),
    ("bicubic", Image.Resampling.BICUBIC),
    ("box", Image.Resampling.BOX),
    ("hamming", Image.Resampling.HAMMING),
    ("lanczos", Image.Resampling.LANCZOS),
]:
    RESIZERS.register(f"pil_{_name}")(_pil_resizer(_method))


def resized_shape(height: int, width: int, size: int, square: bool = False) -> tuple[int, int]:
    """``(height, width)`` after resizing the shorter side to ``size`` (torchvision's rounding)."""
    if square:
        return size, size
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` window (torchvision's offsets); error if smaller."""
    height, width = image.shape[:2]
    if height < size or width < size:
        raise InvalidOptionError(
            f"crop_size={size} is larger than the {height}x{width} image; expected an image at "
            "least as large as the crop"
        )
    top = round((height - size) / 2.0)  # torchvision's rounding (half to even)
    left = round((width - size) / 2.0)
    return image[top : top + size, left : left + size]


def _check_image(image: object, what: str) -> np.ndarray:
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] > 0
        and image.shape[1] > 0
    ):
        desc = (
            f"{image.dtype} array of shape {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise InvalidOptionError(f"{what} is a {desc}; expected an H x W x 3 uint8 RGB array")
    return image


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """An ``H x W x 3`` uint8 array as a float32 ``3 x H x W`` tensor in ``[0, 1]`` (x / 255)."""
    image = _check_image(image, "image")
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))
    return torch.from_numpy(chw).to(torch.float32).div(255)


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(
            f"{name}={value!r} ({type(value).__name__}); expected a positive integer"
        )
    return value


@dataclass(frozen=True)
class Pipeline:
    """One pre-processing setting; hashable and picklable (it holds names, not functions)."""

    decoder: str = "pil"
    resize: str = "pil_bilinear"
    resize_size: int = 256
    crop_size: int = 224
    square: bool = False

    def __post_init__(self) -> None:
        _lookup(DECODERS, self.decoder)  # unknown names raise, listing the registered ones
        _lookup(RESIZERS, self.resize)
        _check_size("resize_size", self.resize_size)
        _check_size("crop_size", self.crop_size)
        if self.crop_size > self.resize_size:
            raise InvalidOptionError(
                f"crop_size={self.crop_size} is larger than resize_size={self.resize_size}; "
                "expected crop_size <= resize_size"
            )
        if not isinstance(self.square, bool):
            raise InvalidOptionError(
                f"square={self.square!r} ({type(self.square).__name__}); expected True or False"
            )

    @classmethod
    def from_profile(cls, profile: Profile, **overrides: Any) -> Pipeline:
        """The profile's reference pipeline (its resize and crop sizes), with ``overrides``."""
        settings: dict[str, Any] = {
            "resize_size": profile.resize_size,
            "crop_size": profile.crop_size,
        }
        settings.update(overrides)
        return cls(**settings)

    def settings(self) -> dict[str, Any]:
        """The pipeline as a JSON-able dict, for result records."""
        return dataclasses.asdict(self)

    def decode(self, path: ImageSource) -> np.ndarray:
        """The decoded ``H x W x 3`` uint8 RGB image; ImageDecodeError naming the file if unable."""
        try:
            image = _lookup(DECODERS, self.decoder)(path)
        except ImageDecodeError:
            raise
        except (OSError, ValueError) as exc:
            name = source_name(path)
            raise ImageDecodeError(
                f"cannot decode image {name} with decoder {self.decoder!r}: {exc}", path=name
            ) from exc
        try:
            return _check_image(image, f"decoder {self.decoder!r} output for {source_name(path)}")
        except InvalidOptionError as exc:
            raise ImageDecodeError(str(exc), path=source_name(path)) from None

    def resize_crop(self, image: np.ndarray) -> np.ndarray:
        """``image`` resized then centre-cropped: a contiguous ``crop x crop x 3`` uint8 array.

        A resize to the image's own size is the identity, whatever the method.
        """
        image = _check_image(image, "image")
        height, width = image.shape[:2]
        target = resized_shape(height, width, self.resize_size, self.square)
        if target != (height, width):
            image = _lookup(RESIZERS, self.resize)(image, target)
            if image.shape[:2] != target:
                raise InvalidOptionError(
                    f"resize method {self.resize!r} returned shape {image.shape}; expected "
                    f"{target} (height, width)"
                )
        return np.ascontiguousarray(center_crop(image, self.crop_size))

    def load_uint8(self, path: ImageSource) -> np.ndarray:
        """The uint8 centre crop of the image at ``path`` (``crop x crop x 3``, RGB)."""
        return self.resize_crop(self.decode(path))

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """``image`` (uint8 ``H x W x 3``) as a float32 ``3 x H x W`` tensor in ``[0, 1]``."""
        return to_tensor(image)

    def __call__(self, path: ImageSource) -> torch.Tensor:
        """The pre-processed image at ``path``: float32 ``3 x crop x crop`` in ``[0, 1]``."""
        return to_tensor(self.load_uint8(path))
