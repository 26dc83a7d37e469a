"""Corruption scales: CIFAR-10-C's table, each profile's scale, generation and fidelity."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustmq.data import ImageFolder, Pipeline
from robustmq.data.profiles import get_profile, list_profiles
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.noise.natural import cifar_c
from robustmq.noise.natural.corruptions import SEVERITIES, corrupt_image, corruption_names
from robustmq.noise.natural.family import CORRUPTION_SCALE, scale_of
from robustmq.noise.natural.fidelity import (
    TARGET,
    fidelity_images,
    fidelity_table,
    format_fidelity,
    rms,
)
from robustmq.noise.natural.generate import SetSource, build_sets, load_set
from robustmq.noise.natural.perf import main as perf_main
from robustmq.noise.natural.scales import REFERENCE_SIZE, dct_resize, get_scale, scale_names
from robustmq.noise.natural.sets import NaturalSets

NAMES = corruption_names()

# CIFAR-10-C's parameter table, copied from github.com/hendrycks/robustness,
# ImageNet-C/create_c/make_cifar_c.py at commit 8190fe329f5f072a06e3a2aea02bb5dda69aed9f
# (line numbers of that file; elastic_transform's values are the fractions of IMSIZE = 32 the
# file writes as IMSIZE*0.08 etc.)
CIFAR_10_C_REFERENCE = {
    # 131: c = [0.04, 0.06, .08, .09, .10][severity - 1]
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],
    # 138: c = [500, 250, 100, 75, 50][severity - 1]
    "shot_noise": [500, 250, 100, 75, 50],
    # 145: c = [.01, .02, .03, .05, .07][severity - 1]
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],
    # 184: c = [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)][severity - 1]
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    # 167: c = [(0.05,1,1), (0.25,1,1), (0.4,1,1), (0.25,1,2), (0.4,1,2)][severity - 1]
    "glass_blur": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    # 198: c = [(6,1), (6,1.5), (6,2), (8,2), (9,2.5)][severity - 1]
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    # 216-217: c = [np.arange(1, 1.06, 0.01), np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01),
    #               np.arange(1, 1.21, 0.01), np.arange(1, 1.26, 0.01)][severity - 1]
    "zoom_blur": [
        (1, 1.06, 0.01),
        (1, 1.11, 0.01),
        (1, 1.16, 0.01),
        (1, 1.21, 0.01),
        (1, 1.26, 0.01),
    ],
    # 251-255
    "snow": [
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ],
    # 238: c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    # 229: c = [(.2,3), (.5,3), (0.75,2.5), (1,2), (1.5,1.75)][severity - 1]
    "fog": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    # 342: c = [.05, .1, .15, .2, .3][severity - 1]
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],
    # 334: c = [.75, .5, .4, .3, 0.15][severity - 1]
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
    # 385-389: c = [(IMSIZE*0, IMSIZE*0, IMSIZE*0.08), (IMSIZE*0.05, IMSIZE*0.2, IMSIZE*0.07),
    #   (IMSIZE*0.08, IMSIZE*0.06, IMSIZE*0.06), (IMSIZE*0.1, IMSIZE*0.04, IMSIZE*0.05),
    #   (IMSIZE*0.1, IMSIZE*0.03, IMSIZE*0.03)][severity - 1]
    "elastic_transform": [
        (0, 0, 0.08),
        (0.05, 0.2, 0.07),
        (0.08, 0.06, 0.06),
        (0.1, 0.04, 0.05),
        (0.1, 0.03, 0.03),
    ],
    # 374: c = [0.95, 0.9, 0.85, 0.75, 0.65][severity - 1]
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    # 364: c = [80, 65, 58, 50, 40][severity - 1]
    "jpeg_compression": [80, 65, 58, 50, 40],
}


def _image(size: int, seed: int = 0) -> np.ndarray:
    """A smooth colour field with mild noise (structure for the blurs, room for the noises)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(30, 225, (4, 4, 3))
    index = np.linspace(0, 3, size).round().astype(int)
    noisy = coarse[index][:, index] + rng.normal(0, 8, (size, size, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _folder(root: Path, split: str, per_class: int, size: int) -> Path:
    """``root/split/class_k/i.png``: 10 classes of ``size`` px PNGs."""
    for label in range(10):
        folder = root / split / f"class_{label}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(_image(size, 100 * label + i)).save(folder / f"{i}.png")
    return root


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "home"))


class TestCifarTable:
    def test_table_is_the_reference(self) -> None:
        """Every corruption's five parameters equal make_cifar_c.py's (copied above)."""
        assert set(cifar_c.TABLE) == set(NAMES) == set(CIFAR_10_C_REFERENCE)
        for name, values in CIFAR_10_C_REFERENCE.items():
            assert list(cifar_c.TABLE[name]) == values, name
        assert set(cifar_c.SOURCE_LINES) == set(NAMES)
        assert cifar_c.SOURCE_COMMIT == "8190fe329f5f072a06e3a2aea02bb5dda69aed9f"
        assert cifar_c.NATIVE_SIZE == 32

    def test_zoom_factors_as_the_reference(self) -> None:
        """np.arange as the reference calls it: severities 1-2 reach their stop (1.06, 1.11: float
        rounding), 3-5 stop before it (1.15, 1.20, 1.25)."""
        factors = [np.arange(*c) for c in cifar_c.TABLE["zoom_blur"]]
        assert [len(f) for f in factors] == [7, 12, 16, 21, 26]
        assert [round(float(f[-1]), 2) for f in factors] == [1.06, 1.11, 1.15, 1.2, 1.25]


class TestCifarCorruptions:
    @pytest.mark.parametrize("name", NAMES)
    def test_every_severity_at_32_px(self, name: str) -> None:
        """uint8 32 x 32 x 3, same bytes for the same seed, global RNG untouched, s5 changes it."""
        image = _image(32)
        np.random.seed(5)
        state = np.random.get_state()[1].tolist()
        outs = [corrupt_image(image, name, s, 11, table="cifar10") for s in SEVERITIES]
        assert np.random.get_state()[1].tolist() == state
        assert all(o.shape == (32, 32, 3) and o.dtype == np.uint8 for o in outs)
        assert corrupt_image(image, name, 3, 11, table="cifar10").tobytes() == outs[2].tobytes()
        assert not np.array_equal(outs[-1], image)

    def test_gaussian_noise_is_milder_than_imagenet_c(self) -> None:
        """Severity 1: sigma 0.04 (10.2 levels) against ImageNet-C's 0.08 (20.4 levels)."""
        gray = np.full((32, 32, 3), 128, np.uint8)
        cifar = corrupt_image(gray, "gaussian_noise", 1, 3, table="cifar10")
        imagenet = corrupt_image(gray, "gaussian_noise", 1, 3)
        assert rms(cifar, gray) == pytest.approx(0.04 * 255, rel=0.1)
        assert rms(imagenet, gray) == pytest.approx(0.08 * 255, rel=0.1)

    @pytest.mark.parametrize("severity", SEVERITIES)
    def test_deterministic_ones_match_the_formulas(self, severity: int) -> None:
        """contrast, pixelate (BOX down and up) and JPEG as make_cifar_c.py computes them."""
        image = _image(32, severity)
        c = cifar_c.TABLE["contrast"][severity - 1]
        x = image / 255.0
        mean = x.mean(axis=(0, 1), keepdims=True)
        expected = np.uint8(np.clip((x - mean) * c + mean, 0, 1) * 255)
        assert np.array_equal(
            corrupt_image(image, "contrast", severity, 0, table="cifar10"), expected
        )
        p = cifar_c.TABLE["pixelate"][severity - 1]
        small = Image.fromarray(image).resize((int(32 * p), int(32 * p)), Image.Resampling.BOX)
        expected = np.asarray(small.resize((32, 32), Image.Resampling.BOX))
        assert np.array_equal(
            corrupt_image(image, "pixelate", severity, 0, table="cifar10"), expected
        )
        buffer = io.BytesIO()
        Image.fromarray(image).save(
            buffer, "JPEG", quality=cifar_c.TABLE["jpeg_compression"][severity - 1]
        )
        expected = np.asarray(Image.open(buffer).convert("RGB"))
        out = corrupt_image(image, "jpeg_compression", severity, 0, table="cifar10")
        assert np.array_equal(out, expected)

    def test_only_32_px_images(self) -> None:
        """The table is for 32 x 32 images: another size is refused, naming both sizes."""
        with pytest.raises(InvalidOptionError, match=r"set for 32 x 32 images.*'snow' got 40 x 40"):
            corrupt_image(_image(40), "snow", 1, 0, table="cifar10")

    def test_unknown_table(self) -> None:
        """A table that does not exist is an UnknownNameError listing the two."""
        with pytest.raises(UnknownNameError, match="cifar10, imagenet"):
            corrupt_image(_image(32), "snow", 1, 0, table="cifar100")


class TestProfilesDeclareTheirScale:
    def test_each_profile_has_its_own(self) -> None:
        """imagenet: ImageNet-C as it is; cifar10: CIFAR-10-C at 32 px; synthetic: at 224 px."""
        assert {p: get_profile(p).corruption_scale for p in list_profiles()} == {
            "cifar10": "cifar10",
            "imagenet": "imagenet",
            "synthetic": "synthetic",
        }
        assert scale_names() == ["cifar10", "imagenet", "synthetic"]

    def test_option_overrides_the_profile(self) -> None:
        """--rmq-corruption-scale: 'profile' (default) keeps the profile's; a name replaces it."""
        synthetic = get_profile("synthetic")
        assert CORRUPTION_SCALE.default == "profile"
        assert set(CORRUPTION_SCALE.choices or ()) == {"profile", *scale_names()}
        assert scale_of(synthetic, "profile") == "synthetic"
        assert scale_of(synthetic, None) == "synthetic"
        assert scale_of(synthetic, "imagenet") == "imagenet"

    def test_unknown_scale(self) -> None:
        """An unknown scale name is an UnknownNameError listing the three."""
        with pytest.raises(UnknownNameError, match="cifar10, imagenet, synthetic"):
            get_scale("tiny")


class TestScales:
    @pytest.mark.parametrize("jpeg", [False, True])
    @pytest.mark.parametrize("name", ["impulse_noise", "glass_blur", "frost", "pixelate"])
    def test_imagenet_scale_is_unchanged(self, name: str, jpeg: bool) -> None:
        """The imagenet scale is corrupt_image on the crop, byte for byte (its numbers stay)."""
        image = _image(64)
        out = get_scale("imagenet").apply(image, name, 4, 99, jpeg=jpeg)
        assert out.tobytes() == corrupt_image(image, name, 4, 99, jpeg=jpeg).tobytes()

    def test_dct_resize_round_trip_and_constants(self) -> None:
        """Up to 224 and back returns the image; a constant stays that constant."""
        image = _image(64).astype(np.float64)
        back = dct_resize(dct_resize(image, 224, 224), 64, 64)
        np.testing.assert_allclose(back, image, atol=1e-8)
        flat = np.full((64, 48, 3), 77.0)
        np.testing.assert_allclose(dct_resize(flat, 224, 168), 77.0, atol=1e-9)
        assert dct_resize(flat, 224, 168).shape == (224, 168, 3)

    def test_synthetic_scale_corrupts_at_224(self) -> None:
        """The crop DCT-resized to 224, corrupted with the same seed, DCT-resized back."""
        image = _image(64)
        out = get_scale("synthetic").apply(image, "motion_blur", 2, 5)
        up = np.clip(np.round(dct_resize(image, 224, 224)), 0, 255).astype(np.uint8)
        corrupted = corrupt_image(up, "motion_blur", 2, 5)
        expected = np.clip(np.round(dct_resize(corrupted, 64, 64)), 0, 255).astype(np.uint8)
        assert out.tobytes() == expected.tobytes()
        assert out.shape == (64, 64, 3)

    def test_synthetic_noise_is_the_224_px_noise_seen_at_64(self) -> None:
        """Gaussian noise s3 (sigma 0.18 at 224 px) seen at 64 px: RMS x 64/224 (13.1 levels)."""
        gray = np.full((64, 64, 3), 128, np.uint8)
        scaled = get_scale("synthetic").apply(gray, "gaussian_noise", 3, 1)
        assert rms(scaled, gray) == pytest.approx(0.18 * 255 * 64 / REFERENCE_SIZE, rel=0.1)
        assert rms(corrupt_image(gray, "gaussian_noise", 3, 1), gray) == pytest.approx(
            0.18 * 255, rel=0.1
        )

    def test_synthetic_scale_with_jpeg_round_trips_the_crop(self) -> None:
        """With jpeg=True the 64 px result is round-tripped through JPEG 85 (not the 224 px one)."""
        from robustmq.noise.natural.corruptions import jpeg_round_trip

        image = _image(64)
        scale = get_scale("synthetic")
        plain = scale.apply(image, "contrast", 2, 3)
        assert scale.apply(image, "contrast", 2, 3, jpeg=True).tobytes() == (
            jpeg_round_trip(plain).tobytes()
        )

    def test_cifar10_scale_corrupts_the_source_then_the_pipeline_crops(self) -> None:
        """Corrupt the 32 px source with CIFAR-10-C's table, then resize 36 and crop 32."""
        pipeline = Pipeline.from_profile(get_profile("cifar10"))
        source = _image(32)
        scale = get_scale("cifar10")
        out = scale.apply(source, "fog", 3, 8, pipeline=pipeline)
        expected = pipeline.resize_crop(corrupt_image(source, "fog", 3, 8, table="cifar10"))
        assert out.tobytes() == expected.tobytes()
        assert out.shape == (32, 32, 3)
        with pytest.raises(InvalidOptionError, match="expected a pipeline"):
            scale.apply(source, "fog", 3, 8)
        with pytest.raises(InvalidOptionError, match=r"32 x 32 source images.*img.png is 40 x 40"):
            scale.check_source(_image(40), "img.png")

    def test_fields_name_the_table(self) -> None:
        """Each scale's key fields differ; cifar10's carry the table's digest and source."""
        fields = {name: get_scale(name).fields() for name in scale_names()}
        assert len({str(f) for f in fields.values()}) == 3
        assert fields["cifar10"]["table_source"].endswith(cifar_c.SOURCE_COMMIT)
        assert len(fields["cifar10"]["table_sha256"]) == 64
        assert fields["synthetic"]["work_size"] == 224
        assert fields["synthetic"]["resample"] == "dct"
        assert fields["imagenet"]["work_size"] is None


class TestGeneration:
    def test_cifar10_sets_from_32_px_sources(self, tmp_path: Path) -> None:
        """Generated cifar10-scale sets: scale.apply on each source, keyed by the scale."""
        root = _folder(tmp_path / "data", "test", 2, 32)
        pipeline = Pipeline.from_profile(get_profile("cifar10"))
        dataset = ImageFolder(root, "test", pipeline)
        build_sets(dataset, pipeline, [("snow", 2)], seed=4, workers=0, scale="cifar10")
        images, meta = load_set(dataset, pipeline, "snow", 2, seed=4, scale="cifar10")
        assert images.shape == (20, 32, 32, 3)
        assert meta["scale"]["name"] == "cifar10"
        from robustmq.noise.natural.corruptions import image_seed

        scale = get_scale("cifar10")
        for i in (0, 13):
            path = dataset.samples[i][0]
            seed = image_seed(4, dataset.sample_ids[i], "snow", 2)
            expected = scale.apply(
                scale.input_of(pipeline, path), "snow", 2, seed, pipeline=pipeline
            )
            assert np.array_equal(images[i], expected)
        imagenet = SetSource.of(dataset, pipeline, seed=4).key("snow", 2)
        assert meta["key"] != imagenet

    def test_cifar10_scale_refuses_other_sizes(self, tmp_path: Path) -> None:
        """A 40 px source under the cifar10 scale fails, naming the file and its size."""
        root = _folder(tmp_path / "data", "test", 1, 40)
        pipeline = Pipeline.from_profile(get_profile("cifar10"))
        dataset = ImageFolder(root, "test", pipeline)
        with pytest.raises(InvalidOptionError, match=r"class_0.0\.png is 40 x 40"):
            build_sets(dataset, pipeline, [("snow", 2)], seed=0, workers=0, scale="cifar10")

    def test_natural_sets_name_their_scale(self, tmp_path: Path) -> None:
        """NaturalSets under the synthetic scale: provenance and property name it."""
        root = _folder(tmp_path / "data", "val", 1, 64)
        pipeline = Pipeline(resize_size=64, crop_size=64)
        dataset = ImageFolder(root, "val", pipeline)
        sets = NaturalSets(dataset, pipeline, seed=0, scale="synthetic", workers=0)
        assert sets.scale == "synthetic"
        provenance = sets.provenance("defocus_blur", 1)
        assert provenance["scale"]["name"] == "synthetic"
        assert sets.images("defocus_blur", 1).shape == (10, 3, 64, 64)
        other = NaturalSets(dataset, pipeline, seed=0, workers=0)
        assert other.scale == "imagenet"
        assert other.provenance("defocus_blur", 1)["key"] != provenance["key"]

    @pytest.mark.slow
    def test_pool_matches_this_process_for_the_source_stage(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A spawned pool makes the same bytes under the cifar10 scale (the pipeline travels)."""
        from robustmq.noise.natural import generate

        root = _folder(tmp_path / "data", "test", 2, 32)
        pipeline = Pipeline.from_profile(get_profile("cifar10"))
        dataset = ImageFolder(root, "test", pipeline)
        pairs = [("glass_blur", 2), ("impulse_noise", 4)]
        build_sets(dataset, pipeline, pairs, seed=0, workers=0, scale="cifar10")
        serial = [load_set(dataset, pipeline, *p, seed=0, scale="cifar10")[0] for p in pairs]
        monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "other"))
        monkeypatch.setattr(generate, "_POOL_MIN_CALLS", 0)
        monkeypatch.setattr(generate, "_CHUNK", 8)
        build_sets(dataset, pipeline, pairs, seed=0, workers=1, scale="cifar10")
        pooled = [load_set(dataset, pipeline, *p, seed=0, scale="cifar10")[0] for p in pairs]
        for a, b in zip(serial, pooled, strict=True):
            assert a.tobytes() == b.tobytes()


class TestFidelity:
    def test_synthetic_scale_matches_the_reference(self) -> None:
        """On rendered 224 px scenes the synthetic scale's RMS is within 0.8-1.25 x ImageNet-C's
        at 224 px resized to 64; ImageNet-C's table on the 64 px crop is ~3 x (noise) and ~7 x
        (pixelate severity 1) too strong."""
        profile = get_profile("synthetic")
        images = fidelity_images(profile, get_scale("synthetic"), per_class=1)
        assert images.reference.shape == (10, 224, 224, 3)
        assert images.crops.shape == (10, 64, 64, 3)
        rows = fidelity_table(
            profile, images, corruptions=["gaussian_noise", "pixelate"], severities=[1, 5]
        )
        assert [(r.corruption, r.severity) for r in rows] == [
            ("gaussian_noise", 1),
            ("gaussian_noise", 5),
            ("pixelate", 1),
            ("pixelate", 5),
        ]
        low, high = TARGET
        assert all(low <= r.ratio <= high for r in rows), rows
        assert rows[0].unscaled_ratio > 2.5
        assert rows[2].unscaled_ratio > 4
        text = format_fidelity(profile, images, rows)
        assert "| gaussian_noise | 1 |" in text
        assert "outside 0.8-1.25: none" in text

    def test_cifar10_reference_is_the_table_at_32_px(self, tmp_path: Path) -> None:
        """cifar10: the reference is CIFAR-10-C at 32 px; the crop is the 36 px resize's centre."""
        root = _folder(tmp_path / "data", "test", 1, 32)
        profile = get_profile("cifar10")
        images = fidelity_images(profile, get_scale("cifar10"), per_class=1, data_root=str(root))
        assert images.inputs.shape == images.reference.shape == (10, 32, 32, 3)
        assert images.crops.shape == (10, 32, 32, 3)
        (row,) = fidelity_table(profile, images, corruptions=["brightness"], severities=[2])
        outs = [
            corrupt_image(x, "brightness", 2, s, table="cifar10")
            for x, s in zip(images.reference, [0] * 10, strict=True)
        ]
        assert row.reference == pytest.approx(rms(np.stack(outs), images.reference), rel=1e-6)
        assert 0.8 <= row.ratio <= 1.25  # brightness is smooth: the upsampling keeps it

    def test_cli(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``perf fidelity`` prints the table; the bare command still measures throughput."""
        code = perf_main(
            ["fidelity", "--profile", "synthetic", "--per-class", "1", "--corruptions", "contrast"]
        )
        assert code == 0
        out = capsys.readouterr().out
        assert "profile synthetic, scale synthetic" in out
        assert out.count("| contrast |") == 5
        assert "outside 0.8-1.25: none" in out
