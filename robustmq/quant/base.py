"""Quantizer modules' base class, the quantizer-family interface and its registry."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from robustmq.exceptions import InvalidBitsError, UnknownQuantizerError
from robustmq.quant.functional import FLOAT_BITS, MAX_BITS, MIN_BITS
from robustmq.registry import Registry


def validate_bits(bits: object, option: str = "bits") -> int:
    """``bits`` as an int when it is in 2..8 or is 32; else :class:`InvalidBitsError`."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise InvalidBitsError(bits, option)
    if bits != FLOAT_BITS and not MIN_BITS <= bits <= MAX_BITS:
        raise InvalidBitsError(bits, option)
    return bits


class Quantizer(nn.Module):
    """Fake-quantizes one tensor (a layer's weight or its input activation).

    ``bits == 32`` makes the quantizer the identity. A forward pass never changes a parameter or
    buffer, except inside :func:`robustmq.quant.calibrate`, which lets quantizers with a
    data-dependent initialisation (LSQ steps, PACT alphas, DoReFa's signed range) observe the float
    model's activations (passing them through unquantized) once before training.
    """

    signed: bool

    def __init__(self, bits: int, signed: bool) -> None:
        super().__init__()
        self.bits = validate_bits(bits)
        self.signed = signed
        self.calibrating = False

    @property
    def enabled(self) -> bool:
        """False when ``bits == 32`` (the quantizer is then the identity)."""
        return self.bits != FLOAT_BITS

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        if self.calibrating:  # MQBench-style calibration: observe, do not quantize
            with torch.no_grad():
                self.observe(x.detach())
            return x
        return self.quantize(x)

    def quantize(self, x: Tensor) -> Tensor:
        """Fake-quantize ``x``; must not change any state.

        The same bits whether or not autograd records the call: the functions of
        :mod:`robustmq.quant.functional` skip the bookkeeping (and work in place) when it does not.
        """
        raise NotImplementedError

    def observe(self, x: Tensor) -> None:
        """Accumulate calibration statistics of ``x`` (default: none needed)."""

    def finish_calibration(self) -> None:
        """Set data-dependent parameters from the statistics gathered by :meth:`observe`."""

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}"


class QuantizerFamily:
    """A quantization method: how it builds weight and activation quantizers."""

    name: ClassVar[str]
    #: Short human description stored in documentation and records.
    description: ClassVar[str]
    #: Bumped when a change to the family's float operations changes what training (QAT) produces;
    #: part of the zoo's recipe, so the family's cached checkpoints are then rebuilt.
    arithmetic_version: ClassVar[int] = 1

    @classmethod
    def weight_quantizer(cls, weight: Tensor, bits: int) -> Quantizer:
        """A quantizer for ``weight`` (signed, per tensor), initialised from it where needed."""
        raise NotImplementedError

    @classmethod
    def activation_quantizer(cls, bits: int, signed: bool) -> Quantizer:
        """A quantizer for a layer input; ``signed`` when the input may be negative."""
        raise NotImplementedError


QUANTIZERS: Registry[type[QuantizerFamily]] = Registry("quantizer", UnknownQuantizerError)


def register_quantizer(name: str):  # type: ignore[no-untyped-def]
    """Class decorator registering a :class:`QuantizerFamily` under ``name``."""

    def decorator(cls: type[QuantizerFamily]) -> type[QuantizerFamily]:
        cls.name = name
        return QUANTIZERS.register(name)(cls)

    return decorator


def get_quantizer(name: str) -> type[QuantizerFamily]:
    """The quantizer family registered as ``name`` (``UnknownQuantizerError`` otherwise)."""
    return QUANTIZERS.get(name)


def list_quantizers(pattern: str = "*") -> list[str]:
    """Sorted names of the registered quantizers, e.g. ``["dorefa", "lsq", "pact"]``."""
    return QUANTIZERS.names(pattern)
