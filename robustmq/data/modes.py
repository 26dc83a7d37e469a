"""Every decoded image as 8-bit RGB, by one stated rule per mode, and the pixel limit.

The rules, the same for the three decoders (``pil``, ``opencv``, ``ffmpeg``):

- 8-bit RGB is kept as it is;
- gray (``L``), bilevel (``1``: 0 or 255), palette (``P``), CMYK (no colour management), YCbCr and
  HSV: Pillow's ``convert("RGB")`` (a gray value ``v`` becomes ``(v, v, v)``);
- alpha (``RGBA``, ``LA``, ``PA``, a palette's transparent index): **dropped, not composited**: a
  transparent pixel keeps its stored colour (torchvision's ``pil_loader`` does the same);
- 16 bits per sample (``I;16*``, 16-bit PNG/TIFF/PNM gray or RGB, ``I`` holding 0..65535): the high
  byte, ``v >> 8`` (``65535 -> 255``, ``257 k -> k``), as libpng, OpenCV and Pillow's own 16-bit RGB
  reader do; never clipped. ``I`` values outside 0..65535 are refused;
- 32-bit float (``F``): values in [0, 1] times 255, rounded to nearest; NaN or values outside
  [0, 1] are refused;
- any other mode (``LAB``, ``I;32`` ...) is refused.

A refusal is an :class:`~robustmq.data.errors.ImageModeError` naming the file and the mode.

Pixel limit: an image of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (Pillow's setting,
89,478,485 by default; ``None`` disables it) raises
:class:`~robustmq.data.errors.ImageTooLargeError` naming the file, before its pixels are decoded
(the size comes from the header, read by Pillow for every decoder; a file Pillow cannot parse is
checked after decoding). Pillow itself only warns between one and two times its limit.
"""

from __future__ import annotations

import io
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from robustmq.data.errors import ImageModeError, ImageTooLargeError

__all__ = ["array_to_rgb8", "check_pixels", "header_size", "open_image", "pil_to_rgb8"]

#: Modes that Pillow's ``convert("RGB")`` turns into RGB (alpha, if any, dropped).
_PILLOW_MODES = frozenset({"L", "1", "P", "PA", "CMYK", "YCbCr", "HSV", "RGBA", "RGBX", "LA"})
#: Modes read as an array and converted by :func:`array_to_rgb8`.
_ARRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


def check_pixels(width: int, height: int, name: str) -> None:
    """ImageTooLargeError if ``width * height`` exceeds ``PIL.Image.MAX_IMAGE_PIXELS``."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageTooLargeError(
            f"image {name} has {width} x {height} = {width * height:,} pixels, over the limit of "
            f"{limit:,} (PIL.Image.MAX_IMAGE_PIXELS); refused before decoding",
            path=name,
        )


def _bomb(exc: Exception, name: str) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"image {name} is over the pixel limit of {Image.MAX_IMAGE_PIXELS:,} "
        f"(PIL.Image.MAX_IMAGE_PIXELS); refused before decoding ({exc})",
        path=name,
    )


def open_image(stream: str | IO[bytes], name: str) -> Image.Image:
    """``Image.open`` (header only), refusing images over the pixel limit."""
    try:
        image = Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(exc, name) from exc  # the warning is raised under ``-W error``
    try:
        check_pixels(*image.size, name)
    except ImageTooLargeError:
        image.close()
        raise
    return image


def header_size(data: bytes, name: str) -> tuple[int, int] | None:
    """``(width, height)`` from the header (Pillow), checked against the limit; None if unknown."""
    try:
        with open_image(io.BytesIO(data), name) as image:
            return image.size
    except ImageTooLargeError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None


def _refuse(name: str, what: str, reason: str) -> ImageModeError:
    return ImageModeError(
        f"cannot convert image {name} ({what}) to 8-bit RGB: {reason}; see robustmq.data.modes "
        "for the conversions",
        path=name,
    )


def array_to_rgb8(array: np.ndarray, name: str, what: str) -> np.ndarray:
    """``H x W`` or ``H x W x C`` (C = 1..4, RGB order) samples as ``H x W x 3`` uint8 RGB.

    A second or fourth channel is alpha and is dropped; uint16 keeps the high byte; other
    integers must lie in 0..65535 (read as 16 bits); floats must lie in [0, 1] (times 255,
    rounded). ``what`` (mode or pixel format) names the input in errors.
    """
    if array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise _refuse(name, what, f"unexpected sample array of shape {array.shape}")
    color = array[..., :1] if array.shape[2] <= 2 else array[..., :3]
    kind = color.dtype.kind
    if color.dtype == np.uint8:
        out = color
    elif kind in "ui" and color.dtype.itemsize <= 8:
        if color.dtype != np.uint16 and color.size and (color.min() < 0 or color.max() > 65535):
            raise _refuse(
                name, what, f"values {color.min()}..{color.max()} outside the 16-bit range 0..65535"
            )
        out = (color.astype(np.uint32) >> 8).astype(np.uint8)
    elif kind == "f":
        if color.size and not (np.isfinite(color).all() and 0 <= color.min() <= color.max() <= 1):
            raise _refuse(name, what, "float values outside [0, 1] (or NaN)")
        out = np.rint(color.astype(np.float64) * 255).astype(np.uint8)
    else:
        raise _refuse(name, what, f"unsupported sample type {color.dtype}")
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out)


def pil_to_rgb8(image: Image.Image, name: str) -> np.ndarray:
    """A loaded Pillow image as ``H x W x 3`` uint8 RGB, by the module's rules."""
    mode = image.mode
    if mode == "RGB":
        return np.array(image, dtype=np.uint8)
    if mode in _ARRAY_MODES:
        return array_to_rgb8(np.asarray(image), name, f"mode {mode}")
    if mode not in _PILLOW_MODES:
        raise _refuse(name, f"mode {mode}", "no stated conversion for this mode")
    if mode == "PA" or (mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")  # avoids Pillow's warning; the alpha is dropped below
    return np.array(image.convert("RGB"), dtype=np.uint8)
