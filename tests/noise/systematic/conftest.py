"""Fixtures of the systematic-noise tests: a tiny synthetic set, a private cache, JPEG samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from robustmq.data import clear_cache, ensure_synthetic
from robustmq.data.profiles import get_profile
from robustmq.noise.systematic.evaluate import clear_correct_cache
from robustmq.noise.systematic.sets import clear_memory_cache

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic set of 10 classes x 3 val images, stored at the profile's size."""
    root = tmp_path_factory.mktemp("sys_synthetic") / "data"
    spec = get_profile("synthetic").synthetic
    assert spec is not None
    return ensure_synthetic(root, train_per_class=1, val_per_class=3, size=spec.size)


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test caches under its own ROBUSTMQ_HOME and starts with empty in-process caches."""
    monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "home"))
    clear_memory_cache()
    clear_correct_cache()
    clear_cache()
    yield
    clear_memory_cache()
    clear_correct_cache()
    clear_cache()


@pytest.fixture(scope="session")
def cifar_jpegs() -> list[Path]:
    """A few real CIFAR-10 test JPEGs ($ROBUSTMQ_CIFAR10 or ../shared/data/cifar10), else skip."""
    root = Path(os.environ.get("ROBUSTMQ_CIFAR10") or REPO.parent / "shared" / "data" / "cifar10")
    files = sorted((root / "test").glob("*/*.jpg"))[::97][:10] if (root / "test").is_dir() else []
    if not files:
        pytest.skip(f"no CIFAR-10 JPEGs under {root}/test (set $ROBUSTMQ_CIFAR10 to run this test)")
    return files
