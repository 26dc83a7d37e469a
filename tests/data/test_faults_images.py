"""Fault injection (issue 15, cases 1-2): symbolic links in data folders, image modes, sizes."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from robustmq.data import DataFolderError, ImageDecodeError, ImageFolder, Pipeline, load_tensors
from robustmq.data.decoders import decode_ffmpeg, decode_opencv
from robustmq.data.errors import ImageModeError, ImageTooLargeError, SymlinkWarning
from robustmq.data.pipeline import DECODERS, decode_pil

DECODER_NAMES = ("pil", "opencv", "ffmpeg")


def _save(path: Path, image: Image.Image, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def _tree(root: Path, per_class: int = 3) -> Path:
    """``root/val/{a,b}/<i>.png`` and an image outside the split, ``root/extra/x.png``."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        for i in range(per_class):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            _save(root / "val" / name / f"{i}.png", Image.fromarray(pixels))
    _save(root / "extra" / "x.png", Image.new("RGB", (8, 8)))
    return root


def _folder(root: Path, **kwargs: bool) -> tuple[ImageFolder, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = ImageFolder(root, "val", **kwargs)
    return dataset, [str(w.message) for w in caught if issubclass(w.category, SymlinkWarning)]


# -- case 1: symbolic links -------------------------------------------------------------------


class TestSymlinks:
    REAL = ("a/0.png", "a/1.png", "a/2.png", "b/0.png", "b/1.png", "b/2.png")

    def test_loop_and_parent_links_are_not_followed(self, tmp_path: Path) -> None:
        """Issue 15, case 1 (symlinks followed: ``loop -> .`` and ``up -> ..`` in a class folder
        put 41 copies of the class and the other classes' images into the set): by default no link
        is followed, the set holds each real image once, and a SymlinkWarning names the links."""
        root = _tree(tmp_path / "data")
        os.symlink(".", root / "val" / "a" / "loop")
        os.symlink("..", root / "val" / "a" / "up")
        dataset, messages = _folder(root)
        assert dataset.sample_ids == self.REAL
        assert dataset.labels == (0, 0, 0, 1, 1, 1)
        assert dataset.skipped_links == ("a/loop: not followed", "a/up: not followed")
        assert len(messages) == 1
        assert "a/loop" in messages[0]
        assert "a/up" in messages[0]
        assert "follow_symlinks=True" in messages[0]

    def test_following_never_loops_nor_crosses_classes(self, tmp_path: Path) -> None:
        """Issue 15, case 1 with follow_symlinks=True: loops, links to the split folder or to
        another class's images are left out (real paths are tracked), with the warning."""
        root = _tree(tmp_path / "data")
        os.symlink(".", root / "val" / "a" / "loop")
        os.symlink("..", root / "val" / "a" / "up")
        os.symlink("../b", root / "val" / "a" / "b_folder")
        os.symlink("../b/0.png", root / "val" / "a" / "b0.png")
        dataset, messages = _folder(root, follow_symlinks=True)
        assert dataset.sample_ids == self.REAL
        assert [s.split(":")[0] for s in dataset.skipped_links] == [
            "a/b0.png",
            "a/b_folder",
            "a/loop",
            "a/up",
        ]
        assert len(messages) == 1
        assert "a/up" in messages[0]

    def test_the_environment_variable_follows_links(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Issue 15, case 1: ROBUSTMQ_FOLLOW_SYMLINKS=1 (how a benchmark run opts in) follows a
        link inside the root as follow_symlinks=True does; unset, it is left out."""
        root = _tree(tmp_path / "data")
        os.symlink("../../extra/x.png", root / "val" / "a" / "x.png")
        assert "a/x.png" not in _folder(root)[0].sample_ids
        monkeypatch.setenv("ROBUSTMQ_FOLLOW_SYMLINKS", "1")
        dataset, _ = _folder(root)
        assert dataset.follow_symlinks
        assert "a/x.png" in dataset.sample_ids

    def test_following_stays_inside_the_root(self, tmp_path: Path) -> None:
        """Issue 15, case 1: a followed link never leaves the data root; links inside it (to a
        folder or a file outside the split) are followed, each real file once."""
        root = _tree(tmp_path / "data")
        outside = _save(tmp_path / "elsewhere" / "o.png", Image.new("RGB", (8, 8))).parent
        os.symlink(outside, root / "val" / "a" / "out")
        os.symlink(outside / "o.png", root / "val" / "a" / "o.png")
        os.symlink("../../extra", root / "val" / "b" / "extra")
        os.symlink("../../extra/x.png", root / "val" / "a" / "x.png")
        dataset, _ = _folder(root, follow_symlinks=True)
        assert dataset.sample_ids == (*self.REAL[:3], "a/x.png", *self.REAL[3:])
        skipped = dict(s.split(": ", 1) for s in dataset.skipped_links)
        assert set(skipped) == {"a/o.png", "a/out", "b/extra/x.png"}
        assert "outside the data root" in skipped["a/o.png"]
        assert "outside the data root" in skipped["a/out"]
        assert "listed already" in skipped["b/extra/x.png"]  # listed first as a/x.png

    def test_symlinked_class_folder(self, tmp_path: Path) -> None:
        """Issue 15, case 1: a class folder that is a link is an error by default (leaving the
        class out would shift the class indices); followed when asked, inside the root only."""
        root = _tree(tmp_path / "data")
        os.symlink("../extra", root / "val" / "c")
        with pytest.raises(DataFolderError, match="follow_symlinks=True") as info:
            ImageFolder(root, "val")
        assert str(root / "val" / "c") in str(info.value)
        dataset, _ = _folder(root, follow_symlinks=True)
        assert dataset.classes == ("a", "b", "c")
        assert dataset.sample_ids[-1] == "c/x.png"
        (tmp_path / "elsewhere").mkdir()
        os.symlink(tmp_path / "elsewhere", root / "val" / "d")
        with pytest.raises(DataFolderError, match="outside the data root"):
            ImageFolder(root, "val", follow_symlinks=True)

    def test_follow_symlinks_is_kept_by_subsets(self, tmp_path: Path) -> None:
        """The option and the links left out carry over to subsets; non-bools are refused."""
        root = _tree(tmp_path / "data")
        os.symlink(".", root / "val" / "a" / "loop")
        dataset, _ = _folder(root, follow_symlinks=True)
        sub = dataset.subset(2, seed=0)
        assert (sub.follow_symlinks, sub.skipped_links) == (True, dataset.skipped_links)
        with pytest.raises(ValueError, match="follow_symlinks"):
            ImageFolder(root, "val", follow_symlinks="yes")  # type: ignore[arg-type]


# -- case 2: image modes and the pixel limit --------------------------------------------------


def _full_range_16bit(height: int = 64, width: int = 64) -> np.ndarray:
    return np.linspace(0, 65535, height * width).reshape(height, width).astype(np.uint16)


def _encode(image: Image.Image | np.ndarray, fmt: str = "PNG") -> bytes:
    """The file's bytes; a uint16 array is written by OpenCV (16-bit colour PNG/TIFF, BGR)."""
    if isinstance(image, np.ndarray):
        ok, buffer = cv2.imencode(f".{fmt.lower()}", image)
        assert ok
        return buffer.tobytes()
    stream = io.BytesIO()
    image.save(stream, fmt)
    return stream.getvalue()


def _gray16(fmt: str) -> tuple[bytes, np.ndarray]:
    values = _full_range_16bit(20, 30)
    return _encode(Image.fromarray(values), fmt), np.repeat((values >> 8)[..., None], 3, axis=2)


def _rgb48(fmt: str) -> tuple[bytes, np.ndarray]:
    v = _full_range_16bit(20, 30)
    rgb = np.dstack([v, v // 2, 65535 - v]).astype(np.uint16)
    return _encode(np.ascontiguousarray(rgb[..., ::-1]), fmt), (rgb >> 8).astype(np.uint8)


class TestModes:
    @pytest.mark.parametrize("name", DECODER_NAMES)
    def test_16bit_gray_is_scaled_not_clipped(self, name: str, tmp_path: Path) -> None:
        """Issue 15, case 2 (16-bit grayscale PNGs clipped: 99.6 % of a full-range image decoded
        to 255): every decoder keeps the high byte, v >> 8, so the full range stays full."""
        values = _full_range_16bit()
        path = _save(tmp_path / "g16.png", Image.fromarray(values))
        assert Image.open(path).mode == "I;16"
        decoded = Pipeline(decoder=name, resize_size=64, crop_size=64).decode(path)
        assert decoded.dtype == np.uint8
        assert decoded.shape == (64, 64, 3)
        assert np.array_equal(decoded, np.repeat((values >> 8)[..., None], 3, axis=2))
        assert (decoded == 255).mean() < 0.01
        assert len(np.unique(decoded)) == 256

    @pytest.mark.parametrize(
        ("label", "file"),
        [
            ("I;16 TIFF", _gray16("TIFF")),
            ("16-bit PGM (mode I)", _gray16("PPM")),
            ("48-bit RGB PNG", _rgb48("PNG")),
            ("48-bit RGB TIFF", _rgb48("TIFF")),
        ],
    )
    def test_16bit_files_agree_across_decoders(
        self, label: str, file: tuple[bytes, np.ndarray]
    ) -> None:
        """Issue 15, case 2: 16-bit gray and RGB files decode to the same 8-bit RGB (v >> 8) with
        Pillow, OpenCV (IMREAD_ANYDEPTH, then reduced) and FFmpeg (rgb48le, then reduced)."""
        data, expected = file
        for decoder in (decode_pil, decode_opencv, decode_ffmpeg):
            assert np.array_equal(decoder(data), expected), (label, decoder.__name__)

    def test_float_and_out_of_range_modes(self, tmp_path: Path) -> None:
        """Issue 15, case 2: float ("F") in [0, 1] is scaled by 255; values outside [0, 1], mode
        "I" outside 0..65535 and modes without a rule raise ImageModeError naming the file."""
        ramp = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
        path = _save(tmp_path / "f.tif", Image.fromarray(ramp, "F"))
        expected = np.rint(ramp.astype(np.float64) * 255).astype(np.uint8)
        assert np.array_equal(decode_pil(path)[..., 0], expected)
        bad = {
            "f255.tif": Image.fromarray(ramp * 255, "F"),
            "i32.tif": Image.fromarray(np.full((4, 4), 70000, dtype=np.int32), "I"),
            "lab.tif": Image.new("LAB", (4, 4)),
        }
        for name, image in bad.items():
            path = _save(tmp_path / name, image)
            with pytest.raises(ImageModeError, match="8-bit RGB") as info:
                decode_pil(path)
            assert info.value.path == str(path)

    @pytest.mark.parametrize("name", DECODER_NAMES)
    def test_alpha_palette_and_gray_are_explicit(self, name: str) -> None:
        """Issue 15, case 2: alpha is dropped (not composited) by every decoder, the same way:
        RGBA, LA, palette with a transparent index; gray and 1-bit are replicated."""
        rng = np.random.default_rng(3)
        rgba = rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)
        rgba[0, 0, 3] = 0
        base = Image.fromarray(rgba, "RGBA")
        palette = Image.new("P", (3, 3), 1)
        palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
        stream = io.BytesIO()
        palette.save(stream, "PNG", transparency=1)
        cases = {
            "RGBA": (_encode(base), rgba[..., :3]),
            "LA": (_encode(base.convert("LA")), np.asarray(base.convert("L"))[..., None]),
            "P+transparency": (stream.getvalue(), np.array([200, 100, 50], dtype=np.uint8)),
            "1": (
                _encode(base.convert("1")),
                np.asarray(base.convert("1").convert("L"))[..., None],
            ),
        }
        for mode, (data, expected) in cases.items():
            decoded = DECODERS.get(name)(data)
            assert decoded.shape[2] == 3
            assert decoded.dtype == np.uint8
            assert (decoded == expected).all(), mode


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
class TestPixelLimit:
    @pytest.mark.parametrize("name", DECODER_NAMES)
    @pytest.mark.parametrize("limit", [1000, 700], ids=["over-limit", "over-twice-limit"])
    def test_images_over_the_limit_are_refused_with_a_typed_error(
        self, name: str, limit: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Issue 15, case 2 (pixel limit): an image over PIL.Image.MAX_IMAGE_PIXELS is refused by
        every decoder before decoding, with ImageTooLargeError naming the file and the limit
        (Pillow alone only warns up to twice its limit and raises its own error beyond)."""
        path = _save(tmp_path / "big.png", Image.new("RGB", (40, 40)))  # 1600 pixels
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(ImageTooLargeError, match="MAX_IMAGE_PIXELS") as info:
            Pipeline(decoder=name, resize_size=40, crop_size=40).decode(path)
        assert info.value.path == str(path)
        assert f"{limit:,}" in str(info.value)
        assert isinstance(info.value, ImageDecodeError)
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1600)
        assert Pipeline(decoder=name, resize_size=40, crop_size=40).decode(path).shape[0] == 40

    def test_load_tensors_skips_them_like_other_bad_images(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An image over the limit is an ImageDecodeError: on_error="skip" leaves it out."""
        root = _tree(tmp_path / "data")
        _save(root / "val" / "b" / "huge.png", Image.new("RGB", (40, 40)))
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
        dataset = ImageFolder(root, "val", Pipeline(resize_size=8, crop_size=8))
        with pytest.warns(RuntimeWarning, match="huge.png"):
            tensors = load_tensors(dataset, on_error="skip", cache=False)
        assert tensors.skipped == ("b/huge.png",)


class TestEightBitUnchanged:
    @pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp"])
    def test_8bit_rgb_decodes_as_before(self, suffix: str, tmp_path: Path) -> None:
        """Normal 8-bit RGB files decode exactly as before the change: Pillow's convert("RGB")
        and OpenCV's IMREAD_COLOR (without IMREAD_ANYDEPTH)."""
        rng = np.random.default_rng(5)
        pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        path = _save(tmp_path / f"x{suffix}", Image.fromarray(pixels))
        with Image.open(path) as image:
            before_pil = np.array(image.convert("RGB"))
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
        before_cv = cv2.cvtColor(cv2.imread(str(path), flags), cv2.COLOR_BGR2RGB)
        assert np.array_equal(decode_pil(path), before_pil)
        assert np.array_equal(decode_opencv(path), before_cv)
