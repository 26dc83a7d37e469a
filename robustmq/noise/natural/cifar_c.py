"""CIFAR-10-C's own parameter table and corruption functions, for native 32 x 32 images.

Hendrycks & Dietterich (2019) made CIFAR-10-C with a milder table than ImageNet-C's (which was set
for 224 px crops). Source: ``github.com/hendrycks/robustness``, file
``ImageNet-C/create_c/make_cifar_c.py`` at commit ``8190fe329f5f072a06e3a2aea02bb5dda69aed9f``
(the file's last change: ``ca360085``, January 2019); :data:`TABLE` cites the line of each
corruption's ``c = [...]``. Each function below follows that file's function line by line (its
lines are cited too), on an ``H x W x 3`` uint8 RGB array instead of a PIL image; the caller
(:func:`~.corruptions.corrupt_image` with ``table="cifar10"``) seeds numpy's global RNG per image
and truncates the result to uint8 as the script's ``np.uint8(corruption(img))`` did (line 458).

Where the reference needs what this implementation does not use, the substitutes are:

- ``motion_blur`` and ``snow``'s streaks use ImageMagick's ``MotionBlurImage`` through Wand
  (lines 50-59, 200-212, 263-271); Wand/ImageMagick is not a dependency here, so both use
  ``imagecorruptions``' NumPy re-implementation of that kernel (``_motion_blur``: the same
  one-sided Gaussian of width ``2 radius + 1`` along the angle, edge pixels repeated), rounded
  to uint8 where the reference's PNG round trip through ImageMagick quantized (motion blur's
  output; the snow layer).
- ``frost`` reads the reference's frost pictures (lines 239-245); ``imagecorruptions`` ships the
  same six files (byte-identical, checked by sha256), so they are read from that package. As in
  the reference, ``np.random.randint(5)`` picks among the first five only.
- ``glass_blur`` shuffles pixels with ``imagecorruptions``' numba loop (the reference's loop,
  lines 172-178, compiled), seeded with the image's seed instead of the global RNG;
  ``impulse_noise`` passes that seed to ``skimage.util.random_noise`` (``rng=``) likewise.
- ``fog``'s plasma fractal is ``imagecorruptions``' copy of the reference's (lines 63-109; float32
  instead of float64, the same draws).
- ``skimage.filters.gaussian(..., multichannel=True)`` is spelled ``channel_axis=-1`` (the
  keyword of scikit-image >= 0.19).

Everything else (the parameter values, the order of the random draws, the uint8 steps) is the
reference's.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Callable, Mapping
from io import BytesIO
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from robustmq.exceptions import InvalidOptionError

__all__ = [
    "NATIVE_SIZE",
    "SOURCE",
    "SOURCE_COMMIT",
    "SOURCE_LINES",
    "TABLE",
    "corrupt_cifar",
]

#: Where the table comes from (repository, path).
SOURCE = "github.com/hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py"
#: The commit of the file that was read.
SOURCE_COMMIT = "8190fe329f5f072a06e3a2aea02bb5dda69aed9f"
#: Side of the images the table was set for (CIFAR-10's).
NATIVE_SIZE = 32

#: Severity 1..5 parameters of each corruption, as in the reference (its line in ``SOURCE_LINES``).
#: Tuples as the reference's ``c``: glass_blur (sigma, max_delta, iterations); defocus_blur
#: (radius, alias_blur); motion_blur (radius, sigma); zoom_blur ``np.arange(start, stop, step)``
#: arguments; snow (loc, scale, zoom, threshold, blur radius, blur sigma, blend); frost (image
#: weight, frost weight); fog (strength, wibble decay); elastic_transform (alpha, sigma, affine)
#: as fractions of IMSIZE = 32, as the reference writes them (``IMSIZE*0.08``).
TABLE: Mapping[str, tuple[Any, ...]] = MappingProxyType(
    {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot_noise": (500, 250, 100, 75, 50),
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        "zoom_blur": (
            (1, 1.06, 0.01),
            (1, 1.11, 0.01),
            (1, 1.16, 0.01),
            (1, 1.21, 0.01),
            (1, 1.26, 0.01),
        ),
        "snow": (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
        ),
        "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
        "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        "elastic_transform": (
            (0, 0, 0.08),
            (0.05, 0.2, 0.07),
            (0.08, 0.06, 0.06),
            (0.1, 0.04, 0.05),
            (0.1, 0.03, 0.03),
        ),
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
        "jpeg_compression": (80, 65, 58, 50, 40),
    }
)

#: The reference's lines (``make_cifar_c.py`` at ``SOURCE_COMMIT``): the table, the function.
SOURCE_LINES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "gaussian_noise": ("131", "130-134"),
        "shot_noise": ("138", "137-141"),
        "impulse_noise": ("145", "144-148"),
        "defocus_blur": ("184", "183-194 (disk: 34-46)"),
        "glass_blur": ("167", "165-180"),
        "motion_blur": ("198", "197-212"),
        "zoom_blur": ("216-217", "215-225 (clipped_zoom: 112-122)"),
        "snow": ("251-255", "250-275"),
        "frost": ("238", "237-247"),
        "fog": ("229", "228-234 (plasma_fractal: 63-109)"),
        "brightness": ("342", "341-349"),
        "contrast": ("334", "333-338"),
        "elastic_transform": ("384-389", "383-413"),
        "pixelate": ("374", "373-379"),
        "jpeg_compression": ("364", "363-370"),
    }
)

_FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.filters import gaussian

    return np.asarray(gaussian(x, sigma=sigma, channel_axis=-1))


def _clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    """The reference's ``clipped_zoom`` (lines 112-122): zoom the centre, trim to the centre."""
    from scipy.ndimage import zoom as scizoom

    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = scizoom(img[top : top + ch, top : top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top : trim_top + h, trim_top : trim_top + h]


def _motion(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion blur (``imagecorruptions``' NumPy version), rounded to uint8 levels."""
    from imagecorruptions.corruptions import _motion_blur

    blurred = _motion_blur(x, radius=radius, sigma=sigma, angle=angle)
    return np.clip(np.round(blurred), 0, 255)


def _gaussian_noise(x: np.ndarray, c: float, seed: int) -> np.ndarray:
    x = x / 255.0
    return np.clip(x + np.random.normal(size=x.shape, scale=c), 0, 1) * 255


def _shot_noise(x: np.ndarray, c: float, seed: int) -> np.ndarray:
    x = x / 255.0
    return np.clip(np.random.poisson(x * c) / c, 0, 1) * 255


def _impulse_noise(x: np.ndarray, c: float, seed: int) -> np.ndarray:
    from skimage.util import random_noise

    out = random_noise(x / 255.0, mode="s&p", rng=seed, amount=c)
    return np.clip(out, 0, 1) * 255


def _defocus_blur(x: np.ndarray, c: tuple[float, float], seed: int) -> np.ndarray:
    import cv2
    from imagecorruptions.corruptions import disk

    x = x / 255.0
    kernel = disk(radius=c[0], alias_blur=c[1])
    channels = np.array([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)])
    return np.clip(channels.transpose((1, 2, 0)), 0, 1) * 255


def _glass_blur(x: np.ndarray, c: tuple[float, int, int], seed: int) -> np.ndarray:
    from imagecorruptions.corruptions import _shuffle_pixels_njit_glass_blur

    x = np.uint8(_gaussian(x / 255.0, c[0]) * 255)
    x = _shuffle_pixels_njit_glass_blur(x.shape[0], x.shape[1], x, c, seed)
    return np.clip(_gaussian(x / 255.0, c[0]), 0, 1) * 255


def _motion_blur(x: np.ndarray, c: tuple[float, float], seed: int) -> np.ndarray:
    return _motion(x, c[0], c[1], np.random.uniform(-45, 45))


def _zoom_blur(x: np.ndarray, c: tuple[float, float, float], seed: int) -> np.ndarray:
    factors = np.arange(*c)  # as the reference: arange(1, 1.06, 0.01) ends at 1.06
    x = (x / 255.0).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in factors:
        out += _clipped_zoom(x, zoom_factor)
    x = (x + out) / (len(factors) + 1)
    return np.clip(x, 0, 1) * 255


def _snow(x: np.ndarray, c: tuple[float, ...], seed: int) -> np.ndarray:
    import cv2

    h, w = x.shape[:2]
    x = np.array(x, dtype=np.float32) / 255.0
    snow_layer = np.random.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    snow_layer = _clipped_zoom(snow_layer[..., np.newaxis], c[2])
    snow_layer[snow_layer < c[3]] = 0
    layer = (np.clip(snow_layer.squeeze(), 0, 1) * 255).astype(np.uint8)  # the reference's PNG
    streaks = _motion(layer, c[4], c[5], np.random.uniform(-135, -45)) / 255.0
    streaks = streaks[..., np.newaxis]
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(h, w, 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + streaks + np.rot90(streaks, k=2), 0, 1) * 255


@functools.lru_cache(maxsize=len(_FROST_FILES))
def _frost_picture(name: str) -> np.ndarray:
    """A frost picture as the reference reads it: BGR, resized by 0.2 (cv2 bilinear)."""
    import cv2

    ref = importlib.resources.files("imagecorruptions") / "frost" / name
    with importlib.resources.as_file(ref) as path:
        frost = cv2.imread(str(path))
    if frost is None:  # pragma: no cover - the package ships the files
        raise FileNotFoundError(f"imagecorruptions' frost picture {name} could not be read")
    resized: np.ndarray = cv2.resize(frost, (0, 0), fx=0.2, fy=0.2)
    return resized


def _frost(x: np.ndarray, c: tuple[float, float], seed: int) -> np.ndarray:
    h, w = x.shape[:2]
    idx = np.random.randint(5)  # the reference's: frost6.jpg is never picked
    frost = _frost_picture(_FROST_FILES[idx])
    x_start = np.random.randint(0, frost.shape[0] - h)
    y_start = np.random.randint(0, frost.shape[1] - w)
    crop = frost[x_start : x_start + h, y_start : y_start + w][..., [2, 1, 0]]
    return np.clip(c[0] * np.array(x) + c[1] * crop, 0, 255)


def _fog(x: np.ndarray, c: tuple[float, float], seed: int) -> np.ndarray:
    from imagecorruptions.corruptions import next_power_of_2, plasma_fractal

    h, w = x.shape[:2]
    x = x / 255.0
    max_val = x.max()
    mapsize = next_power_of_2(max(h, w))  # 32 for 32 px, the reference's default mapsize
    x += c[0] * plasma_fractal(mapsize=mapsize, wibbledecay=c[1])[:h, :w][..., np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def _brightness(x: np.ndarray, c: float, seed: int) -> np.ndarray:
    from skimage.color import hsv2rgb, rgb2hsv

    hsv = rgb2hsv(x / 255.0)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
    return np.clip(hsv2rgb(hsv), 0, 1) * 255


def _contrast(x: np.ndarray, c: float, seed: int) -> np.ndarray:
    x = x / 255.0
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def _elastic_transform(x: np.ndarray, c: tuple[float, float, float], seed: int) -> np.ndarray:
    import cv2
    from scipy.ndimage import map_coordinates
    from skimage.filters import gaussian

    alpha, sigma, affine = (NATIVE_SIZE * v for v in c)  # the reference's IMSIZE * fraction
    image = np.array(x, dtype=np.float32) / 255.0
    shape = image.shape
    shape_size = shape[:2]
    center_square = np.asarray(shape_size, dtype=np.float32) // 2
    square_size = min(shape_size) // 3
    pts1 = np.asarray(
        [
            center_square + square_size,
            [center_square[0] + square_size, center_square[1] - square_size],
            center_square - square_size,
        ],
        dtype=np.float32,
    )
    pts2 = pts1 + np.random.uniform(-affine, affine, size=pts1.shape).astype(np.float32)
    matrix = cv2.getAffineTransform(pts1, pts2)
    moved = cv2.warpAffine(image, matrix, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)
    fx = gaussian(np.random.uniform(-1, 1, size=shape[:2]), sigma, mode="reflect", truncate=3)
    fy = gaussian(np.random.uniform(-1, 1, size=shape[:2]), sigma, mode="reflect", truncate=3)
    dx = (np.asarray(fx) * alpha).astype(np.float32)[..., np.newaxis]
    dy = (np.asarray(fy) * alpha).astype(np.float32)[..., np.newaxis]
    gx, gy, gz = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = (
        np.reshape(gy + dy, (-1, 1)),
        np.reshape(gx + dx, (-1, 1)),
        np.reshape(gz, (-1, 1)),
    )
    warped = map_coordinates(moved, indices, order=1, mode="reflect").reshape(shape)
    return np.clip(warped, 0, 1) * 255


def _pixelate(x: np.ndarray, c: float, seed: int) -> np.ndarray:
    h, w = x.shape[:2]
    image = Image.fromarray(x)
    image = image.resize((int(w * c), int(h * c)), Image.Resampling.BOX)
    return np.asarray(image.resize((w, h), Image.Resampling.BOX))


def _jpeg_compression(x: np.ndarray, c: int, seed: int) -> np.ndarray:
    output = BytesIO()
    Image.fromarray(x).save(output, "JPEG", quality=c)
    output.seek(0)
    with Image.open(output) as decoded:
        return np.asarray(decoded.convert("RGB"))


_FUNCTIONS: Mapping[str, Callable[[np.ndarray, Any, int], np.ndarray]] = MappingProxyType(
    {
        "gaussian_noise": _gaussian_noise,
        "shot_noise": _shot_noise,
        "impulse_noise": _impulse_noise,
        "defocus_blur": _defocus_blur,
        "glass_blur": _glass_blur,
        "motion_blur": _motion_blur,
        "zoom_blur": _zoom_blur,
        "snow": _snow,
        "frost": _frost,
        "fog": _fog,
        "brightness": _brightness,
        "contrast": _contrast,
        "elastic_transform": _elastic_transform,
        "pixelate": _pixelate,
        "jpeg_compression": _jpeg_compression,
    }
)


def corrupt_cifar(image: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """``image`` (uint8 32 x 32 x 3) corrupted with CIFAR-10-C's parameters: uint8, same shape.

    Draws from numpy's global RNG (the caller seeds it); ``seed`` goes to the pixel shuffle of
    ``glass_blur`` and to ``impulse_noise``. Use :func:`~.corruptions.corrupt_image` with
    ``table="cifar10"``, which checks the arguments, seeds and restores the global RNG.
    """
    if image.shape[:2] != (NATIVE_SIZE, NATIVE_SIZE):
        raise InvalidOptionError(
            f"CIFAR-10-C's parameters are set for {NATIVE_SIZE} x {NATIVE_SIZE} images; "
            f"corruption {corruption!r} got {image.shape[0]} x {image.shape[1]}"
        )
    params = TABLE[corruption][severity - 1]
    out = _FUNCTIONS[corruption](image, params, seed)
    return np.uint8(out)
