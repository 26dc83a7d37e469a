"""robustmq.data.sizes: a profile's pipeline scaled to a model's own input size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustmq.data import Pipeline, Profile, get_profile, list_profiles
from robustmq.data.sizes import MAX_INPUT_SIZE, MIN_INPUT_SIZE, pipeline_for_input, scaled_resize
from robustmq.exceptions import InvalidOptionError

PROFILES = [get_profile(name) for name in list_profiles()]


class TestPipelineForInput:
    @pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
    def test_none_is_the_profiles_own_pipeline(self, profile: Profile) -> None:
        """No input size: exactly Pipeline.from_profile, and so is the profile's own crop."""
        assert pipeline_for_input(profile, None) == Pipeline.from_profile(profile)
        assert pipeline_for_input(profile, profile.crop_size) == Pipeline.from_profile(profile)

    @given(
        profile=st.sampled_from(PROFILES),
        size=st.integers(MIN_INPUT_SIZE, MAX_INPUT_SIZE),
    )
    def test_crop_is_the_size_and_the_resize_ratio_is_kept(
        self, profile: Profile, size: int
    ) -> None:
        """crop = input size; resize / crop = the profile's ratio within half a pixel's rounding."""
        pipeline = pipeline_for_input(profile, size)
        reference = Pipeline.from_profile(profile)
        assert pipeline.crop_size == size
        assert pipeline.resize_size >= size
        ratio = profile.resize_size / profile.crop_size
        assert abs(pipeline.resize_size - size * ratio) <= 0.5
        assert abs(pipeline.resize_size / size - ratio) <= 0.5 / size + 1e-12  # halves: exact
        assert pipeline.resize_size == scaled_resize(profile, size)
        assert (pipeline.decoder, pipeline.resize, pipeline.square) == (
            reference.decoder,
            reference.resize,
            reference.square,
        )

    def test_known_values(self) -> None:
        """ImageNet 256/224 and synthetic 73/64, halves rounded up."""
        assert scaled_resize(get_profile("imagenet"), 112) == 128
        assert scaled_resize(get_profile("imagenet"), 299) == 342  # 341.7
        assert scaled_resize(get_profile("synthetic"), 32) == 37  # 36.5: half up
        assert scaled_resize(get_profile("synthetic"), 8) == 9  # 9.125

    @pytest.mark.parametrize(
        "value",
        [MIN_INPUT_SIZE - 1, MAX_INPUT_SIZE + 1, 0, -64, 64.0, True, "64", [64]],
        ids=repr,
    )
    def test_bad_values_are_refused_by_name(self, value: object) -> None:
        """Not an int from MIN to MAX: InvalidOptionError naming the option, value and range."""
        with pytest.raises(InvalidOptionError) as info:
            pipeline_for_input(get_profile("synthetic"), value)  # type: ignore[arg-type]
        message = str(info.value)
        assert message.startswith(f"input_size={value!r} ({type(value).__name__}) is invalid")
        assert f"from {MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}" in message
