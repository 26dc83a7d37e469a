"""The resize variants change pixels relative to the reference, and differ from each other.

Measured on a synthetic image (40 px -> 36, a downscale) every pair of the 11 methods differs; on a
CIFAR-10 image (32 px -> 36, an upscale) Pillow's ``box`` equals ``nearest`` (a box filter that
enlarges picks the nearest pixel), every other pair differs.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from sys_helpers import smooth_image

from robustmq.data import Pipeline
from robustmq.data.pipeline import RESIZERS, decode_pil
from robustmq.noise.systematic.resizers import OPENCV_METHODS
from robustmq.noise.systematic.variants import get_variant, list_variants

RESIZE_VARIANTS = list_variants("resize")


def _crops(image: np.ndarray) -> dict[str, np.ndarray]:
    """The synthetic profile's resize + crop of ``image`` under every resize variant."""
    return {
        name: get_variant(name).pipeline("synthetic").resize_crop(image) for name in RESIZE_VARIANTS
    }


def _identical_pairs(crops: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    pairs = itertools.combinations(crops, 2)
    return [(a, b) for a, b in pairs if np.array_equal(crops[a], crops[b])]


class TestOpenCVResizers:
    @pytest.mark.parametrize("method", sorted(OPENCV_METHODS))
    def test_returns_the_requested_size(self, method: str) -> None:
        """Every OpenCV resizer gives uint8 (height, width, 3), shrinking and enlarging."""
        resize = RESIZERS.get(f"opencv_{method}")
        image = smooth_image(40, 50)
        for size in ((36, 45), (80, 100), (37, 29)):
            out = resize(image, size)
            assert out.shape == (*size, 3)
            assert out.dtype == np.uint8

    def test_pipeline_resizes_the_shorter_side(self) -> None:
        """Pipeline(resize='opencv_area') resizes 40 x 50 to 36 x 45, then crops 32 x 32."""
        pipeline = Pipeline(resize="opencv_area", resize_size=36, crop_size=32)
        image = smooth_image(40, 50)
        expected = RESIZERS.get("opencv_area")(image, (36, 45))[2:34, 6:38]
        assert np.array_equal(pipeline.resize_crop(image), expected)


class TestVariantsChangePixels:
    def test_on_a_synthetic_image(self, tiny_synthetic: Path) -> None:
        """Each of the 10 non-reference methods changes pixels; all 55 pairs differ."""
        path = sorted((tiny_synthetic / "val").glob("*/*.jpg"))[4]
        crops = _crops(decode_pil(path))
        reference = crops["resize_pil_bilinear"]  # the reference pipeline's own resize
        for name, crop in crops.items():
            if name != "resize_pil_bilinear":
                assert not np.array_equal(crop, reference), name
        same = _identical_pairs(crops)
        assert same == []

    def test_on_a_cifar10_image(self, cifar_jpegs: list[Path]) -> None:
        """On an enlarged CIFAR-10 image all methods differ from the reference; box == nearest."""
        crops = _crops(decode_pil(cifar_jpegs[0]))
        reference = crops["resize_pil_bilinear"]
        for name, crop in crops.items():
            if name != "resize_pil_bilinear":
                assert not np.array_equal(crop, reference), name
        same = _identical_pairs(crops)
        assert same == [("resize_pil_nearest", "resize_pil_box")]

    def test_on_a_large_image(self) -> None:
        """At ImageNet geometry (300 x 260 -> 256 -> 224) every pair of methods differs too."""
        image = smooth_image()
        crops = {
            name: get_variant(name).pipeline("imagenet").resize_crop(image)
            for name in RESIZE_VARIANTS
        }
        assert all(c.shape == (224, 224, 3) for c in crops.values())
        same = _identical_pairs(crops)
        assert same == []
