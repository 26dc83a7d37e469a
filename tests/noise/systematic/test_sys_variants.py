"""The 14 variants, their pre-processed sets, the disk cache, and the reference's bit-exactness."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from robustmq.data import Pipeline, get_eval_data, load_tensors
from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.noise.systematic import sets
from robustmq.noise.systematic.sets import clear_memory_cache, sets_dir, variant_set
from robustmq.noise.systematic.variants import REFERENCE, get_variant, list_variants

EXPECTED = [
    "decoder_pil",
    "decoder_opencv",
    "decoder_ffmpeg",
    "resize_pil_nearest",
    "resize_pil_bilinear",
    "resize_pil_bicubic",
    "resize_pil_box",
    "resize_pil_hamming",
    "resize_pil_lanczos",
    "resize_opencv_nearest",
    "resize_opencv_bilinear",
    "resize_opencv_bicubic",
    "resize_opencv_area",
    "resize_opencv_lanczos4",
]


def _set(root: Path, name: str, n_per_class: int = 3) -> sets.VariantSet:
    """``name``'s set of the tiny synthetic folder (3 images per class)."""
    return variant_set(name, "synthetic", data_root=root, n_per_class=n_per_class)


class TestRegistry:
    def test_fourteen_variants_in_protocol_order(self) -> None:
        """3 decoders then 6 Pillow and 5 OpenCV resize methods; the reference is decoder_pil."""
        assert list_variants() == EXPECTED
        assert list_variants("decoder") == EXPECTED[:3]
        assert list_variants("resize") == EXPECTED[3:]
        assert REFERENCE == "decoder_pil"
        assert get_variant(REFERENCE).is_reference

    @pytest.mark.parametrize("name", EXPECTED)
    def test_each_changes_exactly_one_step(self, name: str) -> None:
        """A decoder variant keeps Pillow bilinear; a resize variant keeps the Pillow decoder."""
        variant = get_variant(name)
        reference = Pipeline.from_profile(get_profile("synthetic"))
        pipeline = variant.pipeline("synthetic")
        changed = {k for k, v in pipeline.settings().items() if reference.settings()[k] != v}
        assert changed <= ({"decoder"} if variant.step == "decoder" else {"resize"})
        assert len(changed) == (0 if name in ("decoder_pil", "resize_pil_bilinear") else 1)
        assert variant.params()["variant"] == name

    def test_unknown_variant_suggests_close_names(self) -> None:
        """A misspelt name raises UnknownNameError listing the variants and suggesting one."""
        with pytest.raises(UnknownNameError, match="Did you mean 'resize_opencv_area'"):
            get_variant("resize_opencv_aera")

    def test_geometry_is_checked(self) -> None:
        """square resizes every variant to a square; an unknown geometry names the option."""
        assert get_variant("decoder_ffmpeg").pipeline("synthetic", "square").square
        assert not get_variant("decoder_ffmpeg").pipeline("synthetic").square
        with pytest.raises(InvalidOptionError, match=r"rmq-resize-geometry.*'aspect' or 'square'"):
            get_variant("decoder_pil").pipeline("synthetic", "squash")
        with pytest.raises(InvalidOptionError, match="step='colour'"):
            list_variants("colour")


class TestSets:
    def test_reference_equals_the_clean_pipeline_bit_for_bit(self, tiny_synthetic: Path) -> None:
        """decoder_pil's set equals the clean set's load_tensors: pixels, labels, ids."""
        dataset, pipeline = get_eval_data("synthetic", data_root=tiny_synthetic, n_per_class=3)
        clean = load_tensors(dataset, pipeline)
        reference = _set(tiny_synthetic, REFERENCE).tensors
        assert torch.equal(reference.images, clean.images)
        assert reference.images.dtype == clean.images.dtype == torch.float32
        assert torch.equal(reference.labels, clean.labels)
        assert reference.sample_ids == clean.sample_ids

    def test_every_variant_has_the_reference_samples_in_order(self, tiny_synthetic: Path) -> None:
        """All 14 sets hold the reference's sample ids and labels, in the same order."""
        reference = _set(tiny_synthetic, REFERENCE).tensors
        digests = {}
        for name in EXPECTED:
            result = _set(tiny_synthetic, name)
            assert result.tensors.sample_ids == reference.sample_ids
            assert torch.equal(result.tensors.labels, reference.labels)
            crop = get_profile("synthetic").crop_size
            assert result.tensors.images.shape == (30, 3, crop, crop)
            digests[name] = result.images_sha256
        # identical pixels: the reference's own resize, and OpenCV's libjpeg-turbo decode
        same = {n for n, d in digests.items() if d == digests[REFERENCE]}
        assert same == {"decoder_pil", "decoder_opencv", "resize_pil_bilinear"}
        assert len(set(digests.values())) == 12

    def test_square_geometry_changes_non_square_images(self, tmp_path: Path) -> None:
        """square geometry resizes a 60 x 40 image to 36 x 36 (aspect: 54 x 36) before the crop."""
        from PIL import Image
        from sys_helpers import smooth_image

        for c in range(10):
            folder = tmp_path / "data" / "test" / f"c{c}"
            folder.mkdir(parents=True)
            Image.fromarray(smooth_image(60, 40, seed=c)).save(folder / "a.png")
        root = tmp_path / "data"
        aspect = variant_set("decoder_pil", "cifar10", data_root=root, n_per_class=1)
        square = variant_set(
            "decoder_pil", "cifar10", data_root=root, n_per_class=1, geometry="square"
        )
        assert aspect.tensors.sample_ids == square.tensors.sample_ids
        assert not torch.equal(aspect.tensors.images, square.tensors.images)
        assert square.pipeline["square"] is True

    def test_disk_cache_is_reused_without_decoding(
        self, tiny_synthetic: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A second process (empty memory cache) reads the set from disk: no image is decoded."""
        first = _set(tiny_synthetic, "decoder_ffmpeg")
        assert (sets_dir() / f"{first.key}.npz").is_file()
        clear_memory_cache()

        def refuse(self: Pipeline, path: object) -> np.ndarray:
            raise AssertionError(f"decoded {path} although the set is cached")

        monkeypatch.setattr(Pipeline, "load_uint8", refuse)
        second = _set(tiny_synthetic, "decoder_ffmpeg")
        assert second is not first
        assert torch.equal(second.tensors.images, first.tensors.images)
        assert second.images_sha256 == first.images_sha256
        assert _set(tiny_synthetic, "decoder_ffmpeg") is second  # then from memory

    def test_damaged_cache_file_is_rebuilt(self, tiny_synthetic: Path) -> None:
        """A truncated cache file is ignored and rebuilt with the same pixels."""
        first = _set(tiny_synthetic, "resize_opencv_area")
        path = sets_dir() / f"{first.key}.npz"
        path.write_bytes(path.read_bytes()[:100])
        clear_memory_cache()
        again = _set(tiny_synthetic, "resize_opencv_area")
        assert torch.equal(again.tensors.images, first.tensors.images)
        assert path.stat().st_size > 1000

    def test_key_depends_on_data_and_pipeline(self, tiny_synthetic: Path) -> None:
        """Another subset or another variant gives another key; the same arguments, the same."""
        a = _set(tiny_synthetic, "resize_pil_box")
        b = _set(tiny_synthetic, "resize_pil_box", n_per_class=2)
        c = _set(tiny_synthetic, "resize_pil_hamming")
        assert len({a.key, b.key, c.key}) == 3
        assert len(b.tensors) == 20
        clear_memory_cache()
        assert _set(tiny_synthetic, "resize_pil_box").key == a.key

    def test_concurrent_builders_build_once(
        self, tiny_synthetic: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two builders at once: the file lock lets one decode; the other waits, reads the file."""
        calls: list[int] = []
        decode = sets._decode

        def slow_decode(*args: object) -> np.ndarray:
            calls.append(1)
            time.sleep(0.3)  # the other builder arrives while this one holds the lock
            return decode(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(sets, "_decode", slow_decode)
        sets._dataset("synthetic", str(tiny_synthetic), 3, 0)  # list the folder first
        results: list[sets.VariantSet] = []

        def build() -> None:
            results.append(_set(tiny_synthetic, "resize_pil_lanczos"))

        threads = [threading.Thread(target=build) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 2
        assert len(calls) == 1
        assert results[0].images_sha256 == results[1].images_sha256
