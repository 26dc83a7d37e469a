"""robustmq.ptq: PTQ checkpoints built once from a float one, content-keyed, calibrated, cached.

Tiny float models (``create_model(arch, 10, 0.125)``, untrained) and the synthetic profile on a
small generated folder (4 training and 50 validation images per class, 16 px) under a temporary
ROBUSTMQ_HOME; calibration sets of a dozen images.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from robustmq import ptq
from robustmq._version import __version__
from robustmq.cells import ModelSpec
from robustmq.checkpoints import open_checkpoint, read_checkpoint_metadata, save_checkpoint
from robustmq.data import clear_cache, ensure_synthetic, get_profile
from robustmq.data.cache import ENV_HOME
from robustmq.data.profiles import PROFILES
from robustmq.exceptions import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    InvalidOptionError,
)
from robustmq.hashing import sha256_file
from robustmq.models import create_model
from robustmq.ptq import calibration_set, ensure_ptq_checkpoint, reestimate_batchnorm
from robustmq.quant import get_quantizer, quantize_model

PROFILE = "synthetic"
SPEC = ModelSpec("resnet18", "lsq", 4)
IMAGES = 12


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary ROBUSTMQ_HOME (the user cache is never touched)."""
    home = tmp_path_factory.mktemp("ptq-home")
    clear_cache()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_HOME, str(home))
        yield home
    clear_cache()


@pytest.fixture(scope="module")
def data(home: Path) -> str:
    """A small synthetic folder: 4 train and 50 validation images per class (the profile's 500)."""
    return str(ensure_synthetic(home / "data", train_per_class=4, val_per_class=50, size=16))


def _float_checkpoint(path: Path, arch: str = "resnet18", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_checkpoint(create_model(arch, 10, 0.125), path, profile=PROFILE)


@pytest.fixture(scope="module")
def float_ckpt(home: Path) -> Path:
    """An untrained float resnet18 at width 0.125."""
    return _float_checkpoint(home / "float" / "resnet18-fp32.safetensors")


def _build(float_ckpt: Path, data: str, root: Path, **kwargs: Any) -> Path:
    kwargs = {"images": IMAGES, "spec": SPEC, **kwargs}
    spec = kwargs.pop("spec")
    return ensure_ptq_checkpoint(
        float_ckpt, spec, PROFILE, data_root=data, root=root, device="cpu", **kwargs
    )


@pytest.fixture(scope="module")
def built(float_ckpt: Path, data: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The PTQ checkpoint of SPEC with the defaults of the tests."""
    return _build(float_ckpt, data, tmp_path_factory.mktemp("ptq"))


class TestCache:
    def test_second_call_reuses_the_file(
        self, float_ckpt: Path, data: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The same arguments give the same file, built once (not saved again, not touched)."""
        saves: list[Path] = []

        def counting_save(model: nn.Module, path: Path, **meta: Any) -> Path:
            saves.append(path)
            return save_checkpoint(model, path, **meta)

        monkeypatch.setattr(ptq, "save_checkpoint", counting_save)
        first = _build(float_ckpt, data, tmp_path)
        stamp = first.stat().st_mtime_ns
        second = _build(float_ckpt, data, tmp_path)
        assert (second, len(saves), second.stat().st_mtime_ns) == (first, 1, stamp)
        assert first.parent == tmp_path
        assert first.name.startswith(f"{SPEC.id}-")

    def test_a_damaged_cached_file_is_rebuilt(
        self, float_ckpt: Path, data: str, tmp_path: Path
    ) -> None:
        path = _build(float_ckpt, data, tmp_path)
        good = read_checkpoint_metadata(path)["weights_sha256"]
        path.write_bytes(path.read_bytes()[:-64])
        assert _build(float_ckpt, data, tmp_path) == path
        assert read_checkpoint_metadata(path, verify=True)["weights_sha256"] == good

    def test_the_key_covers_seed_images_bits_float_and_steps(
        self, float_ckpt: Path, data: str, tmp_path: Path
    ) -> None:
        """Each change of what determines the weights names another file."""
        other_float = _float_checkpoint(tmp_path / "other.safetensors", seed=1)
        paths = [
            _build(float_ckpt, data, tmp_path),
            _build(float_ckpt, data, tmp_path, seed=1),
            _build(float_ckpt, data, tmp_path, images=IMAGES + 1),
            _build(float_ckpt, data, tmp_path, spec=ModelSpec("resnet18", "lsq", 2)),
            _build(float_ckpt, data, tmp_path, spec=ModelSpec("resnet18", "pact", 4)),
            _build(other_float, data, tmp_path),
            _build(float_ckpt, data, tmp_path, reestimate_bn=False),
        ]
        assert len(set(paths)) == len(paths)
        keys = {read_checkpoint_metadata(p)["meta"]["ptq_key"] for p in paths}
        assert len(keys) == len(paths)

    def test_default_root_is_the_ptq_cache(self, home: Path) -> None:
        assert ptq.ptq_dir(PROFILE) == home / "ptq" / PROFILE
        assert ptq.ptq_dir(PROFILE, "elsewhere") == Path("elsewhere")


class TestMeta:
    def test_the_checkpoint_says_ptq_and_how(self, built: Path, float_ckpt: Path) -> None:
        """method ptq, the float file's sha256, quantizer, bits, calibration, epochs, versions."""
        meta = read_checkpoint_metadata(built, verify=True)["meta"]
        calibration = meta["calibration"]
        assert meta["method"] == "ptq"
        assert meta["float_sha256"] == sha256_file(float_ckpt)
        assert (meta["quantizer"], meta["bits"], meta["policy"]) == ("lsq", 4, "academic")
        assert meta["arithmetic_version"] == get_quantizer("lsq").arithmetic_version
        assert (calibration["images"], calibration["seed"]) == (IMAGES, 0)
        assert len(calibration["sample_ids"]) == IMAGES
        assert len(calibration["sample_ids_sha256"]) == len(calibration["files_sha256"]) == 64
        assert calibration["pipeline"]["crop_size"] == 64
        assert (meta["epochs"], meta["finetune"], meta["bn_reestimated"]) == (0, None, True)
        assert (meta["ptq_version"], meta["robustmq"]) == (ptq.PTQ_VERSION, __version__)
        assert meta["val_samples"] == 500
        assert 0.0 <= meta["val_accuracy"] <= 1.0
        assert meta["converged"] == (meta["val_accuracy"] >= 0.2)

    def test_it_opens_as_the_quantized_spec(self, built: Path) -> None:
        checkpoint = open_checkpoint(built, arch="resnet18", quantizer="lsq", bits=4)
        assert checkpoint.config["policy"] == "academic"
        logits = checkpoint.model(torch.rand(2, 3, 64, 64))
        assert logits.shape == (2, 10)
        assert torch.isfinite(logits).all()


class TestCalibration:
    def test_class_balanced_and_seeded(self, data: str) -> None:
        """13 images over 10 classes: 1 or 2 each; the same seed, the same images."""
        calib = calibration_set(PROFILE, 13, data_root=data)
        counts = collections.Counter(label for _, label, _ in calib.samples)
        assert sum(counts.values()) == 13
        assert set(counts.values()) == {1, 2}
        assert len(counts) == 10
        assert calibration_set(PROFILE, 13, data_root=data).samples == calib.samples
        other = calibration_set(PROFILE, 13, seed=1, data_root=data)
        assert other.samples != calib.samples
        assert other.identity["sample_ids_sha256"] != calib.identity["sample_ids_sha256"]
        few = calibration_set(PROFILE, 3, data_root=data)
        assert sorted(collections.Counter(label for _, label, _ in few.samples).values()) == [
            1,
            1,
            1,
        ]

    def test_more_images_than_the_classes_hold_is_an_error(self, data: str) -> None:
        with pytest.raises(InvalidOptionError, match=r"images=50 calibration images .* 5 per"):
            calibration_set(PROFILE, 50, data_root=data)

    def test_deterministic_for_a_seed(
        self, float_ckpt: Path, data: str, built: Path, tmp_path: Path
    ) -> None:
        """Built again elsewhere, the weights (quantizer steps, BatchNorm statistics) are equal."""
        again = _build(float_ckpt, data, tmp_path)
        assert again != built
        digest = read_checkpoint_metadata(built)["weights_sha256"]
        assert read_checkpoint_metadata(again)["weights_sha256"] == digest

    def test_input_size_sets_the_calibration_pipeline(
        self, float_ckpt: Path, data: str, tmp_path: Path
    ) -> None:
        """input_size=32: calibrated (and evaluated) on 32 px crops of a 37 px resize."""
        path = _build(float_ckpt, data, tmp_path, input_size=32)
        pipeline = read_checkpoint_metadata(path)["meta"]["calibration"]["pipeline"]
        assert (pipeline["crop_size"], pipeline["resize_size"]) == (32, 37)


class TestReestimateBatchnorm:
    def test_statistics_become_the_mean_over_the_batches(self) -> None:
        """Equal batches: running mean = the features' mean; the dropout before it stays off."""
        torch.manual_seed(0)
        conv = nn.Conv2d(3, 4, 1)
        bn = nn.BatchNorm2d(4)
        model = nn.Sequential(conv, nn.Dropout(0.9), bn).train()
        batches = [torch.rand(4, 3, 5, 5) + i for i in range(3)]
        assert reestimate_batchnorm(model, batches) == 12
        with torch.no_grad():
            features = conv(torch.cat(batches))
        torch.testing.assert_close(bn.running_mean, features.mean((0, 2, 3)))
        assert bn.momentum == 0.1
        assert not model.training
        assert not bn.training

    def test_quantized_model_keeps_its_quantizers(self) -> None:
        model = quantize_model(create_model("resnet18", 10, 0.125), "pact", 4)
        before = {k: v.clone() for k, v in model.state_dict().items() if "quantizer" in k}
        reestimate_batchnorm(model, [torch.rand(4, 3, 32, 32)])
        after = model.state_dict()
        assert all(torch.equal(v, after[k]) for k, v in before.items())


class TestErrors:
    def test_a_corrupt_float_checkpoint_raises_the_checkpoint_error(
        self, data: str, tmp_path: Path
    ) -> None:
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
        with pytest.raises(CorruptCheckpointError, match=re.escape(str(bad))):
            _build(bad, data, tmp_path)
        with pytest.raises(CheckpointNotFoundError, match=r"missing\.safetensors"):
            _build(tmp_path / "missing.safetensors", data, tmp_path)

    def test_a_quantized_or_other_checkpoint_is_not_a_float_one(
        self, built: Path, data: str, tmp_path: Path
    ) -> None:
        with pytest.raises(CheckpointMismatchError, match="quantizer"):
            _build(built, data, tmp_path)
        mobilenet = _float_checkpoint(tmp_path / "m.safetensors", arch="mobilenet_v2")
        with pytest.raises(CheckpointMismatchError, match="arch"):
            _build(mobilenet, data, tmp_path)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"spec": ModelSpec("resnet18")}, "is the float model"),
            ({"images": 0}, "images=0"),
            ({"images": True}, "images=True"),
            ({"epochs": -1}, "epochs=-1"),
            ({"seed": -1}, "seed=-1"),
        ],
    )
    def test_bad_arguments_are_refused_by_name(
        self, kwargs: dict[str, Any], message: str, float_ckpt: Path, data: str, tmp_path: Path
    ) -> None:
        with pytest.raises(InvalidOptionError, match=message):
            _build(float_ckpt, data, tmp_path, **kwargs)


def test_finetune_epochs_use_the_qat_recipe(
    float_ckpt: Path, data: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """epochs=1: one epoch of the profile's QAT recipe (lr, optimizer) on its training set.

    The profile is synthetic with every training image of the folder (the recipe's 500 per
    class would not fit the small folder).
    """
    synthetic = get_profile(PROFILE)
    small = dataclasses.replace(
        synthetic,
        name="test-ptq-small",
        recipe=dataclasses.replace(synthetic.recipe, train_per_class=None),
    )
    monkeypatch.setitem(PROFILES._entries, small.name, small)  # the registry has no unregister
    args: dict[str, Any] = {"data_root": data, "root": tmp_path, "device": "cpu", "images": IMAGES}
    path = ensure_ptq_checkpoint(float_ckpt, SPEC, small.name, epochs=1, **args)
    meta = read_checkpoint_metadata(path)["meta"]
    settings = meta["finetune"]["settings"]
    assert (meta["epochs"], settings["epochs"], settings["lr"]) == (1, 1, synthetic.recipe.qat_lr)
    assert settings["optimizer"] == synthetic.recipe.optimizer
    assert meta["finetune"]["qat_images"] is None
    assert path != ensure_ptq_checkpoint(float_ckpt, SPEC, small.name, **args)
