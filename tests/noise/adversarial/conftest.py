"""Adversarial tests run single-threaded: their models are tiny, and on a busy 2-core machine
torch's thread barriers cost more than the arithmetic (about 10x on these tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
