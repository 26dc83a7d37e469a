"""The 15 ImageNet-C corruptions (Hendrycks & Dietterich 2019) and how one image is corrupted.

Corruptions come from ``imagecorruptions-imaug`` (import name ``imagecorruptions``) and apply to the
uint8 centre crop, as ImageNet-C was made. Every call is reproducible: :func:`image_seed` derives a
32-bit seed from (run seed, sample id, corruption, severity); :func:`corrupt_image` seeds numpy's
global RNG with it for the call (restoring the previous state afterwards) and passes it as
``seed=`` to the two functions that take one (``glass_blur``, ``impulse_noise``). An optional JPEG
quality-85 round trip mimics the released ImageNet-C files.

Parameter tables (``table=``): ``imagenet`` (the default) is the package's, i.e. ImageNet-C's,
set for 224 px crops; ``cifar10`` is CIFAR-10-C's own table for native 32 x 32 images
(:mod:`.cifar_c`). Which table a profile uses, and at which image size, is its corruption scale
(:mod:`.scales`): applied directly to a 64 px image, ImageNet-C's table is 2-6 x stronger (RMS)
for the noises, blurs, elastic, pixelate and JPEG than the same corruption at 224 px viewed at 64.

Small images: the package needs at least 32 x 32 pixels (a smaller image fails naming the
corruption and that size); every corruption and severity works from there up. With ImageNet-C's
table, frost crops a window of one of its stored frost pictures, so on a small image the frost
pattern is coarser relative to the image than at 224 px.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass
from importlib import metadata

import numpy as np
from PIL import Image

from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.registry import Registry

__all__ = [
    "CORRUPTIONS",
    "GROUPS",
    "JPEG_QUALITY",
    "MIN_SIZE",
    "PACKAGE",
    "SEVERITIES",
    "TABLES",
    "Corruption",
    "call_count",
    "check_severity",
    "corrupt_image",
    "corruption_names",
    "get_corruption",
    "image_seed",
    "jpeg_round_trip",
    "package_version",
]

#: Distribution that provides ``imagecorruptions`` (the maintained fork; pinned).
PACKAGE = "imagecorruptions-imaug"
#: The four ImageNet-C groups, in the paper's order.
GROUPS = ("noise", "blur", "weather", "digital")
#: Severities 1 (mild) to 5 (strong).
SEVERITIES = (1, 2, 3, 4, 5)
#: Smallest image side the package accepts (``imagecorruptions.corrupt``).
MIN_SIZE = 32
#: Quality of the optional JPEG round trip (the released ImageNet-C files').
JPEG_QUALITY = 85
#: Parameter tables: ImageNet-C's (the package's, for 224 px) and CIFAR-10-C's (for 32 px).
TABLES = ("imagenet", "cifar10")


@dataclass(frozen=True)
class Corruption:
    """One ImageNet-C corruption: its package name, group and whether it takes ``seed=``."""

    name: str
    group: str
    takes_seed: bool = False
    #: whether the package may print a fallback message (silenced here).
    may_print: bool = False


CORRUPTIONS: Registry[Corruption] = Registry("corruption", UnknownNameError)

_ORDER = (
    Corruption("gaussian_noise", "noise"),
    Corruption("shot_noise", "noise"),
    Corruption("impulse_noise", "noise", takes_seed=True),
    Corruption("defocus_blur", "blur"),
    Corruption("glass_blur", "blur", takes_seed=True),
    Corruption("motion_blur", "blur"),
    Corruption("zoom_blur", "blur", may_print=True),
    Corruption("snow", "weather", may_print=True),
    Corruption("frost", "weather"),
    Corruption("fog", "weather"),
    Corruption("brightness", "weather"),
    Corruption("contrast", "digital"),
    Corruption("elastic_transform", "digital"),
    Corruption("pixelate", "digital"),
    Corruption("jpeg_compression", "digital"),
)
for _c in _ORDER:
    CORRUPTIONS.register(_c.name)(_c)

_calls = 0


def corruption_names(group: str | None = None) -> list[str]:
    """The 15 names in ImageNet-C's order (noise, blur, weather, digital), or one group's."""
    if group is not None and group not in GROUPS:
        raise UnknownNameError("corruption group", group, GROUPS)
    return [c.name for c in _ORDER if group is None or c.group == group]


def get_corruption(name: str) -> Corruption:
    """The corruption called ``name`` (UnknownNameError listing the 15, with close matches)."""
    return CORRUPTIONS.get(name)


def package_version() -> str:
    """``imagecorruptions-imaug <version>``: part of every generated set's key."""
    return f"{PACKAGE} {metadata.version(PACKAGE)}"


def call_count() -> int:
    """How many corruption calls :func:`corrupt_image` made in this process."""
    return _calls


def check_severity(severity: object) -> int:
    """``severity`` if it is an integer in 1..5, else InvalidOptionError naming it."""
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise InvalidOptionError(
            f"severity={severity!r} ({type(severity).__name__}); expected an integer in 1..5"
        )
    return severity


def image_seed(run_seed: int, sample_id: str, corruption: str, severity: int) -> int:
    """A 32-bit seed depending on nothing but the run seed, sample id, corruption and severity."""
    if isinstance(run_seed, bool) or not isinstance(run_seed, int):
        raise InvalidOptionError(
            f"run_seed={run_seed!r} ({type(run_seed).__name__}); expected an integer"
        )
    text = f"robustmq-natural\x00{run_seed}\x00{sample_id}\x00{corruption}\x00{severity}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def jpeg_round_trip(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """``image`` saved as JPEG (Pillow, ``quality``, 4:2:0) and decoded again: uint8 H x W x 3."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.uint8)


def _check_image(image: object, name: str) -> np.ndarray:
    if not (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    ):
        desc = (
            f"{image.dtype} array of shape {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise InvalidOptionError(
            f"corruption {name!r} got a {desc}; expected an H x W x 3 uint8 RGB array"
        )
    height, width = image.shape[:2]
    if height < MIN_SIZE or width < MIN_SIZE:
        raise InvalidOptionError(
            f"corruption {name!r} needs an image of at least {MIN_SIZE} x {MIN_SIZE} pixels "
            f"(imagecorruptions' minimum); got {height} x {width}"
        )
    return image


def corrupt_image(
    image: np.ndarray,
    corruption: str,
    severity: int,
    seed: int,
    *,
    jpeg: bool = False,
    table: str = "imagenet",
) -> np.ndarray:
    """``image`` (uint8 H x W x 3, sides >= 32) corrupted; same shape and dtype, new array.

    The result depends only on the inputs: numpy's global RNG is seeded with ``seed`` for the call
    and restored afterwards; ``glass_blur`` and ``impulse_noise`` also get ``seed=``. With ``jpeg``
    the result is round-tripped through JPEG quality 85 (as the released ImageNet-C files were).
    ``table``: ``imagenet`` (ImageNet-C's parameters, through the package) or ``cifar10``
    (CIFAR-10-C's, :mod:`.cifar_c`; the image must be 32 x 32).
    """
    global _calls
    spec = get_corruption(corruption)
    severity = check_severity(severity)
    if table not in TABLES:
        raise UnknownNameError("corruption parameter table", table, TABLES)
    image = _check_image(image, spec.name)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidOptionError(
            f"seed={seed!r} ({type(seed).__name__}); expected an integer in [0, 2**32)"
        )
    from imagecorruptions import corrupt  # heavy imports (scipy, skimage, numba, cv2): lazily

    from robustmq.noise.natural.cifar_c import corrupt_cifar

    kwargs = {"seed": seed} if spec.takes_seed else {}
    silence = contextlib.redirect_stdout(io.StringIO()) if spec.may_print else None
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        if table == "cifar10":
            out = corrupt_cifar(image, spec.name, severity, seed)
        else:
            with silence if silence is not None else contextlib.nullcontext():
                out = corrupt(image, severity=severity, corruption_name=spec.name, **kwargs)
    finally:
        np.random.set_state(state)
    _calls += 1
    out = np.ascontiguousarray(out, dtype=np.uint8)
    if out.shape != image.shape:  # the package promises the input's shape
        raise InvalidOptionError(
            f"corruption {spec.name!r} (severity {severity}) returned shape {out.shape} for an "
            f"image of shape {image.shape}; expected the same shape"
        )
    return jpeg_round_trip(out) if jpeg else out
