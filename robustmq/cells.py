"""Model specs: which architecture, quantizer and bit-width a benchmark cell evaluates.

A spec's id is the first part of every cell id: ``resnet18-fp32``, ``resnet18-lsq-4bit``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from robustmq.exceptions import InvalidOptionError
from robustmq.models import external_models, list_models
from robustmq.quant import list_quantizers, validate_bits

#: Name of the float "quantizer" in specs, ids and records.
FLOAT = "fp32"
#: The paper's bit-widths.
GRID_BITS = (2, 4, 6, 8)
#: The paper's architectures, in its order.
GRID_ARCHS = ("resnet18", "resnet50", "regnetx_600m", "mobilenet_v2")

_ID = re.compile(r"^(?P<arch>[a-z0-9_]+)-(?:(?P<fp>fp32)|(?P<q>[a-z]+)-(?P<bits>\d+)bit)$")


@dataclass(frozen=True, order=True)
class ModelSpec:
    """One model of the grid: ``bits`` is None for the float model."""

    arch: str
    quantizer: str = FLOAT
    bits: int | None = None

    def __post_init__(self) -> None:
        if self.arch not in list_models():
            from robustmq.models import MODELS

            MODELS.get(self.arch)  # raises UnknownModelError with suggestions
        if self.quantizer == FLOAT:
            if self.bits not in (None, 32):
                raise InvalidOptionError(f"the float model takes no bits (got bits={self.bits!r})")
            object.__setattr__(self, "bits", None)
        else:
            from robustmq.quant import get_quantizer

            get_quantizer(self.quantizer)
            if self.bits is None or validate_bits(self.bits) == 32:
                raise InvalidOptionError(
                    f"quantizer {self.quantizer!r} needs bits in 2..8 (got bits={self.bits!r})"
                )

    @property
    def is_float(self) -> bool:
        """True for the float (``fp32``) model."""
        return self.quantizer == FLOAT

    @property
    def id(self) -> str:
        """``arch-fp32`` or ``arch-quantizer-<bits>bit``."""
        return (
            f"{self.arch}-{FLOAT}"
            if self.is_float
            else f"{self.arch}-{self.quantizer}-{self.bits}bit"
        )

    def float_spec(self) -> ModelSpec:
        """The float model of the same architecture."""
        return ModelSpec(self.arch)

    def __str__(self) -> str:
        return self.id

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """The spec of an id such as ``resnet18-lsq-4bit`` or ``resnet18-fp32``."""
        m = _ID.match(text)
        if not m:
            raise InvalidOptionError(
                f"model id {text!r} is malformed; expected ARCH-fp32 or ARCH-QUANTIZER-<bits>bit, "
                "e.g. resnet18-lsq-4bit"
            )
        if m["fp"]:
            return cls(m["arch"])
        return cls(m["arch"], m["q"], int(m["bits"]))


def grid_archs() -> tuple[str, ...]:
    """The grid's architectures: the paper's four, then every registered model."""
    return (*GRID_ARCHS, *external_models())


def model_grid(
    archs: Iterable[str] | None = None,
    quantizers: Iterable[str] | None = None,
    bits: Iterable[int] | None = None,
    include_float: bool = True,
) -> list[ModelSpec]:
    """The paper's grid (4 architectures x (float + 3 quantizers x 4 bit-widths) = 52), filtered.

    ``archs`` defaults to the paper's four, then the models registered with
    :func:`robustmq.register_model` (registration order). Order: per architecture, the float
    model first, then quantizers and bit-widths ascending.
    """
    specs: list[ModelSpec] = []
    for arch in archs if archs is not None else grid_archs():
        if include_float:
            specs.append(ModelSpec(arch))
        for q in quantizers if quantizers is not None else list_quantizers():
            if q == FLOAT:
                continue
            for b in bits if bits is not None else GRID_BITS:
                specs.append(ModelSpec(arch, q, b))
    return specs
