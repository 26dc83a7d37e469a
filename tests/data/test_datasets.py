"""get_eval_data / get_train_data: resolving profiles to folders, subsets, errors, real CIFAR-10."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from robustmq.data import (
    ClassCountError,
    DataFolderError,
    Pipeline,
    ensure_synthetic,
    get_eval_data,
    get_profile,
    get_train_data,
    load_tensors,
)
from robustmq.data import datasets as datasets_module
from robustmq.exceptions import InvalidOptionError, UnknownNameError

MakeTree = Callable[..., Path]  # the make_tree fixture
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _real_cifar10() -> Path:
    """$ROBUSTMQ_CIFAR10, else ../shared/data/cifar10 beside the repository."""
    env = os.environ.get("ROBUSTMQ_CIFAR10")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared/data/cifar10"


@pytest.fixture
def small_synthetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the synthetic profile generate 3 train and 2 val images per class (fast)."""

    def small(root: Path, **params: int) -> Path:
        return ensure_synthetic(root, **{**params, "train_per_class": 3, "val_per_class": 2})

    monkeypatch.setattr(datasets_module, "ensure_synthetic", small)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No data-folder environment variables."""
    for name in datasets_module.ENV_ROOTS.values():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_cifar(make_tree: MakeTree) -> Path:
    """A CIFAR-10-shaped folder: 10 classes, 3 test and 4 train images each (20 x 20 px)."""
    root = make_tree({c: 3 for c in CIFAR10_CLASSES}, split="test")
    return make_tree({c: 4 for c in CIFAR10_CLASSES}, split="train", root=root)


class TestSynthetic:
    @pytest.mark.usefixtures("small_synthetic")
    def test_generated_into_cache(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without data_root the set goes to $ROBUSTMQ_HOME/data/synthetic-v1-<parameters>."""
        monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "home"))
        dataset, pipeline = get_eval_data("synthetic", n_per_class=2)
        profile = get_profile("synthetic")
        assert profile.synthetic is not None
        size = profile.synthetic.size
        folder = tmp_path / "home" / "data" / f"synthetic-v1-{size}px-500-100"
        assert dataset.root == folder.resolve()
        assert dataset.split == "val"
        assert pipeline == Pipeline(resize_size=profile.resize_size, crop_size=profile.crop_size)
        assert dataset.pipeline == pipeline
        tensors = load_tensors(dataset, pipeline)
        assert tensors.images.shape == (20, 3, profile.crop_size, profile.crop_size)

    @pytest.mark.usefixtures("small_synthetic")
    def test_data_root_and_train(self, tmp_path: Path) -> None:
        """data_root replaces the cache location; get_train_data reads the train split."""
        dataset, _ = get_train_data("synthetic", data_root=tmp_path / "syn", n_per_class=3)
        assert dataset.split == "train"
        assert dataset.root == (tmp_path / "syn").resolve()
        assert Counter(dataset.labels) == {c: 3 for c in range(10)}

    def test_profile_fits_generated_counts(self) -> None:
        """The profile's per-class counts fit in what its generation parameters produce."""
        profile = get_profile("synthetic")
        assert profile.synthetic is not None
        assert profile.eval_per_class is not None
        assert profile.eval_per_class <= profile.synthetic.val_per_class
        assert profile.recipe.train_per_class == profile.synthetic.train_per_class
        assert profile.synthetic.size > profile.resize_size > profile.crop_size


class TestFolders:
    @pytest.mark.usefixtures("no_env")
    @pytest.mark.parametrize(
        ("profile", "env"), [("cifar10", "ROBUSTMQ_CIFAR10"), ("imagenet", "ROBUSTMQ_IMAGENET")]
    )
    def test_unset_root(self, profile: str, env: str) -> None:
        """No data_root and no variable: DataFolderError naming the option, variable and layout."""
        with pytest.raises(DataFolderError, match=rf"--rmq-data-root.*\${env}.*<root>/"):
            get_eval_data(profile)

    def test_env_variable(self, fake_cifar: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """$ROBUSTMQ_CIFAR10 names the folder when data_root is not given."""
        monkeypatch.setenv("ROBUSTMQ_CIFAR10", str(fake_cifar))
        dataset, pipeline = get_eval_data("cifar10", n_per_class=2)
        assert dataset.root == fake_cifar.resolve()
        assert dataset.split == "test"
        assert len(dataset) == 20
        assert (pipeline.resize_size, pipeline.crop_size) == (36, 32)

    def test_missing_split(self, make_tree: MakeTree) -> None:
        """A root without the needed split: DataFolderError naming the split and the layout."""
        root = make_tree({c: 1 for c in CIFAR10_CLASSES}, split="train")
        with pytest.raises(DataFolderError, match=r"split 'test'.*<root>/test/<class>"):
            get_eval_data("cifar10", data_root=root)

    def test_class_count(self, make_tree: MakeTree) -> None:
        """A folder with another number of classes raises ClassCountError."""
        root = make_tree({"a": 1, "b": 1}, split="test")
        with pytest.raises(ClassCountError, match=r"2 class folders; expected 10"):
            get_eval_data("cifar10", data_root=root, n_per_class=1)

    def test_train_subset(self, fake_cifar: Path) -> None:
        """get_train_data subsets the train split per class, chosen by the seed."""
        a, _ = get_train_data("cifar10", data_root=fake_cifar, n_per_class=2, seed=1)
        b, _ = get_train_data("cifar10", data_root=fake_cifar, n_per_class=2, seed=1)
        assert a.split == "train"
        assert len(a) == 20
        assert a.sample_ids == b.sample_ids
        assert a.subset_id == "v1-k2-seed1"

    def test_custom_pipeline(self, fake_cifar: Path) -> None:
        """A given pipeline is returned and attached to the dataset."""
        custom = Pipeline(resize="pil_nearest", resize_size=36, crop_size=32)
        dataset, pipeline = get_eval_data("cifar10", fake_cifar, 1, pipeline=custom)
        assert pipeline is custom
        assert dataset.pipeline is custom

    @pytest.mark.parametrize("n", [0, -3, True, 1.5])
    def test_invalid_n_per_class(self, fake_cifar: Path, n: object) -> None:
        """n_per_class must be None or an int >= 1."""
        with pytest.raises(InvalidOptionError, match="n_per_class"):
            get_eval_data("cifar10", fake_cifar, n)  # type: ignore[arg-type]

    def test_unknown_profile(self) -> None:
        """An unknown profile raises UnknownNameError suggesting close names."""
        with pytest.raises(UnknownNameError, match="cifar10"):
            get_eval_data("cifar-10")

    def test_download_only_for_cifar10(self, tmp_path: Path) -> None:
        """download=True for another profile raises InvalidOptionError."""
        with pytest.raises(InvalidOptionError, match="download"):
            get_eval_data("imagenet", tmp_path, download=True)


class TestRealCifar10:
    @pytest.fixture
    def root(self) -> Path:
        root = _real_cifar10()
        if not (root / "test").is_dir():
            pytest.skip(
                f"real CIFAR-10 not found at {root} (set ROBUSTMQ_CIFAR10 to an ImageFolder root "
                "with train/ and test/)"
            )
        return root

    def test_subset_loads(self, root: Path) -> None:
        """The test split has the 10 CIFAR-10 classes; 5 per class load as [50,3,64,64]."""
        dataset, pipeline = get_eval_data("cifar10", data_root=root, n_per_class=5)
        assert dataset.classes == CIFAR10_CLASSES
        assert dataset.split == "test"
        tensors = load_tensors(dataset, pipeline)
        assert tensors.images.shape == (50, 3, 32, 32)
        assert Counter(tensors.labels.tolist()) == {c: 5 for c in range(10)}
        assert tensors.images.dtype == torch.float32
        assert float(tensors.images.min()) >= 0.0
        assert float(tensors.images.max()) <= 1.0
        assert all(re.fullmatch(r"[a-z]+/[^/]+\.(jpg|png)", s) for s in tensors.sample_ids)
