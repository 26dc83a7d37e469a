"""Benchmark settings: the ``--rmq-*`` options as one frozen dataclass, stored in every record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError


@dataclass(frozen=True)
class BenchSettings:
    """Options of one benchmark run (see ``pytest --help``, group "robustmq")."""

    profile: str = "synthetic"
    data_root: str | None = None
    checkpoints: str | None = None
    zoo_root: str | None = None
    device: str = "cpu"
    n_samples: int | None = None
    batch_size: int = 128
    seed: int = 0
    output: str = "benchmark-results"
    strict: bool = False
    #: adversarial: masking flags fail their cell.
    fail_on_masking: bool = False
    #: natural: folder of the released ImageNet-C files (None: generate corruptions).
    imagenet_c: str | None = None
    #: natural: JPEG quality-85 round trip of generated corruptions.
    corruption_jpeg: bool = False
    #: systematic: "aspect" (resize the shorter side) or "square" (RobustART).
    resize_geometry: str = "aspect"
    #: resume: cells already in the output folder's journal with the same key are not rerun.
    resume: bool = False
    #: regression gate: a results.json to compare with, the tolerance in points and the z factor.
    baseline: str | None = None
    tolerance: float = 1.0
    z: float = 3.0
    #: where to write this run's results as a baseline for later runs (None: nowhere).
    save_baseline: str | None = None

    def __post_init__(self) -> None:
        get_profile(self.profile)  # unknown profile: UnknownNameError listing the profiles
        if self.n_samples is not None and self.n_samples < 1:
            raise InvalidOptionError(
                f"--rmq-n-samples={self.n_samples!r} is invalid; expected an integer >= 1"
            )
        if self.batch_size < 1:
            raise InvalidOptionError(
                f"--rmq-batch-size={self.batch_size!r} is invalid; expected an integer >= 1"
            )

        if not self.tolerance >= 0:
            raise InvalidOptionError(
                f"--rmq-tolerance={self.tolerance!r} is invalid; expected a number of percentage "
                "points >= 0"
            )
        if not self.z >= 0:
            raise InvalidOptionError(f"--rmq-z={self.z!r} is invalid; expected a number >= 0")
        if self.resize_geometry not in ("aspect", "square"):
            raise InvalidOptionError(
                f"--rmq-resize-geometry={self.resize_geometry!r} is invalid; "
                "expected 'aspect' or 'square'"
            )

    def per_class(self, num_classes: int) -> int | None:
        """Evaluation images per class implied by ``n_samples`` (None: the profile's default)."""
        if self.n_samples is None:
            return None
        return max(1, self.n_samples // num_classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return asdict(self)
