"""The OpenCV and FFmpeg decoders: output format, errors, and agreement with Pillow.

Measured agreement on baseline JPEGs (Pillow 13.0, OpenCV 5.0 with libjpeg-turbo 3.1, PyAV 18.1 /
libavcodec 62.28):

- Pillow and OpenCV agree bit for bit on baseline and progressive JPEGs (4:2:0, 4:2:2, 4:4:4,
  grayscale): both use libjpeg-turbo with the same IDCT and upsampling; also on PNG and BMP. CMYK
  JPEGs differ by 1 grey level (different CMYK -> RGB conversion).
- FFmpeg differs from both on subsampled colour JPEGs: it replicates chroma where libjpeg-turbo
  interpolates it. Max abs difference 95 on the 40 px synthetic images (mean ~5), 37 on CIFAR-10
  (mean ~1.6), 82 on a 300 x 260 4:2:0 photo-like image (mean ~1.3). Without subsampling (4:4:4,
  grayscale) only the IDCT and colour rounding differ: at most 3 (grayscale: 1). Lossless formats
  (PNG, BMP) agree bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sys_helpers import encode, smooth_image

from robustmq.data import ImageDecodeError, Pipeline
from robustmq.data.pipeline import DECODERS, decode_pil
from robustmq.noise.systematic.decoders import decode_ffmpeg, decode_opencv

DECODER_NAMES = ("pil", "opencv", "ffmpeg")


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _synthetic_files(root: Path) -> list[Path]:
    return sorted((root / "val").glob("*/*.jpg"))


class TestRegistration:
    def test_pipeline_finds_the_decoders_by_name(self) -> None:
        """Pipeline(decoder='opencv' / 'ffmpeg') validates: the names are registered on lookup."""
        for name in DECODER_NAMES:
            assert Pipeline(decoder=name).decoder == name
            assert name in DECODERS


class TestOutput:
    @pytest.mark.parametrize("decoder", [decode_opencv, decode_ffmpeg])
    def test_jpeg_gives_rgb_of_the_right_size(self, decoder) -> None:  # type: ignore[no-untyped-def]
        """A 300 x 260 red/blue JPEG decodes to 260 x 300 x 3 uint8 in RGB order (not BGR)."""
        image = np.zeros((260, 300, 3), dtype=np.uint8)
        image[:, :150] = (230, 20, 20)
        image[:, 150:] = (20, 20, 230)
        out = decoder(encode(image, quality=95))
        assert out.shape == (260, 300, 3)
        assert out.dtype == np.uint8
        assert out.flags.c_contiguous
        left, right = out[100, 40].astype(int), out[100, 260].astype(int)
        assert left[0] > 200 > left[2]
        assert right[2] > 200 > right[0]

    @pytest.mark.parametrize("name", ["opencv", "ffmpeg"])
    def test_path_and_bytes_agree(self, name: str, tmp_path: Path) -> None:
        """A path and the same file's bytes decode to the same pixels."""
        path = tmp_path / "x.jpg"
        path.write_bytes(encode(smooth_image(60, 70)))
        decoder = DECODERS.get(name)
        assert np.array_equal(decoder(path), decoder(path.read_bytes()))
        assert np.array_equal(decoder(str(path)), decoder(path.read_bytes()))

    @pytest.mark.parametrize("name", ["opencv", "ffmpeg"])
    @pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA"])
    def test_modes_match_pillow_on_png(self, name: str, mode: str) -> None:
        """Grayscale, alpha and palette PNGs give Pillow's RGB (alpha dropped, not mixed)."""
        rng = np.random.default_rng(1)
        rgba = np.dstack([smooth_image(30, 40), rng.integers(0, 256, (30, 40), dtype=np.uint8)])
        image = Image.fromarray(rgba, "RGBA")
        image = image.convert("P") if mode == "P" else image.convert(mode)
        data = encode(image, "PNG")
        assert np.array_equal(DECODERS.get(name)(data), decode_pil(data))


class TestErrors:
    @pytest.mark.parametrize("name", DECODER_NAMES)
    @pytest.mark.parametrize(
        "content",
        [b"", b"not an image at all", b"<!DOCTYPE html><html></html>", b"\xff\xd8\xff\xe0garbage"],
        ids=["empty", "text", "html", "jpeg-header-only"],
    )
    def test_unreadable_file_is_an_image_decode_error(
        self, name: str, content: bytes, tmp_path: Path
    ) -> None:
        """Every decoder raises ImageDecodeError naming the file for data it cannot decode."""
        path = tmp_path / "bad.jpg"
        path.write_bytes(content)
        with pytest.raises(ImageDecodeError, match=r"cannot decode image .*bad\.jpg") as info:
            Pipeline(decoder=name).decode(path)
        assert info.value.path == str(path)

    @pytest.mark.parametrize("name", DECODER_NAMES)
    def test_truncated_jpeg_is_an_error(self, name: str, tmp_path: Path) -> None:
        """A JPEG cut in half is an error for every decoder (libjpeg/FFmpeg would fill it grey)."""
        data = encode(smooth_image(64, 64), quality=90)
        path = tmp_path / "cut.jpg"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageDecodeError, match=r"cut\.jpg"):
            Pipeline(decoder=name).decode(path)

    @pytest.mark.parametrize("name", DECODER_NAMES)
    def test_missing_file_is_an_error(self, name: str, tmp_path: Path) -> None:
        """A missing file raises ImageDecodeError naming it (no FileNotFoundError leaks out)."""
        with pytest.raises(ImageDecodeError, match=r"nothere\.jpg"):
            Pipeline(decoder=name).decode(tmp_path / "nothere.jpg")

    def test_bytes_are_named_by_their_length(self) -> None:
        """Undecodable bytes are named ``<N bytes>`` in the message, as for Pillow."""
        with pytest.raises(ImageDecodeError, match="<5 bytes>"):
            decode_ffmpeg(b"hello")
        with pytest.raises(ImageDecodeError, match="<5 bytes>"):
            decode_opencv(b"hello")


JPEG_KINDS = {
    "420": {"quality": 90},
    "422": {"quality": 90, "subsampling": 1},
    "444": {"quality": 90, "subsampling": 0},
    "progressive": {"quality": 90, "progressive": True},
}


class TestAgreementWithPillow:
    """Which decoders agree bit for bit on baseline JPEGs (the module docstring has the numbers)."""

    def test_opencv_equals_pillow_on_synthetic_jpegs(self, tiny_synthetic: Path) -> None:
        """OpenCV decodes every synthetic JPEG exactly as Pillow does."""
        for path in _synthetic_files(tiny_synthetic):
            assert _max_diff(decode_opencv(path), decode_pil(path)) == 0, path

    def test_opencv_equals_pillow_on_cifar10(self, cifar_jpegs: list[Path]) -> None:
        """OpenCV decodes real CIFAR-10 JPEGs exactly as Pillow does."""
        for path in cifar_jpegs:
            assert _max_diff(decode_opencv(path), decode_pil(path)) == 0, path

    @pytest.mark.parametrize("kind", JPEG_KINDS)
    def test_opencv_equals_pillow_on_encodings(self, kind: str) -> None:
        """... and on 4:2:0, 4:2:2, 4:4:4 and progressive JPEGs and grayscale."""
        data = encode(smooth_image(), **JPEG_KINDS[kind])  # type: ignore[arg-type]
        assert _max_diff(decode_opencv(data), decode_pil(data)) == 0
        gray = encode(Image.fromarray(smooth_image()).convert("L"), quality=90)
        assert _max_diff(decode_opencv(gray), decode_pil(gray)) == 0

    def test_ffmpeg_differs_from_pillow_on_subsampled_jpegs(
        self, tiny_synthetic: Path, cifar_jpegs: list[Path]
    ) -> None:
        """FFmpeg's chroma replication differs from libjpeg-turbo's interpolation: not bit exact.

        The difference is a decoding difference, not a colour-range or channel-order error: the
        mean stays a few grey levels.
        """
        for files in (_synthetic_files(tiny_synthetic), cifar_jpegs):
            diffs = [np.abs(decode_ffmpeg(p).astype(float) - decode_pil(p)) for p in files]
            assert max(float(d.max()) for d in diffs) > 8
            assert float(np.mean([d.mean() for d in diffs])) < 8

    def test_ffmpeg_is_close_to_pillow_without_subsampling(self) -> None:
        """4:4:4 colour JPEGs: within 3 grey levels; grayscale within 1; not bit exact."""
        data = encode(smooth_image(), quality=90, subsampling=0)
        assert 0 < _max_diff(decode_ffmpeg(data), decode_pil(data)) <= 3
        gray = encode(Image.fromarray(smooth_image()).convert("L"), quality=90)
        assert 0 < _max_diff(decode_ffmpeg(gray), decode_pil(gray)) <= 1

    def test_lossless_formats_agree_everywhere(self) -> None:
        """PNG and BMP: all three decoders give the same pixels."""
        for fmt in ("PNG", "BMP"):
            data = encode(smooth_image(50, 60), fmt)
            reference = decode_pil(data)
            assert np.array_equal(decode_opencv(data), reference)
            assert np.array_equal(decode_ffmpeg(data), reference)
