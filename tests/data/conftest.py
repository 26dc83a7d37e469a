"""Fixtures of the data tests: image files of any mode and small ImageFolder trees."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustmq.data import clear_cache

MakeImage = Callable[..., Path]
MakeTree = Callable[..., Path]


def _write_image(
    path: Path, size: tuple[int, int] = (40, 30), mode: str = "RGB", seed: int = 0
) -> Path:
    """A random image of ``size`` (width, height) and ``mode`` at ``path`` (format by suffix)."""
    rng = np.random.default_rng(seed)
    width, height = size
    rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    image = rgb.convert("P") if mode == "P" else rgb.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def make_image() -> MakeImage:
    """``make_image(path, size=(w, h), mode="RGB", seed=0)`` writes a random image file."""
    return _write_image


@pytest.fixture
def make_tree(tmp_path: Path) -> MakeTree:
    """``make_tree({"cls": n}, split="val")`` writes ``n`` small JPEGs per class; returns root."""

    def make(
        counts: Mapping[str, int], split: str = "val", root: Path | None = None, size: int = 20
    ) -> Path:
        root = root if root is not None else tmp_path / "data"
        for c, (name, n) in enumerate(sorted(counts.items())):
            for i in range(n):
                _write_image(
                    root / split / name / f"img_{i:03d}.jpg", (size, size), seed=c * 97 + i
                )
        return root

    return make


@pytest.fixture(autouse=True)
def _empty_tensor_cache() -> Iterator[None]:
    """Every test starts and ends with an empty load_tensors cache."""
    clear_cache()
    yield
    clear_cache()
