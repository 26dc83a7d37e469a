"""load_tensors: decoded tensors, worker pools, the per-process cache, unreadable images."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from robustmq.data import EvalTensors, ImageDecodeError, ImageFolder, Pipeline, load_tensors
from robustmq.data.loading import cache_size, clear_cache
from robustmq.exceptions import InvalidOptionError

MakeTree = Callable[..., Path]  # the make_tree fixture
SMALL = Pipeline(resize_size=18, crop_size=16)


@pytest.fixture
def dataset(make_tree: MakeTree) -> ImageFolder:
    """Three classes of 2, 3 and 1 images, 20 x 20 px."""
    return ImageFolder(make_tree({"a": 2, "b": 3, "c": 1}), "val", SMALL)


def _break(dataset: ImageFolder, index: int) -> str:
    """Overwrite sample ``index`` with text; returns its path."""
    path = dataset.samples[index][0]
    Path(path).write_text("not an image")
    return path


class TestLoadTensors:
    def test_shapes_and_values(self, dataset: ImageFolder) -> None:
        """images: float32 [N,3,crop,crop] equal to pipeline(path); labels int64; ids in order."""
        out = load_tensors(dataset)
        assert out.images.shape == (6, 3, 16, 16)
        assert out.images.dtype == torch.float32
        assert out.images.is_contiguous()
        assert out.labels.dtype == torch.int64
        assert out.labels.tolist() == [0, 0, 1, 1, 1, 2]
        assert out.sample_ids == dataset.sample_ids
        assert out.skipped == ()
        assert len(out) == 6
        for i, (path, _) in enumerate(dataset.samples):
            assert torch.equal(out.images[i], SMALL(path))

    def test_explicit_pipeline(self, dataset: ImageFolder) -> None:
        """A pipeline argument overrides the dataset's own."""
        out = load_tensors(dataset, Pipeline(resize_size=12, crop_size=10))
        assert out.images.shape == (6, 3, 10, 10)

    @pytest.mark.parametrize("executor", ["thread", "process"])
    def test_workers_give_the_same_result(self, dataset: ImageFolder, executor: str) -> None:
        """A pool of workers returns exactly the serial result, in the same order."""
        serial = load_tensors(dataset, cache=False)
        pooled = load_tensors(dataset, workers=2, executor=executor, cache=False)  # type: ignore[arg-type]
        assert torch.equal(serial.images, pooled.images)
        assert torch.equal(serial.labels, pooled.labels)
        assert serial.sample_ids == pooled.sample_ids

    def test_progress(self, dataset: ImageFolder) -> None:
        """progress is called with the running count after each image."""
        seen: list[int] = []
        load_tensors(dataset, progress=seen.append)
        assert seen == [1, 2, 3, 4, 5, 6]

    @pytest.mark.parametrize(
        ("kwargs", "option"),
        [
            ({"workers": -1}, "workers"),
            ({"workers": 1.5}, "workers"),
            ({"on_error": "ignore"}, "on_error"),
            ({"executor": "gpu"}, "executor"),
        ],
    )
    def test_invalid_options(
        self, dataset: ImageFolder, kwargs: dict[str, object], option: str
    ) -> None:
        """Invalid workers, on_error or executor raise InvalidOptionError naming the option."""
        with pytest.raises(InvalidOptionError, match=option):
            load_tensors(dataset, **kwargs)  # type: ignore[arg-type]


class TestCache:
    def test_second_call_returns_the_same_object(self, dataset: ImageFolder) -> None:
        """A repeated call in one process returns the cached EvalTensors object itself."""
        first = load_tensors(dataset)
        assert load_tensors(dataset, SMALL) is first
        assert load_tensors(ImageFolder(dataset.root, "val", SMALL)) is first
        assert cache_size() == 1

    def test_key_includes_pipeline_and_subset(self, dataset: ImageFolder) -> None:
        """Another pipeline or another subset is decoded anew."""
        first = load_tensors(dataset)
        assert load_tensors(dataset, Pipeline(resize_size=20, crop_size=16)) is not first
        assert load_tensors(dataset.subset(1, seed=0)) is not first

    def test_clear_and_opt_out(self, dataset: ImageFolder) -> None:
        """clear_cache empties the cache; cache=False neither reads nor fills it."""
        first = load_tensors(dataset)
        assert load_tensors(dataset, cache=False) is not first
        clear_cache()
        assert cache_size() == 0
        assert load_tensors(dataset) is not first


class TestOnError:
    def test_raise_by_default(self, dataset: ImageFolder) -> None:
        """An unreadable image stops loading: ImageDecodeError naming the file; nothing cached."""
        bad = _break(dataset, 3)
        with pytest.raises(ImageDecodeError, match=re.escape(bad)):
            load_tensors(dataset)
        assert cache_size() == 0

    def test_raise_from_pool(self, dataset: ImageFolder) -> None:
        """The error also comes through a worker pool."""
        bad = _break(dataset, 0)
        with pytest.raises(ImageDecodeError, match=re.escape(bad)):
            load_tensors(dataset, workers=2)

    def test_skip_warns_and_records(self, dataset: ImageFolder) -> None:
        """on_error='skip' leaves bad images out, warns naming each, and lists their ids."""
        bad = [_break(dataset, 1), _break(dataset, 4)]
        with pytest.warns(RuntimeWarning, match="skipping unreadable image") as record:
            out = load_tensors(dataset, on_error="skip")
        messages = " ".join(str(w.message) for w in record)
        assert all(path in messages for path in bad)
        assert out.skipped == (dataset.sample_ids[1], dataset.sample_ids[4])
        assert out.sample_ids == tuple(
            s for i, s in enumerate(dataset.sample_ids) if i not in (1, 4)
        )
        assert out.images.shape == (4, 3, 16, 16)
        assert out.labels.tolist() == [0, 1, 1, 2]

    def test_skip_without_bad_images_is_silent(self, dataset: ImageFolder) -> None:
        """on_error='skip' on a clean dataset warns nothing and skips nothing."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = load_tensors(dataset, on_error="skip")
        assert isinstance(out, EvalTensors)
        assert out.skipped == ()
