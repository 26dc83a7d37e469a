"""Drawing the synthetic classes: one image from one numpy Generator (see ``synthetic``).

Everything is drawn at twice the size with exact arithmetic (comparisons of sums and products of
coordinates; cos/sin only of scalars), then averaged 2 x 2, so a generator state always gives the
same pixels. Pillow does the smooth-noise upscaling and the blur (integer code).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

from robustmq.exceptions import InvalidOptionError

__all__ = ["CLASSES", "render"]

#: Class names, sorted (folder order = class index).
CLASSES = (
    "checkerboard",
    "circle",
    "cross",
    "diagonal_stripes",
    "dots",
    "horizontal_stripes",
    "ring",
    "square",
    "triangle",
    "vertical_stripes",
)
_SS = 2  # supersampling factor

Mask = np.ndarray  # bool, (2 size) x (2 size)


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) of the supersampled grid, in output-pixel units."""
    c = (np.arange(size * _SS, dtype=np.float64) + 0.5) / _SS
    x, y = np.meshgrid(c, c)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _rotated(size: int, cx: float, cy: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    x, y = _grid(size)
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    return dx * c + dy * s, dy * c - dx * s


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float64)


def _contrasting(rng: np.random.Generator, other: np.ndarray, min_dist: float) -> np.ndarray:
    for _ in range(100):
        colour = _colour(rng)
        if float(np.sqrt(((colour - other) ** 2).sum())) >= min_dist:
            return colour
    return 255.0 - other


def _paint(canvas: np.ndarray, mask: Mask, colour: np.ndarray) -> None:
    canvas[mask] = colour


# -- backgrounds ----------------------------------------------------------------------------------


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A gradient or smooth-noise background and its mean colour."""
    n = size * _SS
    base = _colour(rng)
    if rng.random() < 0.5:
        other = np.clip(base + rng.uniform(-70, 70, size=3), 0, 255)
        angle = rng.uniform(0, 2 * math.pi)
        u, _ = _rotated(size, size / 2, size / 2, angle)
        t = (u / size + 0.5).clip(0, 1)[..., None]
        canvas = base * (1 - t) + other * t
    else:
        cells = int(rng.integers(2, 6))
        small = np.clip(base + rng.uniform(-60, 60, size=(cells, cells, 3)), 0, 255)
        image = Image.fromarray(small.round().astype(np.uint8)).resize(
            (n, n), Image.Resampling.BICUBIC
        )
        canvas = np.asarray(image, dtype=np.float64).copy()
    return canvas, canvas[::8, ::8].reshape(-1, 3).mean(axis=0)


# -- shapes -----------------------------------------------------------------------------------


def _shape_mask(name: str, rng: np.random.Generator, size: int) -> tuple[Mask, float, float, float]:
    """The mask of one shape; returns it with its centre and radius."""
    r = rng.uniform(0.22, 0.36) * size
    cx = rng.uniform(r * 0.8, size - r * 0.8)
    cy = rng.uniform(r * 0.8, size - r * 0.8)
    angle = rng.uniform(0, 2 * math.pi)
    aspect = rng.uniform(0.8, 1.0)
    u, v = _rotated(size, cx, cy, angle)
    if name == "circle":
        mask = u * u + (v / aspect) ** 2 <= r * r
    elif name == "ring":
        inner = r * rng.uniform(0.45, 0.7)
        d2 = u * u + (v / aspect) ** 2
        mask = (d2 <= r * r) & (d2 >= inner * inner)
    elif name == "square":
        half = r * 0.85
        mask = (np.abs(u) <= half) & (np.abs(v) <= half * aspect)
    elif name == "cross":
        w = r * rng.uniform(0.2, 0.34)
        au, av = np.abs(u), np.abs(v)
        mask = ((au <= w) & (av <= r)) | ((av <= w) & (au <= r))
    elif name == "triangle":
        r *= 1.15
        pts = [
            (r * math.cos(k * 2 * math.pi / 3), r * math.sin(k * 2 * math.pi / 3)) for k in range(3)
        ]
        mask = np.ones(u.shape, dtype=bool)
        for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1], strict=True):
            mask &= (bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0
    else:  # pragma: no cover - guarded by CLASSES
        raise InvalidOptionError(f"unknown synthetic shape {name!r}")
    return mask, cx, cy, r


# -- textures ---------------------------------------------------------------------------------


def _frac(a: np.ndarray) -> np.ndarray:
    return a - np.floor(a)


def _texture_mask(name: str, rng: np.random.Generator, size: int) -> Mask:
    """The 'on' cells of a texture over the whole image."""
    jitter = math.radians(rng.uniform(-12, 12))
    c = size / 2
    if name in ("horizontal_stripes", "vertical_stripes", "diagonal_stripes"):
        base = {"horizontal_stripes": 0.0, "vertical_stripes": 90.0}.get(name)
        if base is None:
            base = 45.0 if rng.random() < 0.5 else 135.0
        _, v = _rotated(size, c, c, math.radians(base) + jitter)
        period = rng.uniform(5, 11)
        duty = rng.uniform(0.35, 0.65)
        return _frac(v / period + rng.random()) < duty
    if name == "checkerboard":
        u, v = _rotated(size, c, c, jitter * 1.5)
        period = rng.uniform(5, 12)
        cells = np.floor(u / period + rng.random()) + np.floor(v / period + rng.random())
        return cells % 2 == 0
    if name == "dots":
        u, v = _rotated(size, c, c, rng.uniform(0, math.pi / 2))
        period = rng.uniform(7, 13)
        radius = rng.uniform(0.22, 0.36)
        du = _frac(u / period + rng.random()) - 0.5
        dv = _frac(v / period + rng.random()) - 0.5
        return du * du + dv * dv <= radius * radius
    raise InvalidOptionError(f"unknown synthetic texture {name!r}")  # pragma: no cover


def _region(rng: np.random.Generator, size: int) -> tuple[Mask, float, float, float]:
    """A rectangle or ellipse that holds a texture; returns it with its centre and half-size."""
    hw, hh = rng.uniform(0.28, 0.5, size=2) * size
    cx, cy = rng.uniform(hw * 0.7, size - hw * 0.7), rng.uniform(hh * 0.7, size - hh * 0.7)
    u, v = _rotated(size, cx, cy, 0.0)
    if rng.random() < 0.5:
        mask = (np.abs(u) <= hw) & (np.abs(v) <= hh)
    else:
        mask = (u / hw) ** 2 + (v / hh) ** 2 <= 1
    return mask, cx, cy, float(min(hw, hh))


# -- nuisances --------------------------------------------------------------------------------


def _clutter(rng: np.random.Generator, size: int, canvas: np.ndarray, count: int) -> None:
    """Thin bars and specks: distractors that resemble no class (no discs, no blocks)."""
    for _ in range(count):
        cx, cy = rng.uniform(0, size, size=2)
        u, v = _rotated(size, cx, cy, rng.uniform(0, math.pi))
        if rng.integers(0, 2) == 0:
            mask = (np.abs(u) <= rng.uniform(3, 9)) & (np.abs(v) <= rng.uniform(0.5, 1.3))
        else:
            r = rng.uniform(0.8, 1.5)
            mask = u * u + v * v <= r * r
        _paint(canvas, mask, _colour(rng))


def _occlude(
    rng: np.random.Generator, size: int, canvas: np.ndarray, cx: float, cy: float, r: float
) -> None:
    """A bar across part of the object (partial occlusion that looks like no class)."""
    ox, oy = cx + rng.uniform(-0.6, 0.6) * r, cy + rng.uniform(-0.6, 0.6) * r
    u, v = _rotated(size, ox, oy, rng.uniform(0, math.pi))
    hw, hh = rng.uniform(0.8, 1.4) * r, rng.uniform(0.08, 0.18) * r
    _paint(canvas, (np.abs(u) <= hw) & (np.abs(v) <= hh), _colour(rng))


def _finish(rng: np.random.Generator, canvas: np.ndarray, size: int) -> np.ndarray:
    """Average 2 x 2, then blur and noise: the final uint8 image."""
    cells = [canvas[i::_SS, j::_SS] for i in range(_SS) for j in range(_SS)]
    small = sum(cells[1:], cells[0]) / len(cells)
    image = np.clip(np.round(small), 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        radius = float(rng.uniform(0.4, 1.1))
        image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
    sigma = rng.uniform(0, 6)
    noisy = image.astype(np.float64) + rng.normal(0, sigma, size=image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def render(name: str, rng: np.random.Generator, size: int = 80) -> np.ndarray:
    """One ``size x size x 3`` uint8 image of class ``name``, drawn from ``rng``."""
    if name not in CLASSES:
        raise InvalidOptionError(f"class {name!r}; expected one of {', '.join(CLASSES)}")
    canvas, mean = _background(rng, size)
    _clutter(rng, size, canvas, int(rng.integers(0, 3)))
    fg = _contrasting(rng, mean, rng.uniform(80, 140))
    if name in ("circle", "ring", "square", "cross", "triangle"):
        mask, cx, cy, r = _shape_mask(name, rng, size)
        _paint(canvas, mask, fg)
    else:
        region, cx, cy, r = _region(rng, size)
        on = _texture_mask(name, rng, size)
        if rng.random() < 0.5:
            _paint(canvas, region & ~on, _contrasting(rng, fg, rng.uniform(45, 110)))
        _paint(canvas, region & on, fg)
    _clutter(rng, size, canvas, int(rng.integers(0, 2)))
    if rng.random() < 0.2:
        _occlude(rng, size, canvas, cx, cy, r)
    return _finish(rng, canvas, size)
