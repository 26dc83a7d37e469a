"""Pipelines at a model's own input size: a profile's geometry scaled to another crop.

A model registered with its own ``input_size`` (a crop side in pixels) sees the profile's images
through the profile's pipeline scaled to that crop: the same decoder and resize method, the crop
set to ``input_size`` and the resize to ``input_size`` x the profile's resize / crop ratio
(synthetic: 73 / 64, ImageNet: 256 / 224), rounded half up, so the centre crop keeps the same
share of the image.
"""

from __future__ import annotations

from robustmq.data.pipeline import Pipeline
from robustmq.data.profiles import Profile
from robustmq.exceptions import InvalidOptionError

__all__ = ["MAX_INPUT_SIZE", "MIN_INPUT_SIZE", "pipeline_for_input", "scaled_resize"]

#: Smallest input side accepted (the built-in architectures still run on 8 px images: their
#: padding keeps a 1 x 1 feature map).
MIN_INPUT_SIZE = 8
#: Largest input side accepted: 1024 px, over 4 x ImageNet's 224 (a larger value is far more
#: likely a typo than a model, and would make a single pre-processed set tens of GB).
MAX_INPUT_SIZE = 1024


def _check_input_size(value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_INPUT_SIZE <= value <= MAX_INPUT_SIZE
    ):
        raise InvalidOptionError(
            f"input_size={value!r} ({type(value).__name__}) is invalid; expected an integer "
            f"from {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE} (the model's crop side in pixels), or "
            "None for the profile's own"
        )
    return value


def scaled_resize(profile: Profile, input_size: int) -> int:
    """``input_size`` x the profile's resize / crop ratio, rounded half up (integer arithmetic)."""
    size = _check_input_size(input_size)
    return (2 * size * profile.resize_size + profile.crop_size) // (2 * profile.crop_size)


def pipeline_for_input(profile: Profile, input_size: int | None) -> Pipeline:
    """The profile's pipeline for a model whose input side is ``input_size`` pixels.

    None gives the profile's own (:meth:`Pipeline.from_profile`); an integer from
    :data:`MIN_INPUT_SIZE` to :data:`MAX_INPUT_SIZE` gives the same pipeline with
    ``crop_size = input_size`` and ``resize_size`` = :func:`scaled_resize` (the profile's own
    pipeline again when ``input_size`` is its crop). Anything else raises
    :class:`~robustmq.exceptions.InvalidOptionError` naming the value.
    """
    if input_size is None:
        return Pipeline.from_profile(profile)
    return Pipeline.from_profile(
        profile, crop_size=input_size, resize_size=scaled_resize(profile, input_size)
    )
