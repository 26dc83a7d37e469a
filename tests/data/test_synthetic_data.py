"""The synthetic data set: rendering, byte-identical generation, idempotence, repair, locking."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustmq.data import (
    SYNTHETIC_CLASSES,
    ImageFolder,
    Pipeline,
    SyntheticFolderError,
    ensure_synthetic,
    synthetic,
)
from robustmq.exceptions import InvalidOptionError

SMALL = {"train_per_class": 2, "val_per_class": 1}


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under the splits, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for split in synthetic.SPLITS
        for p in sorted((root / split).rglob("*"))
        if p.is_file()
    }


def _mtimes(root: Path) -> dict[str, int]:
    files = [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"]
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in files}


class TestRender:
    def test_ten_classes(self) -> None:
        """There are 10 classes, sorted, so folder order equals class index."""
        assert len(SYNTHETIC_CLASSES) == 10
        assert list(SYNTHETIC_CLASSES) == sorted(SYNTHETIC_CLASSES)

    @settings(max_examples=20)
    @given(st.sampled_from(SYNTHETIC_CLASSES), st.integers(0, 2**32), st.integers(16, 96))
    def test_shape_and_determinism(self, name: str, seed: int, size: int) -> None:
        """render returns size x size x 3 uint8, the same for the same generator seed."""
        first = synthetic.render(name, np.random.default_rng(seed), size)
        assert first.shape == (size, size, 3)
        assert first.dtype == np.uint8
        assert np.array_equal(first, synthetic.render(name, np.random.default_rng(seed), size))

    def test_unknown_class(self) -> None:
        """An unknown class name raises InvalidOptionError listing the classes."""
        with pytest.raises(InvalidOptionError, match="circle"):
            synthetic.render("hexagon", np.random.default_rng(0))

    def test_images_vary(self) -> None:
        """Two images of one class differ (colours, positions, nuisances are random)."""
        a = synthetic.render("circle", np.random.default_rng(1))
        b = synthetic.render("circle", np.random.default_rng(2))
        assert not np.array_equal(a, b)


class TestEnsureSynthetic:
    def test_layout_and_decoding(self, tmp_path: Path) -> None:
        """The folder has train/val of 10 classes of n files, decoding to 80 x 80 RGB JPEGs."""
        root = ensure_synthetic(tmp_path / "syn", **SMALL)
        for split, n in (("train", 2), ("val", 1)):
            ds = ImageFolder(root, split)
            assert ds.classes == SYNTHETIC_CLASSES
            assert len(ds) == 10 * n
            assert ds.sample_ids[0] == "checkerboard/00000.jpg"
        image = Pipeline().decode(root / "val" / "ring" / "00000.jpg")
        assert image.shape == (80, 80, 3)
        assert (root / "val" / "ring" / "00000.jpg").read_bytes()[:2] == b"\xff\xd8"
        manifest = json.loads((root / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        assert manifest["params"] == {"seed": 0, "size": 80, **SMALL}
        assert manifest["files"] == 30

    def test_byte_identical(self, tmp_path: Path) -> None:
        """The same seed writes byte-identical files in two folders; another seed does not."""
        a = _hashes(ensure_synthetic(tmp_path / "a", seed=3, **SMALL))
        b = _hashes(ensure_synthetic(tmp_path / "b", seed=3, **SMALL))
        c = _hashes(ensure_synthetic(tmp_path / "c", seed=4, **SMALL))
        assert a == b
        assert len(a) == 30
        assert all(a[k] != c[k] for k in a)

    def test_splits_differ(self, tmp_path: Path) -> None:
        """train and val images are drawn from different seeds."""
        h = _hashes(ensure_synthetic(tmp_path / "syn", **SMALL))
        assert h["train/dots/00000.jpg"] != h["val/dots/00000.jpg"]

    def test_idempotent(self, tmp_path: Path) -> None:
        """A second call with the same parameters rewrites nothing."""
        root = ensure_synthetic(tmp_path / "syn", **SMALL)
        before = _mtimes(root)
        assert ensure_synthetic(root, **SMALL) == root
        assert _mtimes(root) == before

    def test_other_parameters_regenerate(self, tmp_path: Path) -> None:
        """Other parameters regenerate the folder (stale files removed)."""
        root = ensure_synthetic(tmp_path / "syn", **SMALL)
        ensure_synthetic(root, train_per_class=1, val_per_class=1, size=32)
        assert len(list((root / "train").rglob("*.jpg"))) == 10
        assert Pipeline(resize_size=32, crop_size=32).decode(
            root / "train/dots/00000.jpg"
        ).shape == (
            32,
            32,
            3,
        )

    @pytest.mark.parametrize("damage", ["modify", "delete", "add"])
    def test_damaged_folder_regenerated(self, tmp_path: Path, damage: str) -> None:
        """A changed, missing or extra file is detected by the sha256 and the folder regenerated."""
        root = ensure_synthetic(tmp_path / "syn", **SMALL)
        good = _hashes(root)
        target = root / "train" / "cross" / "00001.jpg"
        if damage == "modify":
            target.write_bytes(target.read_bytes()[:-10])
        elif damage == "delete":
            target.unlink()
        else:
            (root / "train" / "cross" / "extra.jpg").write_bytes(target.read_bytes())
        ensure_synthetic(root, **SMALL)
        assert _hashes(root) == good

    def test_interrupted_generation_regenerated(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A generation killed half-way leaves an 'incomplete' manifest; the next call redoes it."""
        root = tmp_path / "syn"
        reference = _hashes(ensure_synthetic(tmp_path / "ref", **SMALL))
        real = synthetic.write_split

        def crash_on_val(root_: Path, split: str, *args: int) -> int:
            if split == "val":
                raise KeyboardInterrupt
            return real(root_, split, *args)

        monkeypatch.setattr(synthetic, "write_split", crash_on_val)
        with pytest.raises(KeyboardInterrupt):
            ensure_synthetic(root, **SMALL)
        assert json.loads((root / "manifest.json").read_text())["status"] == "incomplete"
        monkeypatch.setattr(synthetic, "write_split", real)
        ensure_synthetic(root, **SMALL)
        assert _hashes(root) == reference

    def test_unreadable_manifest_regenerated(self, tmp_path: Path) -> None:
        """A manifest that is not JSON counts as a damaged folder of ours."""
        root = ensure_synthetic(tmp_path / "syn", **SMALL)
        good = _hashes(root)
        (root / "manifest.json").write_text("{trunc")
        ensure_synthetic(root, **SMALL)
        assert json.loads((root / "manifest.json").read_text())["status"] == "complete"
        assert _hashes(root) == good

    def test_foreign_folder_left_alone(self, tmp_path: Path) -> None:
        """A folder with train/ but no manifest raises SyntheticFolderError and is not touched."""
        keep = tmp_path / "mine" / "train" / "cat" / "1.jpg"
        keep.parent.mkdir(parents=True)
        keep.write_bytes(b"precious")
        with pytest.raises(SyntheticFolderError, match=r"no manifest\.json"):
            ensure_synthetic(tmp_path / "mine", **SMALL)
        assert keep.read_bytes() == b"precious"

    def test_foreign_manifest_left_alone(self, tmp_path: Path) -> None:
        """A manifest written by another tool raises SyntheticFolderError naming it."""
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "manifest.json").write_text(json.dumps({"generator": "someone"}))
        with pytest.raises(SyntheticFolderError, match="someone"):
            ensure_synthetic(tmp_path / "other", **SMALL)

    @pytest.mark.parametrize(
        ("kwargs", "option"),
        [
            ({"seed": -1}, "seed"),
            ({"train_per_class": 0}, "train_per_class"),
            ({"val_per_class": 1.5}, "val_per_class"),
            ({"size": 8}, "size"),
        ],
    )
    def test_invalid_parameters(
        self, tmp_path: Path, kwargs: dict[str, object], option: str
    ) -> None:
        """Invalid parameters raise InvalidOptionError naming them."""
        with pytest.raises(InvalidOptionError, match=option):
            ensure_synthetic(tmp_path, **kwargs)  # type: ignore[arg-type]

    @pytest.mark.slow
    def test_two_processes_at_once(self, tmp_path: Path) -> None:
        """Two processes calling at once generate once and leave one complete, correct folder."""
        reference = _hashes(ensure_synthetic(tmp_path / "ref", **SMALL))
        root, log = tmp_path / "shared", tmp_path / "writes.log"
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(2)
        procs = [
            ctx.Process(target=_ensure_slowly, args=(str(root), str(log), barrier))
            for _ in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0]
        assert log.read_text().split() == ["train", "val"]  # one process wrote, the other waited
        assert _hashes(root) == reference
        assert json.loads((root / "manifest.json").read_text())["status"] == "complete"


def _ensure_slowly(root: str, log: str, barrier: Barrier) -> None:
    """ensure_synthetic with a slow writer that logs each split it writes (run in a subprocess)."""
    real = synthetic.write_split

    def slow(root_: Path, split: str, *args: int) -> int:
        with open(log, "a") as f:
            f.write(f"{split}\n")
        time.sleep(0.3)
        return real(root_, split, *args)

    synthetic.write_split = slow  # type: ignore[assignment]
    barrier.wait(60)
    ensure_synthetic(root, **SMALL)
