"""Benchmark settings: the ``--rmq-*`` options as one frozen dataclass, stored in every record.

The harness's own options are fields; the options a noise family adds (see
:mod:`robustmq.benchmark.options`) live in ``family_options`` and read as attributes too
(``settings.resize_geometry``), so a new family needs no new field here. :meth:`to_dict` is the
flat form stored in records: every option by name, a family option at its default when unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from robustmq.benchmark.options import family_options
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
    #: resume: cells already in the output folder's journal with the same key are not rerun.
    resume: bool = False
    #: regression gate: a results.json to compare with, the tolerance in points and the z factor.
    baseline: str | None = None
    tolerance: float = 1.0
    z: float = 3.0
    #: where to write this run's results as a baseline for later runs (None: nowhere).
    save_baseline: str | None = None
    #: values of the options the noise families add, by name (unset ones: their defaults).
    family_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        profile = get_profile(self.profile)  # unknown: UnknownNameError listing the profiles
        if self.n_samples is not None and self.n_samples < profile.num_classes:
            raise InvalidOptionError(
                f"--rmq-n-samples={self.n_samples!r} is too small; expected at least one image per "
                f"class: an integer >= {profile.num_classes} for the {profile.name} profile"
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
        declared = {o.name: o for o in family_options()}
        for name, value in self.family_options.items():
            option = declared.get(name)
            if option is None:
                raise InvalidOptionError(
                    f"{name!r} is not an option of any registered noise family; expected one of "
                    f"{sorted(declared)}"
                )
            if option.choices is not None and value not in option.choices:
                raise InvalidOptionError(
                    f"{option.pytest_flag}={value!r} is invalid; expected one of "
                    + ", ".join(repr(c) for c in option.choices)
                )

    def option(self, name: str) -> Any:
        """The value of a family's option ``name`` (its default when unset)."""
        if name in self.family_options:
            return self.family_options[name]
        for option in family_options():
            if option.name == name:
                return option.default
        raise AttributeError(f"BenchSettings has no option {name!r}")

    def __getattr__(self, name: str) -> Any:
        # called only for names that are not fields: a family's option (settings.imagenet_c)
        if name.startswith("__") or name == "family_options":
            raise AttributeError(name)
        return self.option(name)

    def per_class(self, num_classes: int) -> int | None:
        """Evaluation images per class implied by ``n_samples``, rounded down (None: the profile's
        default)."""
        if self.n_samples is None:
            return None
        return max(1, self.n_samples // num_classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form: every harness and family option by name."""
        result = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "family_options"}
        result.update({o.name: self.option(o.name) for o in family_options()})
        return result

    @classmethod
    def harness_fields(cls) -> frozenset[str]:
        """Names of the harness's own settings (the dataclass fields)."""
        return frozenset(f.name for f in fields(cls) if f.name != "family_options")
