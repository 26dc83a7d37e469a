"""The hashes recorded in a RobustMQ checkpoint, and their check.

Private to :mod:`robustmq.checkpoints`. ``weights_sha256`` covers the tensors (names, dtypes,
shapes, bytes); ``content_sha256`` covers the :data:`CONTENT_KEYS` metadata entries as stored,
``weights_sha256`` among them, so an edited configuration or meta is detected as well as edited
weights. Files saved before ``content_sha256`` existed load with an
:class:`UnverifiedCheckpointWarning` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from robustmq.exceptions import CorruptCheckpointError

__all__ = [
    "CONTENT_KEYS",
    "UnverifiedCheckpointWarning",
    "content_sha256",
    "state_dict_sha256",
    "verify_hashes",
]

#: Metadata entries covered by ``content_sha256``.
CONTENT_KEYS = ("format", "format_version", "config", "meta", "weights_sha256")


#: Files already warned about in this process.
_WARNED: set[str] = set()


class UnverifiedCheckpointWarning(UserWarning):
    """A checkpoint loaded without a check it should have had (saved before ``content_sha256``)."""


def state_dict_sha256(state_dict: Mapping[str, Tensor]) -> str:
    """Hex sha256 of a state_dict's names, dtypes, shapes and bytes, independent of key order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def content_sha256(metadata: Mapping[str, str]) -> str:
    """Hex sha256 of the :data:`CONTENT_KEYS` entries of a checkpoint's metadata (as stored)."""
    covered = {key: metadata.get(key) for key in CONTENT_KEYS}
    return hashlib.sha256(json.dumps(covered, sort_keys=True).encode()).hexdigest()


def verify_hashes(path: Path, raw: Mapping[str, str], state_dict: Mapping[str, Tensor]) -> None:
    """CorruptCheckpointError unless the tensors and metadata match their recorded hashes."""
    if raw.get("weights_sha256") != state_dict_sha256(state_dict):
        raise CorruptCheckpointError(
            f"{path}: the weights do not match the sha256 recorded when the checkpoint "
            "was saved; the file was modified or damaged"
        )
    recorded = raw.get("content_sha256")
    if recorded is None:
        if str(path) in _WARNED:
            return
        _WARNED.add(str(path))  # once per file and process: a run loads a model many times
        warnings.warn(
            f"{path}: saved without content_sha256 (robustmq "
            f"{raw.get('robustmq_version', 'unknown')}): its weights are verified, its "
            "configuration and meta are not; save it again with save_checkpoint to add the hash",
            UnverifiedCheckpointWarning,
            stacklevel=3,
        )
    elif recorded != content_sha256(raw):
        raise CorruptCheckpointError(
            f"{path}: the configuration or meta do not match the sha256 recorded when the "
            "checkpoint was saved (content_sha256); the metadata was edited or damaged"
        )
