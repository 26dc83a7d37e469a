"""The pre-processing pipeline: decoding, modes, resizing, cropping, tensors, errors, pickling."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, ImageFile
from torchvision import transforms

from robustmq.data import (
    DECODERS,
    RESIZERS,
    ImageDecodeError,
    Pipeline,
    UnknownDecoderError,
    UnknownResizerError,
    get_profile,
    to_tensor,
)
from robustmq.data.pipeline import center_crop, resized_shape
from robustmq.exceptions import InvalidOptionError

MakeImage = Callable[..., Path]  # the make_image fixture

PIL_RESIZERS = [
    "pil_bicubic",
    "pil_bilinear",
    "pil_box",
    "pil_hamming",
    "pil_lanczos",
    "pil_nearest",
]


def _random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


class TestPipelineSettings:
    def test_defaults_are_the_reference_pipeline(self) -> None:
        """The default is Pillow decode, Pillow bilinear, resize 256, crop 224, aspect kept."""
        p = Pipeline()
        assert (p.decoder, p.resize, p.resize_size, p.crop_size, p.square) == (
            "pil",
            "pil_bilinear",
            256,
            224,
            False,
        )

    def test_registered_names(self) -> None:
        """The pil decoder and the six Pillow resize methods are registered."""
        assert "pil" in DECODERS
        assert set(PIL_RESIZERS) <= set(RESIZERS.names())

    def test_unknown_decoder(self) -> None:
        """An unknown decoder name raises UnknownDecoderError listing the registered ones."""
        with pytest.raises(UnknownDecoderError, match="pil"):
            Pipeline(decoder="pillow")

    def test_unknown_resizer(self) -> None:
        """An unknown resize method raises UnknownResizerError suggesting close names."""
        with pytest.raises(UnknownResizerError, match="pil_bilinear"):
            Pipeline(resize="pil_bilinar")

    @pytest.mark.parametrize(
        ("kwargs", "option"),
        [
            ({"crop_size": 300}, "crop_size"),
            ({"resize_size": 0}, "resize_size"),
            ({"crop_size": 2.5}, "crop_size"),
            ({"resize_size": True}, "resize_size"),
            ({"square": "yes"}, "square"),
        ],
    )
    def test_invalid_sizes(self, kwargs: dict[str, object], option: str) -> None:
        """Non-positive, non-integer or crop > resize sizes raise InvalidOptionError naming them."""
        with pytest.raises(InvalidOptionError, match=option):
            Pipeline(**kwargs)  # type: ignore[arg-type]

    def test_from_profile(self) -> None:
        """from_profile takes the profile's resize and crop sizes, with overrides."""
        p = Pipeline.from_profile(get_profile("cifar10"), resize="pil_nearest")
        assert (p.resize_size, p.crop_size, p.resize) == (36, 32, "pil_nearest")

    def test_pickles_and_hashes(self, tmp_path: Path, make_image: MakeImage) -> None:
        """A pipeline survives pickling, equal and with the same hash, and still works."""
        p = Pipeline(resize="pil_lanczos", resize_size=40, crop_size=32, square=True)
        back = pickle.loads(pickle.dumps(p))
        assert back == p
        assert hash(back) == hash(p)
        path = make_image(tmp_path / "a.png", (50, 45))
        assert torch.equal(back(path), p(path))

    def test_settings_are_json_able(self) -> None:
        """settings() is the dict of the five fields."""
        assert Pipeline().settings() == {
            "decoder": "pil",
            "resize": "pil_bilinear",
            "resize_size": 256,
            "crop_size": 224,
            "square": False,
        }


class TestGeometry:
    @given(st.integers(1, 2000), st.integers(1, 2000), st.integers(1, 400))
    def test_shorter_side_becomes_size(self, height: int, width: int, size: int) -> None:
        """The shorter side becomes ``size``, the longer one size * long / short truncated."""
        h, w = resized_shape(height, width, size)
        assert min(h, w) == size
        long_side = max(height, width) * size / min(height, width)
        assert max(h, w) == int(long_side)

    def test_square(self) -> None:
        """square=True resizes to size x size whatever the aspect."""
        assert resized_shape(100, 300, 73, square=True) == (73, 73)

    @given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 60))
    def test_center_crop_offsets(self, height: int, width: int, size: int) -> None:
        """The crop is size x size at torchvision's offsets, or an error if the image is smaller."""
        image = np.arange(height * width * 3, dtype=np.int64).reshape(height, width, 3)
        if size > min(height, width):
            with pytest.raises(InvalidOptionError, match="crop_size"):
                center_crop(image, size)
            return
        top, left = round((height - size) / 2), round((width - size) / 2)
        assert np.array_equal(center_crop(image, size), image[top : top + size, left : left + size])

    @given(
        st.integers(8, 120),
        st.integers(8, 120),
        st.sampled_from(PIL_RESIZERS),
        st.booleans(),
        st.integers(0, 2**32 - 1),
    )
    def test_resize_crop_shape_and_range(
        self, height: int, width: int, resize: str, square: bool, seed: int
    ) -> None:
        """For any input at least the crop size, the output is crop x crop x 3 uint8 and its tensor
        is float32 3 x crop x crop in [0, 1]."""
        p = Pipeline(resize=resize, resize_size=10, crop_size=8, square=square)
        out = p.resize_crop(_random_image(height, width, seed))
        assert out.shape == (8, 8, 3)
        assert out.dtype == np.uint8
        assert out.flags.c_contiguous
        t = p.to_tensor(out)
        assert t.shape == (3, 8, 8)
        assert t.dtype == torch.float32
        assert float(t.min()) >= 0.0
        assert float(t.max()) <= 1.0

    @pytest.mark.parametrize("resize", PIL_RESIZERS)
    def test_every_resizer_runs(self, resize: str) -> None:
        """Every registered resizer returns the target (height, width) as uint8 and keeps a flat
        colour."""
        flat = np.full((31, 47, 3), (10, 200, 90), dtype=np.uint8)
        out = RESIZERS.get(resize)(flat, (20, 13))
        assert out.shape == (20, 13, 3)
        assert out.dtype == np.uint8
        assert np.abs(out.astype(int) - (10, 200, 90)).max() <= 1

    @pytest.mark.parametrize("resize", PIL_RESIZERS)
    def test_same_size_is_identity(self, resize: str) -> None:
        """When the image already has the resized shape the pixels are kept, whatever the method."""
        image = _random_image(36, 36)
        p = Pipeline(resize=resize, resize_size=36, crop_size=36)
        assert np.array_equal(p.resize_crop(image), image)

    @pytest.mark.parametrize(("width", "height"), [(500, 375), (333, 500), (256, 256), (61, 37)])
    def test_matches_torchvision(
        self, tmp_path: Path, make_image: MakeImage, width: int, height: int
    ) -> None:
        """The reference pipeline equals torchvision's Resize(256), CenterCrop(224), ToTensor()."""
        path = make_image(tmp_path / "a.jpg", (width, height))
        reference = transforms.Compose(
            [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]
        )
        with Image.open(path) as image:
            expected = reference(image.convert("RGB"))
        assert torch.equal(Pipeline()(path), expected)


class TestToTensor:
    def test_values(self) -> None:
        """to_tensor returns float32 CHW equal to x / 255."""
        image = _random_image(5, 7)
        t = to_tensor(image)
        assert t.shape == (3, 5, 7)
        assert t.dtype == torch.float32
        expected = torch.from_numpy(image).permute(2, 0, 1).float() / 255
        assert torch.equal(t, expected)

    @pytest.mark.parametrize(
        "bad",
        [np.zeros((4, 4, 3), dtype=np.float32), np.zeros((4, 4), dtype=np.uint8), [[1, 2]]],
    )
    def test_rejects_non_uint8_rgb(self, bad: object) -> None:
        """Anything but an H x W x 3 uint8 array raises InvalidOptionError saying so."""
        with pytest.raises(InvalidOptionError, match="H x W x 3 uint8"):
            to_tensor(bad)  # type: ignore[arg-type]

    @given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3))))
    def test_range(self, image: np.ndarray) -> None:
        """Every uint8 image maps into [0, 1], 0 to 0 and 255 to 1."""
        t = to_tensor(image)
        assert torch.equal(t * 255, torch.from_numpy(image).permute(2, 0, 1).float())


class TestImageModes:
    @pytest.mark.parametrize(
        ("mode", "suffix"),
        [
            ("L", ".png"),
            ("L", ".jpg"),
            ("1", ".png"),
            ("P", ".png"),
            ("P", ".gif"),
            ("CMYK", ".jpg"),
            ("CMYK", ".tif"),
            ("RGBA", ".png"),
            ("LA", ".png"),
            ("RGB", ".bmp"),
            ("RGB", ".webp"),
            ("RGB", ".ppm"),
        ],
    )
    def test_converted_to_rgb(
        self, tmp_path: Path, make_image: MakeImage, mode: str, suffix: str
    ) -> None:
        """Images of any common mode and format decode to H x W x 3 uint8 RGB, without warnings."""
        path = make_image(tmp_path / f"a{suffix}", (23, 17), mode=mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            image = Pipeline().decode(path)
        assert image.shape == (17, 23, 3)
        assert image.dtype == np.uint8

    def test_grayscale_replicated(self, tmp_path: Path) -> None:
        """A grayscale value v decodes to (v, v, v)."""
        path = tmp_path / "g.png"
        Image.fromarray(np.full((4, 4), 77, dtype=np.uint8), mode="L").save(path)
        assert (Pipeline().decode(path) == 77).all()

    def test_alpha_dropped_not_composited(self, tmp_path: Path) -> None:
        """RGBA: the alpha channel is dropped; a fully transparent pixel keeps its stored colour."""
        path = tmp_path / "a.png"
        rgba = np.zeros((2, 2, 4), dtype=np.uint8)
        rgba[..., :3] = (10, 20, 30)
        Image.fromarray(rgba, mode="RGBA").save(path)
        assert (Pipeline().decode(path) == (10, 20, 30)).all()

    def test_palette_transparency_dropped(self, tmp_path: Path) -> None:
        """A palette image with a transparent index decodes to its palette colours, no warning."""
        path = tmp_path / "p.png"
        image = Image.new("P", (3, 3), 1)
        image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
        image.info["transparency"] = 1
        image.save(path, transparency=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            decoded = Pipeline().decode(path)
        assert (decoded == (200, 100, 50)).all()

    def test_bytes_source(self, tmp_path: Path, make_image: MakeImage) -> None:
        """The pil decoder takes the file's bytes as well as its path."""
        path = make_image(tmp_path / "a.png", (9, 8))
        assert np.array_equal(DECODERS.get("pil")(path.read_bytes()), DECODERS.get("pil")(path))


class TestDecodeErrors:
    def test_truncated_jpeg(self, tmp_path: Path, make_image: MakeImage) -> None:
        """A truncated JPEG raises ImageDecodeError naming the file (also a ValueError)."""
        path = make_image(tmp_path / "cut.jpg", (64, 64))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageDecodeError, match=r"cut\.jpg") as info:
            Pipeline(resize_size=32, crop_size=32)(path)
        assert isinstance(info.value, ValueError)
        assert info.value.path == str(path)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is False

    def test_text_file_named_jpg(self, tmp_path: Path) -> None:
        """A text file named .jpg raises ImageDecodeError naming the file."""
        path = tmp_path / "notes.jpg"
        path.write_text("not an image\n")
        with pytest.raises(ImageDecodeError, match=r"notes\.jpg"):
            Pipeline().load_uint8(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file raises ImageDecodeError naming it."""
        with pytest.raises(ImageDecodeError, match=r"gone\.png"):
            Pipeline().decode(tmp_path / "gone.png")

    def test_bytes_named_by_length(self) -> None:
        """Undecodable bytes raise ImageDecodeError naming their length."""
        with pytest.raises(ImageDecodeError, match="<5 bytes>"):
            DECODERS.get("pil")(b"hello")
