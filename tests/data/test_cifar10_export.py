"""CIFAR-10 export to ImageFolder (no network: torchvision's download is never reached)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robustmq.data import ImageFolder, Pipeline
from robustmq.data.cifar10 import download_cifar10, export_split
from robustmq.exceptions import InvalidOptionError

CLASSES = ["airplane", "automobile", "bird"]


def _fake(n: int = 6) -> tuple[np.ndarray, list[int]]:
    images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return images, [i % 3 for i in range(n)]


class TestExportSplit:
    def test_lossless_image_folder(self, tmp_path: Path) -> None:
        """Exported PNGs form an ImageFolder whose pixels equal the arrays."""
        images, targets = _fake()
        export_split(images, targets, CLASSES, tmp_path / "test")
        ds = ImageFolder(tmp_path, "test", Pipeline(resize_size=32, crop_size=32))
        assert ds.classes == tuple(CLASSES)
        assert ds.sample_ids[0] == "airplane/00000.png"
        index = ds.sample_ids.index("bird/00005.png")
        assert ds.labels[index] == 2
        assert np.array_equal(ds.pipeline.load_uint8(ds.samples[index][0]), images[5])

    def test_replaces_partial(self, tmp_path: Path) -> None:
        """A leftover .partial folder is replaced and no .partial remains."""
        (tmp_path / "train.partial" / "junk").mkdir(parents=True)
        images, targets = _fake()
        export_split(images, targets, CLASSES, tmp_path / "train")
        assert not (tmp_path / "train.partial").exists()
        assert not (tmp_path / "train" / "junk").exists()

    def test_rejects_bad_arrays(self, tmp_path: Path) -> None:
        """Non-uint8 or mismatched inputs raise InvalidOptionError."""
        images, targets = _fake()
        with pytest.raises(InvalidOptionError, match="uint8"):
            export_split(images.astype(np.float32), targets, CLASSES, tmp_path / "x")
        with pytest.raises(InvalidOptionError, match="targets"):
            export_split(images, targets[:-1], CLASSES, tmp_path / "x")


class TestDownload:
    def test_existing_splits_not_downloaded(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With train/ and test/ present nothing is downloaded."""
        import torchvision.datasets

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("download attempted")

        monkeypatch.setattr(torchvision.datasets, "CIFAR10", refuse)
        (tmp_path / "train").mkdir()
        (tmp_path / "test").mkdir()
        assert download_cifar10(tmp_path) == tmp_path

    def test_missing_split_exported(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A missing split is fetched through torchvision's CIFAR10 and exported."""
        import torchvision.datasets

        calls: list[bool] = []

        class FakeCIFAR10:
            classes = CLASSES

            def __init__(self, root: str, train: bool, download: bool) -> None:
                assert download
                calls.append(train)
                self.data, self.targets = _fake()

        monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
        (tmp_path / "train").mkdir()
        download_cifar10(tmp_path)
        assert calls == [False]
        assert len(ImageFolder(tmp_path, "test")) == 6
