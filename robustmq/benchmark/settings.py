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

from robustmq.benchmark.options import PTQ_IMAGES, family_options
from robustmq.cells import FLOAT, ModelSpec, model_grid
from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.models import MODELS
from robustmq.quant import get_quantizer, validate_bits


@dataclass(frozen=True)
class BenchSettings:
    """Options of one benchmark run (see ``pytest --help``, group "robustmq")."""

    profile: str = "synthetic"
    data_root: str | None = None
    checkpoints: str | None = None
    #: the grid: comma-separated architectures, quantizers (fp32: the float row), bit-widths.
    archs: str | None = None
    quantizers: str | None = None
    bits: str | None = None
    #: post-training quantization of quantized rows without a checkpoint file.
    ptq: bool = False
    ptq_images: int = PTQ_IMAGES
    ptq_epochs: int = 0
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
        for flag, value, least in (
            ("--rmq-ptq-images", self.ptq_images, 1),
            ("--rmq-ptq-epochs", self.ptq_epochs, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InvalidOptionError(
                    f"{flag}={value!r} is invalid; expected an integer >= {least}"
                )
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

    def grid(self) -> list[ModelSpec]:
        """The models of the run: :func:`~robustmq.cells.model_grid` restricted by
        ``--rmq-archs`` (in that order), ``--rmq-quantizers`` and ``--rmq-bits`` (in the grid's
        order: the float row, quantizers by name, bits ascending). An unknown architecture or
        quantizer, or a bit-width outside 2..8, is an InvalidOptionError naming the option (with
        the registry's suggestions)."""
        archs = _items("--rmq-archs", self.archs)
        for arch in archs or ():
            try:
                MODELS.get(arch)
            except UnknownNameError as exc:
                raise InvalidOptionError(
                    f"--rmq-archs={self.archs!r}: {exc} (a model of your own: register it with "
                    "robustmq.register_model in a conftest.py that pytest loads at startup, such "
                    "as the one of the folder pytest runs in)"
                ) from exc
        quantizers = _items("--rmq-quantizers", self.quantizers)
        for name in quantizers or ():
            if name != FLOAT:
                try:
                    get_quantizer(name)
                except UnknownNameError as exc:
                    raise InvalidOptionError(
                        f"--rmq-quantizers={self.quantizers!r}: {exc} ({FLOAT} names the float row)"
                    ) from exc
        bits = None
        if self.bits is not None:
            bits = sorted(_bits(self.bits, item) for item in _items("--rmq-bits", self.bits) or ())
        return model_grid(
            archs,
            None if quantizers is None else sorted(q for q in quantizers if q != FLOAT),
            bits,
            include_float=quantizers is None or FLOAT in quantizers,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form: every harness and family option by name."""
        result = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "family_options"}
        result.update({o.name: self.option(o.name) for o in family_options()})
        return result

    @classmethod
    def harness_fields(cls) -> frozenset[str]:
        """Names of the harness's own settings (the dataclass fields)."""
        return frozenset(f.name for f in fields(cls) if f.name != "family_options")


def _items(flag: str, value: str | None) -> list[str] | None:
    """The comma-separated names of ``value`` (None: not given), each once, in order."""
    if value is None:
        return None
    items = [item.strip() for item in str(value).split(",") if item.strip()]
    if not items:
        raise InvalidOptionError(
            f"{flag}={value!r} names nothing; expected comma-separated names, e.g. a,b"
        )
    return list(dict.fromkeys(items))


def _bits(value: str, item: str) -> int:
    """One bit-width of ``--rmq-bits``: an integer in 2..8."""
    try:
        bits = validate_bits(int(item))
    except ValueError:  # not an integer, or InvalidBitsError
        bits = 32
    if bits == 32:
        raise InvalidOptionError(
            f"--rmq-bits={value!r}: {item!r} is invalid; expected integers in 2..8, "
            f"comma-separated (the float row is {FLOAT} in --rmq-quantizers)"
        )
    return bits
