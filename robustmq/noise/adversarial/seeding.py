"""Explicit seeds for attacks: derive one per cell, and run code under it without leaking state.

torchattacks (FGSM, PGD) draws its random starts from the global generators, and AutoAttack's
components (``pyautoattack``) call ``torch.manual_seed`` themselves, so every attack runs inside
:func:`seeded`, which forks the global RNGs (Python, NumPy, torch CPU and every CUDA device), seeds
them, and restores them on exit: a cell's numbers depend only on its seed, not on which cells ran
before it in the same process (serial run or ``pytest -n N`` alike).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["derive_seed", "seeded"]


def derive_seed(run_seed: int, *keys: object) -> int:
    """A seed in [0, 2**63) determined by ``run_seed`` and ``keys`` (e.g. the cell id) only."""
    text = "\x1f".join([str(int(run_seed)), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with every global RNG seeded from ``seed``; restore their states after."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices, enabled=True):
        torch.manual_seed(seed)  # seeds CUDA devices too (lazily when not initialised)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
