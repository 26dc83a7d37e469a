"""Image helpers shared by the systematic-noise tests (imported as ``sys_helpers``)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def smooth_image(height: int = 260, width: int = 300, seed: int = 0) -> np.ndarray:
    """A colourful RGB test image with gradients, edges and mild noise (uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * 0.8) % 256, (y * 0.9) % 256, ((x + y) * 0.5) % 256], -1)
    image = image + rng.integers(-20, 20, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(image: np.ndarray | Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    """``image`` encoded by Pillow in ``fmt`` with ``options`` (quality, subsampling...)."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, **options)
    return buffer.getvalue()
