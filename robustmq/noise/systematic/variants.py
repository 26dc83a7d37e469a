"""The 14 systematic-noise variants: the reference pipeline with one step changed.

``decoder_pil`` is the reference itself (Pillow decoder, Pillow bilinear resize); the other 13
change either the decoder (``decoder_opencv``, ``decoder_ffmpeg``) or the resize method
(``resize_pil_{nearest,bilinear,bicubic,box,hamming,lanczos}``,
``resize_opencv_{nearest,bilinear,bicubic,area,lanczos4}``). ``resize_pil_bilinear`` names the
reference's own resize method, so its set equals the reference set; it is kept because the protocol
lists all 11 methods and ACCs averages over the 14. Other coincidences, measured: OpenCV decodes
baseline JPEGs bit for bit as Pillow (``decoder_opencv`` = reference on JPEG data), and when the
resize enlarges (CIFAR-10: 32 px -> 72) Pillow's ``box`` equals ``nearest``.

The resize geometry is a separate setting (:data:`GEOMETRIES`): ``aspect`` resizes the shorter side
(torchvision, the default), ``square`` resizes to a square as RobustART did; it applies to every
variant, the reference included.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from robustmq.data.pipeline import Pipeline
from robustmq.data.profiles import Profile, get_profile
from robustmq.data.sizes import pipeline_for_input
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.registry import Registry

__all__ = [
    "GEOMETRIES",
    "REFERENCE",
    "VARIANTS",
    "Variant",
    "check_geometry",
    "get_variant",
    "list_variants",
]

Step = Literal["decoder", "resize"]
#: Resize geometries: shorter side to ``resize_size`` (aspect) or a square (RobustART).
GEOMETRIES: tuple[str, ...] = ("aspect", "square")
#: The reference pipeline's decoder and resize method (see :mod:`robustmq.data.pipeline`).
REFERENCE_DECODER = "pil"
REFERENCE_RESIZE = "pil_bilinear"


class UnknownVariantError(UnknownNameError):
    """A systematic-noise variant name that is not registered."""


@dataclass(frozen=True)
class Variant:
    """One variant: its name, which step it changes, and the decoder and resize method it uses."""

    name: str
    step: Step
    decoder: str = REFERENCE_DECODER
    resize: str = REFERENCE_RESIZE
    #: the crop of a model registered with its own input size (None: the profile's crop).
    input_size: int | None = None

    @property
    def is_reference(self) -> bool:
        """True for the variant that is the reference pipeline itself (``decoder_pil``)."""
        return self.name == REFERENCE

    def pipeline(self, profile: str | Profile, geometry: str = "aspect") -> Pipeline:
        """``profile``'s reference pipeline with this variant's decoder and resize method (at
        :attr:`input_size`: :func:`~robustmq.data.sizes.pipeline_for_input`)."""
        profile = get_profile(profile) if isinstance(profile, str) else profile
        square = check_geometry(geometry) == "square"
        if self.input_size is not None:
            base = pipeline_for_input(profile, self.input_size)
            return dataclasses.replace(
                base, decoder=self.decoder, resize=self.resize, square=square
            )
        return Pipeline.from_profile(
            profile, decoder=self.decoder, resize=self.resize, square=square
        )

    def params(self, geometry: str = "aspect") -> dict[str, str]:
        """The variant as record ``params``: name, step, decoder, resize method, geometry."""
        return {
            "variant": self.name,
            "step": self.step,
            "decoder": self.decoder,
            "resize": self.resize,
            "geometry": check_geometry(geometry),
        }


VARIANTS: Registry[Variant] = Registry("systematic-noise variant", UnknownVariantError)
#: The reference variant's name.
REFERENCE = "decoder_pil"
_ORDER: list[str] = []


def _register(variant: Variant) -> None:
    VARIANTS.register(variant.name)(variant)
    _ORDER.append(variant.name)


for _decoder in ("pil", "opencv", "ffmpeg"):
    _register(Variant(f"decoder_{_decoder}", "decoder", decoder=_decoder))
for _method in ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos"):
    _register(Variant(f"resize_pil_{_method}", "resize", resize=f"pil_{_method}"))
for _method in ("nearest", "bilinear", "bicubic", "area", "lanczos4"):
    _register(Variant(f"resize_opencv_{_method}", "resize", resize=f"opencv_{_method}"))


def list_variants(step: str | None = None) -> list[str]:
    """Variant names in the protocol's order (decoders, then Pillow and OpenCV resize methods)."""
    if step not in (None, "decoder", "resize"):
        raise InvalidOptionError(f"step={step!r}; expected 'decoder', 'resize' or None (all)")
    return [n for n in _ORDER if step is None or VARIANTS.get(n).step == step]


def get_variant(name: str) -> Variant:
    """The variant called ``name``; UnknownVariantError listing the names (and close ones)."""
    return VARIANTS.get(name)


def check_geometry(geometry: object) -> str:
    """``geometry`` if it is ``aspect`` or ``square``; InvalidOptionError naming it otherwise."""
    if geometry not in GEOMETRIES:
        raise InvalidOptionError(
            f"resize geometry {geometry!r} is invalid (--rmq-resize-geometry); expected 'aspect' "
            "or 'square'"
        )
    return str(geometry)
