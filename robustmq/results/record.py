"""The result record of one benchmark cell: a frozen dataclass that becomes plain JSON.

JSON keys: ``cell``, ``arch``, ``quantizer`` (``fp32`` for float), ``bits`` (null for float),
``family``, ``noise``, ``params``, ``metrics`` (fractions in [0, 1]), ``n_samples``, ``correct``
(per-sample correctness, bit-packed and base64-encoded, sample order = ``settings.sample_ids``
order), ``seed``, ``settings``, ``checkpoint_sha256``, ``versions``, ``device``, ``duration_s``,
``flags``, ``intervals`` (``{metric: [low, high]}``, 95 %), ``schema`` (:data:`SCHEMA_VERSION`).
:func:`normalize_record` reads older records: a record without ``schema`` is version 1 (optional
fields may be missing, a float model may carry ``bits: 32``); versions 1 and 2 have no intervals.
"""

from __future__ import annotations

import base64
import binascii
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
from robustmq.exceptions import RecordError
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
    for module in ("torchattacks", "pyautoattack", "imagecorruptions", "PIL", "cv2", "av"):
        try:
            versions[module] = str(__import__(module).__version__)
        except (ImportError, AttributeError):
            continue
    return versions


#: Version of the record's JSON form. 1: no ``schema`` key; 2: ``schema`` added (same fields);
#: 3: ``intervals`` (95 % intervals of the headline metrics) added.
SCHEMA_VERSION = 3

#: Fields a version-1 writer could leave out, and what they mean when absent.
_OPTIONAL: dict[str, Any] = {
    "params": {},
    "settings": {},
    "checkpoint_sha256": None,
    "versions": {},
    "device": "",
    "duration_s": 0.0,
    "flags": [],
    "intervals": {},
}


def normalize_record(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a record's JSON, any schema version) in the current form; unknown keys dropped.

    A record newer than this version of RobustMQ is a ValueError naming the versions.
    """
    version = data.get("schema", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(
            f"record {data.get('cell')!r} has schema {version!r}; this RobustMQ reads schema "
            f"versions 1..{SCHEMA_VERSION} (upgrade RobustMQ)"
        )
    names = {f.name for f in dataclasses.fields(Record)}
    result = {k: v for k, v in data.items() if k in names}
    for key, default in _OPTIONAL.items():
        result.setdefault(key, json.loads(json.dumps(default)))
    if result.get("quantizer") == "fp32" and result.get("bits") == 32:
        result["bits"] = None
    result["schema"] = SCHEMA_VERSION
    return result


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
    #: 95 % interval ``[low, high]`` of each headline metric (Wilson score for a proportion).
    intervals: dict[str, list[float]] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

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
        """Rebuild a record from :meth:`to_json` output of any schema version (normalized).

        A missing field or one of the wrong type (a metric that is not a number, ``correct`` that
        is not the base64 of ``n_samples`` bits...) is a RecordError naming the cell and field.
        """
        if not isinstance(data, dict):
            raise RecordError(f"a record is a JSON object, not {_shown(data)}")
        normalized = normalize_record(data)
        problem = _problem(normalized)
        if problem is not None:
            raise RecordError(f"record {data.get('cell')!r}: {problem}")
        return cls(**normalized)


def _shown(value: Any) -> str:
    text = repr(value)
    return (
        f"{text[:60]}... ({type(value).__name__})"
        if len(text) > 60
        else f"{text} ({type(value).__name__})"
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: What each field of a record's JSON must be: (test, description).
_FIELDS: dict[str, tuple[Any, str]] = {
    **dict.fromkeys(
        ("cell", "arch", "quantizer", "family", "noise", "correct", "device"),
        (lambda v: isinstance(v, str), "a string"),
    ),
    "bits": (lambda v: v is None or _integer(v), "an integer or null"),
    "n_samples": (lambda v: _integer(v) and v >= 0, "an integer >= 0"),
    "seed": (_integer, "an integer"),
    "duration_s": (_number, "a number"),
    "checkpoint_sha256": (lambda v: v is None or isinstance(v, str), "a string or null"),
    **dict.fromkeys(
        ("params", "settings", "versions", "metrics", "intervals"),
        (lambda v: isinstance(v, dict), "an object"),
    ),
    "flags": (
        lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v),
        "a list of strings",
    ),
}


def _problem(data: dict[str, Any]) -> str | None:
    """What is wrong with a normalized record's JSON (None: nothing)."""
    missing = [f.name for f in dataclasses.fields(Record) if f.name not in data]
    if missing:
        return f"fields {missing} are missing"
    for name, (test, expected) in _FIELDS.items():
        if not test(data[name]):
            return f"field {name!r} is {_shown(data[name])}; expected {expected}"
    for name, value in data["metrics"].items():
        if not _number(value):
            return f"field 'metrics.{name}' is {_shown(value)}; expected a number"
    for name, value in data["intervals"].items():
        if not (isinstance(value, list) and len(value) == 2 and all(map(_number, value))):
            return f"field 'intervals.{name}' is {_shown(value)}; expected [low, high] numbers"
    try:
        size = len(base64.b64decode(data["correct"], validate=True))
    except (binascii.Error, ValueError):
        return f"field 'correct' is {_shown(data['correct'])}; expected base64 text"
    if size != -(-data["n_samples"] // 8):
        return (
            f"field 'correct' decodes to {size} byte{'s' * (size != 1)}; expected "
            f"{-(-data['n_samples'] // 8)} "
            f"(the bit-packed correctness of n_samples = {data['n_samples']} samples)"
        )
    return None
