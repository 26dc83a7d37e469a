"""Generated corrupted sets: the cache key, one generation shared by models and processes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from robustmq.data import ImageFolder, Pipeline, ensure_synthetic
from robustmq.noise.natural import generate
from robustmq.noise.natural.corruptions import corrupt_image, image_seed
from robustmq.noise.natural.generate import (
    SetSource,
    build_sets,
    corrupt_array,
    corruption_calls,
    load_set,
    natural_dir,
)
from robustmq.noise.natural.sets import NATURAL_PER_CLASS, NaturalSets, natural_per_class

PAIRS = [("impulse_noise", 2), ("frost", 5), ("zoom_blur", 1)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageFolder, Pipeline]:
    """20 synthetic val images (40 px JPEGs) and the synthetic pipeline (resize 36, crop 32)."""
    root = ensure_synthetic(
        tmp_path_factory.mktemp("nat_gen") / "data", train_per_class=1, val_per_class=2, size=40
    )
    pipeline = Pipeline(resize_size=36, crop_size=32)
    return ImageFolder(root, "val", pipeline), pipeline


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "home"))


def _clean(dataset: ImageFolder, pipeline: Pipeline) -> np.ndarray:
    return np.stack([pipeline.load_uint8(p) for p, _ in dataset.samples])


class TestKey:
    def test_key_depends_on_exactly_its_inputs(self, tiny: tuple[ImageFolder, Pipeline]) -> None:
        """Corruption, severity, seed, JPEG option, pipeline, data and scale change the key."""
        dataset, pipeline = tiny
        base = SetSource.of(dataset, pipeline, seed=0)
        key = base.key("snow", 3)
        assert key == SetSource.of(dataset, pipeline, seed=0).key("snow", 3)
        others = [
            base.key("snow", 4),
            base.key("frost", 3),
            SetSource.of(dataset, pipeline, seed=1).key("snow", 3),
            SetSource.of(dataset, pipeline, seed=0, jpeg=True).key("snow", 3),
            SetSource.of(dataset, Pipeline(resize_size=40, crop_size=32), seed=0).key("snow", 3),
            SetSource.of(dataset.subset(1, 0), pipeline, seed=0).key("snow", 3),
            SetSource.of(dataset, pipeline, seed=0, scale="synthetic").key("snow", 3),
            SetSource.of(dataset, pipeline, seed=0, scale="cifar10").key("snow", 3),
        ]
        assert len({key, *others}) == len(others) + 1
        assert set(base.fields()) == {
            "format",
            "root",
            "split",
            "fingerprint",
            "pipeline",
            "seed",
            "jpeg",
            "package",
            "scale",
        }
        assert base.fields()["scale"]["name"] == "imagenet"  # the default: the crop as it is
        assert base.path("snow", 3).name == f"snow-s3-{key[:24]}.npy"
        assert base.path("snow", 3).parent == natural_dir()


class TestBuild:
    def test_images_are_seeded_per_sample(self, tiny: tuple[ImageFolder, Pipeline]) -> None:
        """Image i of a set is corrupt_image(clean i, seed from its own sample id)."""
        dataset, pipeline = tiny
        build_sets(dataset, pipeline, PAIRS[:1], seed=3, workers=0)
        images, meta = load_set(dataset, pipeline, "impulse_noise", 2, seed=3)
        clean = _clean(dataset, pipeline)
        for i in (0, 7, 19):
            seed = image_seed(3, dataset.sample_ids[i], "impulse_noise", 2)
            assert np.array_equal(images[i], corrupt_image(clean[i], "impulse_noise", 2, seed))
        assert meta["calls"] == 20
        assert meta["n_images"] == 20
        assert meta["shape"] == [20, 32, 32, 3]
        assert meta["key"] == SetSource.of(dataset, pipeline, seed=3).key("impulse_noise", 2)

    def test_generated_once_for_every_model(self, tiny: tuple[ImageFolder, Pipeline]) -> None:
        """Calls = images x sets on the first build; later builds and model reads add none."""
        dataset, pipeline = tiny
        before = corruption_calls()
        build_sets(dataset, pipeline, PAIRS, seed=0, workers=0)
        assert corruption_calls() - before == len(dataset) * len(PAIRS)
        for _model in range(3):  # each model's cells read the sets; a fresh provider per process
            sets = NaturalSets(dataset, pipeline, seed=0)
            sets.prepare(PAIRS)
            for pair in PAIRS:
                images = sets.images(*pair)
                assert images.shape == (20, 3, 32, 32)
                assert images.dtype.is_floating_point
                assert float(images.min()) >= 0.0
                assert float(images.max()) <= 1.0
        assert corruption_calls() - before == len(dataset) * len(PAIRS)

    def test_concurrent_builders_generate_once(self, tiny: tuple[ImageFolder, Pipeline]) -> None:
        """Two builders at once (as two xdist workers): the lock lets one generate, once."""
        dataset, pipeline = tiny
        before = corruption_calls()
        errors: list[BaseException] = []

        def build() -> None:
            try:
                build_sets(dataset, pipeline, PAIRS, seed=0, workers=0)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=build) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert corruption_calls() - before == len(dataset) * len(PAIRS)
        metas = [json.loads(p.read_text()) for p in natural_dir().glob("*.json")]
        assert sum(m["calls"] for m in metas) == len(dataset) * len(PAIRS)

    def test_pool_matches_this_process_bytes(
        self, tiny: tuple[ImageFolder, Pipeline], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A spawned pool makes byte-identical sets; its calls are counted here."""
        dataset, pipeline = tiny
        pairs = [("motion_blur", 4), ("impulse_noise", 1)]  # global RNG, seed= argument
        build_sets(dataset, pipeline, pairs, seed=0, workers=0)
        serial = [load_set(dataset, pipeline, *p, seed=0)[0] for p in pairs]
        monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "other"))
        monkeypatch.setattr(generate, "_POOL_MIN_CALLS", 0)
        monkeypatch.setattr(generate, "_CHUNK", 8)
        before = corruption_calls()
        build_sets(dataset, pipeline, pairs, seed=0, workers=1)  # one child: its import is slow
        assert corruption_calls() - before == len(dataset) * len(pairs)
        pooled = [load_set(dataset, pipeline, *p, seed=0)[0] for p in pairs]
        for a, b in zip(serial, pooled, strict=True):
            assert a.tobytes() == b.tobytes()

    def test_broken_cache_is_rebuilt(self, tiny: tuple[ImageFolder, Pipeline]) -> None:
        """A truncated .npy or a missing sidecar is regenerated, to the same bytes."""
        dataset, pipeline = tiny
        first, _ = load_set(dataset, pipeline, "snow", 2, seed=0)
        path = SetSource.of(dataset, pipeline, seed=0).path("snow", 2)
        path.write_bytes(path.read_bytes()[:100])
        again, _ = load_set(dataset, pipeline, "snow", 2, seed=0)
        assert again.tobytes() == first.tobytes()
        path.with_suffix(".json").unlink()
        before = corruption_calls()
        build_sets(dataset, pipeline, [("snow", 2)], seed=0, workers=0)
        assert corruption_calls() - before == len(dataset)

    def test_corrupt_array_is_batch_independent(self, tiny: tuple[ImageFolder, Pipeline]) -> None:
        """Corrupting a slice gives the same images as corrupting the whole set."""
        dataset, pipeline = tiny
        clean = _clean(dataset, pipeline)
        ids = dataset.sample_ids
        whole = corrupt_array(clean, ids, "shot_noise", 4, seed=1)
        part = corrupt_array(clean[5:9], ids[5:9], "shot_noise", 4, seed=1)
        assert np.array_equal(whole[5:9], part)
        assert not np.array_equal(whole[5], whole[6])

    def test_bad_pairs(self, tiny: tuple[ImageFolder, Pipeline]) -> None:
        """Unknown corruptions and bad severities fail before anything is generated."""
        dataset, pipeline = tiny
        with pytest.raises(KeyError, match="snowy"):
            build_sets(dataset, pipeline, [("snowy", 1)], seed=0)
        with pytest.raises(ValueError, match="severity=0"):
            build_sets(dataset, pipeline, [("snow", 0)], seed=0)
        assert not natural_dir().exists() or not any(natural_dir().glob("*.npy"))


class TestSampleCount:
    def test_natural_default_and_override(self) -> None:
        """Synthetic natural cells use 10 per class unless --rmq-n-samples says otherwise."""
        assert NATURAL_PER_CLASS["synthetic"] == 10
        assert natural_per_class("synthetic", 10, None) == 10
        assert natural_per_class("synthetic", 10, 500) == 50
        assert natural_per_class("imagenet", 1000, None) is None  # the profile's clean default
