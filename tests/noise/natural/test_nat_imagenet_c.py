"""The ImageNet-C reader on a small fabricated folder tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustmq.data import DataFolderError, ImageDecodeError, ImageFolder, Pipeline
from robustmq.exceptions import InvalidOptionError
from robustmq.noise.natural.generate import corruption_calls
from robustmq.noise.natural.imagenet_c import (
    check_imagenet_c_root,
    imagenet_c_path,
    read_imagenet_c,
)
from robustmq.noise.natural.sets import NaturalSets

IDS = ("n01440764/ILSVRC2012_val_00000293.JPEG", "n01443537/ILSVRC2012_val_00000236.JPEG")


def _write(path: Path, size: int, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path, "JPEG", quality=85)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``<root>/<corruption>/<severity>/<wnid>/<file>.JPEG`` for two corruptions x 2 severities."""
    root = tmp_path / "imagenet-c"
    for corruption in ("fog", "pixelate"):
        for severity in (1, 2):
            for i, sid in enumerate(IDS):
                _write(imagenet_c_path(root, corruption, severity, sid), 32, 40 * severity + i)
    return root


class TestReader:
    def test_reads_files_in_sample_order(self, tree: Path) -> None:
        """One uint8 crop per sample id, in the given order, from <corruption>/<severity>/."""
        images = read_imagenet_c(tree, "fog", 2, IDS[::-1], 32)
        assert images.shape == (2, 32, 32, 3)
        assert images.dtype == np.uint8
        assert abs(int(images[0].mean()) - 81) <= 1  # second id first
        assert abs(int(images[1].mean()) - 80) <= 1
        assert imagenet_c_path(tree, "fog", 2, IDS[0]) == tree / "fog" / "2" / IDS[0]

    def test_missing_root(self, tmp_path: Path) -> None:
        """A missing root names the option and the layout."""
        with pytest.raises(DataFolderError, match=r"--rmq-imagenet-c.*<root>/<corruption>"):
            read_imagenet_c(tmp_path / "nope", "fog", 1, IDS, 32)

    def test_missing_corruption_lists_what_exists(self, tree: Path) -> None:
        """A missing corruption folder names it and lists the ones found."""
        with pytest.raises(DataFolderError, match=r"lacks snow/3/.*found: fog, pixelate"):
            read_imagenet_c(tree, "snow", 3, IDS, 32)

    def test_missing_file_is_named(self, tree: Path) -> None:
        """A sample without its file fails naming the file."""
        with pytest.raises(
            DataFolderError,
            match=r"ILSVRC2012_val_99\.JPEG \(from --rmq-imagenet-c\) does not exist",
        ):
            read_imagenet_c(tree, "fog", 1, [*IDS, "n01440764/ILSVRC2012_val_99.JPEG"], 32)

    def test_wrong_size_is_named(self, tree: Path) -> None:
        """A file of another size than the crop fails with both sizes."""
        with pytest.raises(ImageDecodeError, match=r"is 32 x 32 pixels; expected 224 x 224"):
            read_imagenet_c(tree, "fog", 1, IDS, 224, workers=0)


class TestNaturalSetsFromImageNetC:
    def test_reads_instead_of_generating(self, tree: Path, tmp_path: Path) -> None:
        """With an ImageNet-C folder the sets are read (float, [0, 1]) and nothing is generated."""
        data = tmp_path / "data" / "val"
        for sid in IDS:
            _write(data / sid, 40, 200)
        dataset = ImageFolder(tmp_path / "data", "val", Pipeline(resize_size=36, crop_size=32))
        sets = NaturalSets(dataset, dataset.pipeline, seed=0, imagenet_c=tree)
        before = corruption_calls()
        sets.prepare([("pixelate", 1), ("pixelate", 2)])
        images = sets.images("pixelate", 2)
        assert corruption_calls() == before
        assert images.shape == (2, 3, 32, 32)
        assert float(images.max()) <= 1.0
        assert sets.source == "imagenet-c"
        assert sets.provenance("pixelate", 2) == {"source": "imagenet-c", "imagenet_c": str(tree)}
        assert sorted(dataset.sample_ids) == sorted(IDS)


class TestRootCheck:
    def test_a_folder_of_the_layout_passes(self, tree: Path) -> None:
        """A root with some corruptions' severity folders is accepted (a partial copy too)."""
        check_imagenet_c_root(tree)

    def test_a_missing_or_foreign_folder_is_refused(self, tmp_path: Path) -> None:
        """No folder, a file, or a folder without any corruption/<severity>/: InvalidOptionError
        naming the option, the value and the layout."""
        (tmp_path / "file").write_text("")
        (tmp_path / "other" / "fog").mkdir(parents=True)  # no severity folder under it
        for value, expected in (
            (tmp_path / "nope", "no such folder"),
            (tmp_path / "file", "no such folder"),
            (tmp_path / "other", "holds none of the 15 corruptions"),
        ):
            with pytest.raises(InvalidOptionError, match=expected) as info:
                check_imagenet_c_root(value)
            assert f"--rmq-imagenet-c={value}" in str(info.value)
            assert "<root>/<corruption>/<severity>" in str(info.value)
