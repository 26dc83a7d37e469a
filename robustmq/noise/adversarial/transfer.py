"""Transfer examples: PGD crafted on the float model of an architecture, shared by its quantized
models within one run (the cache lives in the run's context).

Entries are keyed by (source checkpoint sha256, attack parameters, seed, sample-ids digest), so the
12 quantized models of an architecture reuse one crafting per budget, and a key can never return
examples made for other samples, another source model or another seed.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from torch import Tensor

__all__ = ["TransferCache", "transfer_key"]

TransferKey = tuple[str, str, int, str]


def transfer_key(
    source_sha256: str, attack_params: dict[str, Any], seed: int, samples_digest: str
) -> TransferKey:
    """The cache key of examples crafted on one source model for one set of samples."""
    return (source_sha256, json.dumps(attack_params, sort_keys=True), int(seed), samples_digest)


class TransferCache:
    """A small LRU of crafted adversarial images (CPU tensors) keyed by :func:`transfer_key`."""

    def __init__(self, max_entries: int = 6) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[TransferKey, Tensor] = OrderedDict()
        self.crafted = 0

    def get(self, key: TransferKey, craft: Callable[[], Tensor]) -> Tensor:
        """The images stored under ``key``, crafted by ``craft()`` on first use."""
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        images = craft()
        self.crafted += 1
        self._entries[key] = images
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return images

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
