"""OpenCV resize methods, registered in ``RESIZERS`` as
``opencv_{nearest,bilinear,bicubic,area,lanczos4}`` (``cv2.resize`` with ``INTER_NEAREST``,
``INTER_LINEAR``, ``INTER_CUBIC``, ``INTER_AREA``, ``INTER_LANCZOS4``).
Pillow's methods (``pil_*``) live in :mod:`robustmq.data.pipeline`.

OpenCV's filters differ from Pillow's of the same name: they do not widen the kernel when
shrinking (except ``area``), use fixed-point arithmetic for uint8 and other pixel-centre rounding
for ``nearest``; that is the systematic noise these variants measure.
"""

from __future__ import annotations

import cv2
import numpy as np

from robustmq.data.pipeline import RESIZERS, Resizer

__all__ = ["OPENCV_METHODS"]

#: Resizer name suffix -> OpenCV interpolation flag.
OPENCV_METHODS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos4": cv2.INTER_LANCZOS4,
}


def _opencv_resizer(name: str, flag: int) -> Resizer:
    def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        height, width = size
        out = cv2.resize(image, (width, height), interpolation=flag)
        return np.ascontiguousarray(out.reshape(height, width, -1))

    resize.__doc__ = f"Resize with cv2.resize ({name}) to (height, width); uint8 H x W x 3."
    resize.__name__ = f"resize_opencv_{name}"
    return resize


for _name, _flag in OPENCV_METHODS.items():
    RESIZERS.register(f"opencv_{_name}")(_opencv_resizer(_name, _flag))
