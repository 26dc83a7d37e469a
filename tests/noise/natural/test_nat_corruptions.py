"""The corruption registry, per-image seeding and what corrupt_image promises."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.noise.natural.corruptions import (
    GROUPS,
    MIN_SIZE,
    SEVERITIES,
    call_count,
    corrupt_image,
    corruption_names,
    get_corruption,
    image_seed,
    jpeg_round_trip,
    package_version,
)

NAMES = corruption_names()


def _image(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


class TestRegistry:
    def test_fifteen_names_in_four_groups(self) -> None:
        """15 corruptions, ImageNet-C's order, 3 noise + 4 blur + 4 weather + 4 digital."""
        assert len(NAMES) == 15
        assert NAMES[0] == "gaussian_noise"
        assert NAMES[-1] == "jpeg_compression"
        assert [len(corruption_names(g)) for g in GROUPS] == [3, 4, 4, 4]
        assert get_corruption("frost").group == "weather"
        assert {n for n in NAMES if get_corruption(n).takes_seed} == {
            "glass_blur",
            "impulse_noise",
        }

    def test_unknown_name_suggests(self) -> None:
        """An unknown name lists the corruptions and suggests the close one."""
        with pytest.raises(UnknownNameError, match="Did you mean 'zoom_blur'"):
            get_corruption("zoom_blurr")
        with pytest.raises(UnknownNameError, match="corruption group"):
            corruption_names("rain")

    def test_package_version_is_the_fork(self) -> None:
        """The key names the pinned fork and its version."""
        assert package_version() == "imagecorruptions-imaug 1.1.5"


class TestSeeds:
    @given(
        st.integers(0, 2**40),
        st.text(min_size=1, max_size=20),
        st.sampled_from(NAMES),
        st.sampled_from(SEVERITIES),
    )
    def test_seed_is_a_function_of_its_inputs(
        self, run_seed: int, sid: str, name: str, severity: int
    ) -> None:
        """Same inputs, same 32-bit seed; changing any one input changes it."""
        seed = image_seed(run_seed, sid, name, severity)
        assert 0 <= seed < 2**32
        assert seed == image_seed(run_seed, sid, name, severity)
        assert seed != image_seed(run_seed + 1, sid, name, severity)
        assert seed != image_seed(run_seed, sid + "x", name, severity)
        assert seed != image_seed(run_seed, sid, name, severity % 5 + 1)

    def test_bad_run_seed(self) -> None:
        """A non-integer run seed is refused with its type."""
        with pytest.raises(InvalidOptionError, match=r"run_seed='0' \(str\)"):
            image_seed("0", "a", "snow", 1)  # type: ignore[arg-type]


class TestCorruptImage:
    @settings(max_examples=40)
    @given(
        st.sampled_from(NAMES),
        st.sampled_from(SEVERITIES),
        st.integers(0, 2**32 - 1),
        st.integers(MIN_SIZE, 48),
        st.booleans(),
    )
    def test_deterministic_shape_dtype_and_global_rng(
        self, name: str, severity: int, seed: int, size: int, jpeg: bool
    ) -> None:
        """Same seed -> same bytes; shape and dtype kept; numpy's global RNG left as it was."""
        image = _image(size, seed % 7)
        np.random.seed(123)
        state = np.random.get_state()
        first = corrupt_image(image, name, severity, seed, jpeg=jpeg)
        assert np.random.get_state()[1].tolist() == state[1].tolist()
        second = corrupt_image(image.copy(), name, severity, seed, jpeg=jpeg)
        assert first.tobytes() == second.tobytes()
        assert first.shape == image.shape
        assert first.dtype == np.uint8

    @pytest.mark.parametrize("size", [MIN_SIZE, get_profile("synthetic").crop_size])
    @pytest.mark.parametrize("name", NAMES)
    def test_every_severity_works_at_small_sizes(self, name: str, size: int) -> None:
        """All 15 x 5 work at 32 px and at the synthetic crop; severity 5 changes the image."""
        image = _image(size)
        before = call_count()
        outs = [corrupt_image(image, name, s, 7) for s in SEVERITIES]
        assert call_count() - before == 5
        assert all(o.shape == (size, size, 3) and o.dtype == np.uint8 for o in outs)
        assert not np.array_equal(outs[-1], image)

    @pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise", "glass_blur", "frost"])
    def test_different_seeds_give_different_noise(self, name: str) -> None:
        """Two sample ids' seeds give different results on the same image."""
        image = np.full((32, 32, 3), 128, dtype=np.uint8)
        image[::4] = 30  # structure for glass_blur to shuffle
        a = corrupt_image(image, name, 3, image_seed(0, "class_a/1.jpg", name, 3))
        b = corrupt_image(image, name, 3, image_seed(0, "class_a/2.jpg", name, 3))
        assert not np.array_equal(a, b)

    def test_too_small_image_names_corruption_and_size(self) -> None:
        """A 31 px image fails with a message naming the corruption and the 32 px minimum."""
        with pytest.raises(InvalidOptionError, match=r"'frost' needs .* at least 32 x 32.*31 x 40"):
            corrupt_image(np.zeros((31, 40, 3), np.uint8), "frost", 1, 0)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"severity": 6}, "severity=6"),
            ({"severity": True}, "severity=True"),
            ({"seed": -1}, "seed=-1"),
            ({"seed": 2**32}, "seed=4294967296"),
            ({"image": np.zeros((32, 32), np.uint8)}, "shape \\(32, 32\\)"),
            ({"image": np.zeros((32, 32, 3), np.float32)}, "float32"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, object], message: str) -> None:
        """Bad severity, seed or image: InvalidOptionError naming the value."""
        args: dict[str, object] = {"image": _image(32), "severity": 1, "seed": 0, **kwargs}
        with pytest.raises(InvalidOptionError, match=message):
            corrupt_image(args["image"], "snow", args["severity"], args["seed"])  # type: ignore[arg-type]

    def test_jpeg_option_round_trips(self) -> None:
        """With jpeg=True the result is the JPEG-85 round trip of the plain result."""
        image = _image(32)
        plain = corrupt_image(image, "contrast", 2, 5)
        assert np.array_equal(
            corrupt_image(image, "contrast", 2, 5, jpeg=True), jpeg_round_trip(plain)
        )
        assert not np.array_equal(jpeg_round_trip(plain), plain)
