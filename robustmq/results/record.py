"""The result record of one benchmark cell: a frozen dataclass that becomes plain JSON.

JSON keys: ``cell``, ``arch``, ``quantizer`` (``fp32`` for float), ``bits`` (null for float),
``family``, ``noise``, ``params``, ``metrics`` (fractions in [0, 1]), ``n_samples``, ``correct``
(per-sample correctness, bit-packed and base64-encoded, sample order = ``settings.sample_ids``
order), ``seed``, ``settings``, ``checkpoint_sha256``, ``versions``, ``device``, ``duration_s``,
``flags``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from robustmq._version import __version__
from robustmq.hashing import sha256_lines


def pack_correct(correct: Tensor) -> str:
    """Bit-pack a boolean vector into base64 text (8 samples per byte)."""
    bits = np.packbits(correct.detach().cpu().numpy().astype(bool))
    return base64.b64encode(bits.tobytes()).decode("ascii")


def unpack_correct(packed: str, n: int) -> Tensor:
    """Inverse of :func:`pack_correct` for ``n`` samples."""
    raw = np.frombuffer(base64.b64decode(packed), dtype=np.uint8)
    return torch.from_numpy(np.unpackbits(raw)[:n].astype(bool))


def sample_ids_digest(sample_ids: Sequence[str]) -> str:
    """sha256 of an ordered list of sample ids (identifies an evaluation subset)."""
    return sha256_lines(sample_ids)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on."""
    import torchvision

    versions = {
        "robustmq": __version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    for module in ("torchattacks", "imagecorruptions", "PIL", "cv2", "av"):
        try:
            versions[module] = str(__import__(module).__version__)
        except (ImportError, AttributeError):
            continue
    return versions


@dataclass(frozen=True)
class Record:
    """What one cell measured, with everything needed to reproduce and compare it."""

    cell: str
    arch: str
    quantizer: str
    bits: int | None
    family: str
    noise: str
    params: dict[str, Any]
    metrics: dict[str, float]
    n_samples: int
    correct: str
    seed: int
    settings: dict[str, Any]
    checkpoint_sha256: str | None
    versions: dict[str, str]
    device: str
    duration_s: float
    flags: list[str] = field(default_factory=list)

    @property
    def model_id(self) -> str:
        """``arch-fp32`` or ``arch-quantizer-<bits>bit``."""
        if self.bits is None:
            return f"{self.arch}-{self.quantizer}"
        return f"{self.arch}-{self.quantizer}-{self.bits}bit"

    def correct_vector(self) -> Tensor:
        """Per-sample correctness as a boolean tensor."""
        return unpack_correct(self.correct, self.n_samples)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON dict (the record's on-disk and over-the-wire form: only builtin types)."""
        result: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))
        return result

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        """Rebuild a record from :meth:`to_json` output (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
