"""ImageFolder: layout errors, what is listed and in which order, seeded per-class subsets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from robustmq.data import (
    DataFolderError,
    EmptyClassError,
    ImageFolder,
    NoClassesError,
    Pipeline,
)
from robustmq.exceptions import InvalidOptionError

MakeTree = Callable[..., Path]  # the make_tree fixture
MakeImage = Callable[..., Path]  # the make_image fixture
SMALL = Pipeline(resize_size=16, crop_size=16)


def _fake_folder(classes: int, per_class: int) -> ImageFolder:
    """An ImageFolder holding made-up ids (nothing on disk; for subset properties)."""
    folder = object.__new__(ImageFolder)
    folder.root, folder.split, folder.pipeline, folder.subset_id = Path("/x"), "val", SMALL, None
    folder.classes = tuple(f"c{i:02d}" for i in range(classes))
    folder.class_to_idx = {c: i for i, c in enumerate(folder.classes)}
    ids = [f"c{c:02d}/img_{i:04d}.jpg" for c in range(classes) for i in range(per_class)]
    folder._set_samples(ids, [int(sid[1:3]) for sid in ids])
    return folder


class TestLayoutErrors:
    def test_missing_root(self, tmp_path: Path) -> None:
        """A missing root raises DataFolderError (a FileNotFoundError) naming it and the layout."""
        with pytest.raises(DataFolderError, match=r"nowhere.*<root>/<split>/<class>") as info:
            ImageFolder(tmp_path / "nowhere", "val")
        assert isinstance(info.value, FileNotFoundError)

    def test_root_is_a_file(self, tmp_path: Path) -> None:
        """A file in place of the root raises DataFolderError naming it."""
        (tmp_path / "root").write_text("x")
        with pytest.raises(DataFolderError, match="root"):
            ImageFolder(tmp_path / "root", "val")

    def test_missing_split(self, make_tree: MakeTree) -> None:
        """A missing split raises DataFolderError naming it and listing the splits found."""
        root = make_tree({"a": 1}, split="train")
        with pytest.raises(DataFolderError, match=r"val.*splits found: train"):
            ImageFolder(root, "val")

    def test_empty_class(self, make_tree: MakeTree) -> None:
        """A class folder without images raises EmptyClassError naming it."""
        root = make_tree({"a": 2, "c": 1})
        (root / "val" / "b").mkdir()
        with pytest.raises(EmptyClassError, match=r"val/b holds no image"):
            ImageFolder(root, "val")

    def test_class_with_only_stray_files_is_empty(self, make_tree: MakeTree) -> None:
        """A class folder holding only non-image or hidden files counts as empty."""
        root = make_tree({"a": 1})
        (root / "val" / "b").mkdir()
        (root / "val" / "b" / "readme.txt").write_text("x")
        (root / "val" / "b" / ".hidden.jpg").write_bytes(b"x")
        with pytest.raises(EmptyClassError, match="val/b"):
            ImageFolder(root, "val")

    def test_no_classes(self, tmp_path: Path) -> None:
        """A split without class folders raises NoClassesError naming it."""
        (tmp_path / "val").mkdir()
        (tmp_path / "val" / "stray.jpg").write_bytes(b"x")
        (tmp_path / "val" / ".hidden").mkdir()
        with pytest.raises(NoClassesError, match=r"val holds no class folder"):
            ImageFolder(tmp_path, "val")


class TestListing:
    def test_sorted_classes_and_samples(self, make_tree: MakeTree) -> None:
        """Classes are sorted names, labels their positions, samples sorted by path."""
        root = make_tree({"zebra": 2, "ant": 3, "moth": 1})
        ds = ImageFolder(root, "val", SMALL)
        assert ds.classes == ("ant", "moth", "zebra")
        assert ds.class_to_idx == {"ant": 0, "moth": 1, "zebra": 2}
        assert [label for _, label in ds.samples] == [0, 0, 0, 1, 2, 2]
        assert [p for p, _ in ds.samples] == sorted(p for p, _ in ds.samples)
        assert ds.sample_ids[0] == "ant/img_000.jpg"
        assert ds.samples[0][0] == str(root.resolve() / "val" / "ant" / "img_000.jpg")
        assert len(ds) == 6

    def test_stray_and_hidden_files_ignored(
        self, make_tree: MakeTree, make_image: MakeImage
    ) -> None:
        """Non-image extensions, hidden files and folders, files beside classes are ignored."""
        root = make_tree({"a": 1, "b": 1})
        split = root / "val"
        (split / "a" / "notes.txt").write_text("x")
        (split / "a" / "labels.csv").write_text("x")
        (split / "a" / ".DS_Store").write_bytes(b"x")
        (split / "a" / "._img_000.jpg").write_bytes(b"x")
        make_image(split / "a" / ".ipynb_checkpoints" / "x.jpg")
        make_image(split / ".cache" / "y.jpg")
        (split / "LOC_val_solution.csv").write_text("x")
        ds = ImageFolder(root, "val", SMALL)
        assert ds.classes == ("a", "b")
        assert ds.sample_ids == ("a/img_000.jpg", "b/img_000.jpg")

    def test_extensions_any_case_and_nested(self, tmp_path: Path, make_image: MakeImage) -> None:
        """Image extensions match in any case and images in sub-folders get a/sub/file ids."""
        for name in ["x.JPEG", "y.Png", "z.bmp", "w.webp", "v.ppm", "u.TIF", "t.tiff"]:
            make_image(tmp_path / "val" / "a" / name)
        make_image(tmp_path / "val" / "a" / "sub" / "deep.jpg")
        ds = ImageFolder(tmp_path, "val", SMALL)
        assert ds.sample_ids == (
            "a/sub/deep.jpg",
            "a/t.tiff",
            "a/u.TIF",
            "a/v.ppm",
            "a/w.webp",
            "a/x.JPEG",
            "a/y.Png",
            "a/z.bmp",
        )

    def test_getitem(self, make_tree: MakeTree) -> None:
        """dataset[i] is (pipeline(path), label)."""
        root = make_tree({"a": 1, "b": 2})
        ds = ImageFolder(root, "val", SMALL)
        image, label = ds[2]
        assert label == 1
        assert image.shape == (3, 16, 16)
        assert torch.equal(image, SMALL(ds.samples[2][0]))

    def test_default_pipeline_is_reference(self, make_tree: MakeTree) -> None:
        """Without a pipeline the dataset uses the reference Pipeline()."""
        assert ImageFolder(make_tree({"a": 1}), "val").pipeline == Pipeline()


class TestSubset:
    def test_k_per_class(self) -> None:
        """subset(k, seed) keeps exactly k samples of every class, sorted, labels kept."""
        ds = _fake_folder(5, 20)
        sub = ds.subset(3, seed=0)
        assert Counter(sub.labels) == {c: 3 for c in range(5)}
        assert list(sub.sample_ids) == sorted(sub.sample_ids)
        assert set(sub.sample_ids) <= set(ds.sample_ids)
        assert all(
            sid.startswith(sub.classes[label])
            for sid, label in zip(sub.sample_ids, sub.labels, strict=True)
        )
        assert sub.classes == ds.classes
        assert len(ds) == 100  # the original is unchanged

    @given(st.integers(0, 2**63 - 1), st.integers(1, 20))
    def test_same_seed_same_ids(self, seed: int, k: int) -> None:
        """The same seed and k always pick the same ids, and a larger k keeps the earlier picks."""
        ds = _fake_folder(3, 20)
        first = ds.subset(k, seed)
        assert first.sample_ids == ds.subset(k, seed).sample_ids
        if k < 20:
            assert set(first.sample_ids) <= set(ds.subset(k + 1, seed).sample_ids)

    @given(st.integers(0, 2**32))
    def test_different_seeds_differ(self, seed: int) -> None:
        """Two different seeds pick different subsets."""
        ds = _fake_folder(4, 50)
        assert ds.subset(5, seed).sample_ids != ds.subset(5, seed + 1).sample_ids

    def test_pinned_choice(self) -> None:
        """The choice depends only on (seed, ids): pinned values guard it across machines."""
        sub = _fake_folder(2, 10).subset(2, seed=0)
        assert sub.sample_ids == PINNED_SEED0

    def test_subset_id(self) -> None:
        """subset_id names the rule version, k and seed; the full split has none."""
        ds = _fake_folder(2, 10)
        assert ds.subset_id is None
        assert ds.subset(2, seed=7).subset_id == "v1-k2-seed7"
        assert ds.subset(4, 1).subset(2, 7).subset_id == "v1-k4-seed1/v1-k2-seed7"

    def test_fingerprint(self) -> None:
        """The fingerprint changes with the content and not with the object."""
        ds = _fake_folder(2, 10)
        assert ds.fingerprint == _fake_folder(2, 10).fingerprint
        assert ds.subset(2, 0).fingerprint != ds.fingerprint

    @pytest.mark.parametrize("k", [0, -1, True, 2.0])
    def test_invalid_k(self, k: object) -> None:
        """per_class must be an int >= 1."""
        with pytest.raises(InvalidOptionError, match="per_class"):
            _fake_folder(2, 10).subset(k, 0)  # type: ignore[arg-type]

    def test_class_too_small(self) -> None:
        """Asking for more than a class holds raises InvalidOptionError naming the class."""
        with pytest.raises(InvalidOptionError, match=r"class 'c00' has only 10 images"):
            _fake_folder(2, 10).subset(11, 0)

    def test_subset_on_disk_loads(self, make_tree: MakeTree) -> None:
        """A subset of a real folder keeps working paths and the pipeline."""
        sub = ImageFolder(make_tree({"a": 4, "b": 4}), "val", SMALL).subset(2, 3)
        assert len(sub) == 4
        assert sub.pipeline == SMALL
        assert sub[0][0].shape == (3, 16, 16)


#: subset(2, seed=0) of _fake_folder(2, 10): sha256 order of "0\x00<id>", version 1 of the rule.
PINNED_SEED0 = ("c00/img_0006.jpg", "c00/img_0009.jpg", "c01/img_0003.jpg", "c01/img_0009.jpg")
