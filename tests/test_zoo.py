"""Model zoo: checkpoints built on demand from a tiny profile, reused, rebuilt if stale or damaged.

The module builds one float and one QAT checkpoint of a tiny test profile (10 classes of 4
synthetic 40 px training images, 32 px crops, one epoch each) under a temporary ROBUSTMQ_HOME;
tests that damage or rebuild checkpoints work on copies in their own zoo folder (``root=``).
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import io
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torchvision.models.resnet import BasicBlock

from robustmq import zoo
from robustmq.cells import ModelSpec
from robustmq.checkpoints import file_sha256, load_checkpoint, read_checkpoint_metadata
from robustmq.data import clear_cache
from robustmq.data.cache import ENV_HOME
from robustmq.data.profiles import PROFILES, AdversarialSpec, Profile, SyntheticSpec, TrainRecipe
from robustmq.hashing import sha256_json
from robustmq.quant import get_quantizer
from robustmq.train import TrainResult

NAME = "test-zoo-tiny"
TINY = Profile(
    name=NAME,
    num_classes=10,
    resize_size=36,
    crop_size=32,
    width=0.25,
    recipe=TrainRecipe(
        float_epochs=1,
        qat_epochs=1,
        batch_size=16,
        lr=1e-2,
        qat_lr=1e-3,
        optimizer="adamw",
        warmup_fraction=0.5,
        zero_init_residual=True,
        arch_lr=(("resnet50", 5e-3),),
    ),
    eval_split="val",
    train_split="train",
    eval_per_class=None,
    synthetic=SyntheticSpec(size=40, train_per_class=4, val_per_class=2),
)
FLOAT = ModelSpec("resnet18")
QAT = ModelSpec("resnet18", "lsq", 4)

Builds = list[tuple[ModelSpec, dict[str, Any]]]


def _clear_caches() -> None:
    zoo._train_data.cache_clear()
    zoo._val_data.cache_clear()
    clear_cache()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh ROBUSTMQ_HOME with the tiny profile registered (both undone afterwards)."""
    home = tmp_path_factory.mktemp("zoo-home")
    _clear_caches()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_HOME, str(home))
        mp.setitem(PROFILES._entries, NAME, TINY)  # the registry has no unregister
        yield home
    _clear_caches()


@pytest.fixture(scope="module")
def built(home: Path) -> dict[str, Any]:
    """Paths of the float and QAT checkpoints, built by one ensure_checkpoint call."""
    builds: Builds = []
    q_path = zoo.ensure_checkpoint(
        QAT, NAME, device="cpu", on_build=lambda spec, meta: builds.append((spec, meta))
    )
    return {"float": zoo.checkpoint_path(FLOAT, NAME), "qat": q_path, "builds": builds}


def _copy_zoo(built: dict[str, Any], root: Path, *which: str) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    return {w: Path(shutil.copy2(built[w], root / built[w].name)) for w in which}


def _state(path: Path) -> tuple[str, int]:
    return file_sha256(path), path.stat().st_mtime_ns


def _ensure(spec: ModelSpec, root: Path | None = None) -> tuple[Path, list[ModelSpec]]:
    builds: list[ModelSpec] = []
    path = zoo.ensure_checkpoint(
        spec, NAME, root=root, device="cpu", on_build=lambda s, _: builds.append(s)
    )
    return path, builds


def _meta(path: Path) -> dict[str, Any]:
    return read_checkpoint_metadata(path)["meta"]


# -- paths, settings, recipes (no training) -----------------------------------------------------


def test_checkpoint_path_is_in_the_home_zoo_or_root(home: Path, tmp_path: Path) -> None:
    assert zoo.checkpoint_path(QAT, NAME) == home / "zoo" / NAME / "resnet18-lsq-4bit.safetensors"
    assert zoo.checkpoint_path(FLOAT, NAME, tmp_path) == tmp_path / "resnet18-fp32.safetensors"


def test_train_settings_follow_the_profile_recipe() -> None:
    f = zoo.train_settings(FLOAT, TINY, seed=3)
    assert (f.epochs, f.lr, f.warmup_epochs, f.optimizer, f.seed) == (1, 1e-2, 0.5, "adamw", 3)
    assert zoo.train_settings(ModelSpec("resnet50"), TINY, 0).lr == 5e-3  # arch_lr
    q = zoo.train_settings(QAT, TINY, seed=3)
    assert (q.epochs, q.lr, q.warmup_epochs, q.batch_size) == (1, 1e-3, 0.0, 16)


def test_arch_epochs_set_the_float_epochs_and_warmup_of_that_architecture_only() -> None:
    profile = _with_recipe(arch_epochs=(("resnet50", 4),))
    r50 = zoo.train_settings(ModelSpec("resnet50"), profile, 0)
    assert (r50.epochs, r50.warmup_epochs) == (4, 2.0)  # warmup_fraction 0.5 of 4 epochs
    assert zoo.train_settings(FLOAT, profile, 0) == zoo.train_settings(FLOAT, TINY, 0)
    assert zoo.train_settings(ModelSpec("resnet50", "lsq", 4), profile, 0).epochs == 1  # QAT
    # only resnet50's checkpoints (float and QAT) go stale
    r50_float = ModelSpec("resnet50")
    assert zoo.recipe(r50_float, profile, 0) != zoo.recipe(r50_float, TINY, 0)
    assert zoo.recipe(QAT, profile, 0) == zoo.recipe(QAT, TINY, 0)
    r50_lsq = ModelSpec("resnet50", "lsq", 4)
    assert zoo.recipe(r50_lsq, profile, 0) != zoo.recipe(r50_lsq, TINY, 0)


def _with_recipe(**changes: Any) -> Profile:
    return dataclasses.replace(TINY, recipe=dataclasses.replace(TINY.recipe, **changes))


@pytest.mark.parametrize(
    "changed",
    [
        dataclasses.replace(TINY, resize_size=40),
        dataclasses.replace(TINY, crop_size=28),
        dataclasses.replace(TINY, width=0.5),
        dataclasses.replace(
            TINY, synthetic=SyntheticSpec(size=40, train_per_class=5, val_per_class=2)
        ),
        _with_recipe(train_per_class=3),
        _with_recipe(zero_init_residual=False),
        _with_recipe(batch_size=8),
        _with_recipe(float_epochs=2),
        _with_recipe(lr=2e-2),
        _with_recipe(warmup_fraction=0.0),
    ],
    ids=[
        "resize",
        "crop",
        "width",
        "synthetic",
        "train_per_class",
        "zero_init",
        "batch_size",
        "float_epochs",
        "lr",
        "warmup",
    ],
)
def test_recipe_changes_with_what_builds_the_float_model(changed: Profile) -> None:
    assert zoo.recipe(FLOAT, changed, 0) != zoo.recipe(FLOAT, TINY, 0)
    # a QAT model starts from the float model: it is stale as well
    assert zoo.recipe(QAT, changed, 0) != zoo.recipe(QAT, TINY, 0)


def test_recipe_of_qat_only_settings_and_what_does_not_matter() -> None:
    for changed in (_with_recipe(qat_epochs=2), _with_recipe(qat_lr=2e-3)):
        assert zoo.recipe(QAT, changed, 0) != zoo.recipe(QAT, TINY, 0)
        assert zoo.recipe(FLOAT, changed, 0) == zoo.recipe(FLOAT, TINY, 0)
    for spec in (FLOAT, QAT):
        assert zoo.recipe(spec, TINY, 1) != zoo.recipe(spec, TINY, 0)
        same = dataclasses.replace(TINY, eval_per_class=1, adversarial=AdversarialSpec(n_samples=3))
        assert zoo.recipe(spec, same, 0) == zoo.recipe(spec, TINY, 0)
    assert zoo.recipe(FLOAT, TINY, 0)["settings"]["epochs"] == 1


def test_recipe_keys_are_stable() -> None:
    """The keys that name every zoo checkpoint on users' disks: a change retrains every model."""
    assert sha256_json(zoo.recipe(FLOAT, TINY, 0)) == (
        "e5683e6e35f6a398b99613887f069fb7d05dcc49ef8656835bb6ecfaf47fdfd5"
    )
    assert sha256_json(zoo.recipe(QAT, TINY, 0)) == (
        "575605290973d51c2a1aeb57321472a258ed9a54e0ccf474b15cab2471da64f4"
    )


def test_a_quantizer_arithmetic_version_is_part_of_its_qat_recipes_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bumping a family's arithmetic_version makes its QAT checkpoints stale, nothing else."""
    family = get_quantizer(QAT.quantizer)
    before = {spec: zoo.recipe(spec, TINY, 0) for spec in (FLOAT, QAT)}
    assert before[QAT]["arithmetic_version"] == family.arithmetic_version
    monkeypatch.setattr(family, "arithmetic_version", family.arithmetic_version + 1)
    assert zoo.recipe(QAT, TINY, 0)["arithmetic_version"] == family.arithmetic_version
    assert zoo.recipe(FLOAT, TINY, 0) == before[FLOAT]


# -- building -----------------------------------------------------------------------------------


def test_ensure_checkpoint_builds_the_float_model_then_qat_from_it(
    home: Path, built: dict[str, Any]
) -> None:
    assert [spec for spec, _ in built["builds"]] == [FLOAT, QAT]
    assert built["float"] == home / "zoo" / NAME / "resnet18-fp32.safetensors"
    assert built["qat"] == home / "zoo" / NAME / "resnet18-lsq-4bit.safetensors"
    float_model = load_checkpoint(built["float"], arch="resnet18", quantizer="fp32")
    qat_model = load_checkpoint(built["qat"], arch="resnet18", quantizer="lsq", bits=4)
    assert read_checkpoint_metadata(built["qat"])["config"]["policy"] == "academic"
    with torch.no_grad():
        assert torch.isfinite(qat_model(torch.rand(2, 3, 32, 32))).all()
        assert float_model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    f_meta, q_meta = _meta(built["float"]), _meta(built["qat"])
    assert (f_meta["init_sha256"], q_meta["init_sha256"]) == (None, file_sha256(built["float"]))
    assert q_meta["recipe"]["init"] == "resnet18-fp32"
    assert q_meta["recipe"]["settings"]["lr"] == 1e-3
    for spec, meta, (_, on_build_meta) in zip(
        (FLOAT, QAT), (f_meta, q_meta), built["builds"], strict=True
    ):
        assert meta == on_build_meta
        assert meta["model_id"] == spec.id
        assert meta["recipe"] == zoo.recipe(spec, TINY, 0)
        assert (meta["train_samples"], meta["val_samples"]) == (40, 20)
        assert 0.0 <= meta["val_accuracy"] <= 1.0
    assert zoo.is_current(built["float"], zoo.recipe(FLOAT, TINY, 0))
    assert zoo.is_current(built["qat"], zoo.recipe(QAT, TINY, 0))


def test_a_second_call_reuses_the_checkpoints(built: dict[str, Any]) -> None:
    before = {w: _state(built[w]) for w in ("float", "qat")}
    for spec, which in ((QAT, "qat"), (FLOAT, "float")):
        path, builds = _ensure(spec)
        assert path == built[which]
        assert builds == []
    assert {w: _state(built[w]) for w in ("float", "qat")} == before


def test_converged_flag_of_the_built_models(built: dict[str, Any]) -> None:
    for which in ("float", "qat"):
        meta = _meta(built[which])
        assert meta["converged"] is (meta["val_accuracy"] >= zoo.NC_FACTOR / TINY.num_classes)


def test_zoo_checkpoint_opens_a_current_checkpoint_from_one_read(
    built: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is opened once; its sha256, meta and verified weights come from that read."""
    opened: list[Path] = []
    real_open = io.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike) and str(file).endswith(".safetensors"):
            opened.append(Path(file))
        return real_open(file, *args, **kwargs)

    builds: list[ModelSpec] = []
    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    c = zoo.zoo_checkpoint(QAT, NAME, device="cpu", on_build=lambda s, _: builds.append(s))
    monkeypatch.undo()
    assert (opened, builds) == ([built["qat"]], [])
    assert c.path == built["qat"]
    assert c.sha256 == file_sha256(built["qat"])
    assert c.meta == _meta(built["qat"])
    assert (c.config["quantizer"], c.config["bits"]) == ("lsq", 4)
    assert not c.model.training
    assert next(c.model.parameters()).device.type == "cpu"


def test_zoo_checkpoint_takes_the_arguments_of_ensure_checkpoint() -> None:
    ensure = inspect.signature(zoo.ensure_checkpoint)
    opened = inspect.signature(zoo.zoo_checkpoint)
    assert list(opened.parameters.values()) == list(ensure.parameters.values())
    assert (ensure.return_annotation, opened.return_annotation) == ("Path", "Checkpoint")


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "flip":  # one byte of the last tensor
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0x10]) + data[-2:])
    elif how == "truncate":
        path.write_bytes(data[:-100])
    elif how == "html":
        path.write_bytes(b"<!doctype html><html>not found</html>")
    else:
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["flip", "truncate", "html", "empty"])
def test_a_damaged_checkpoint_is_rebuilt(built: dict[str, Any], tmp_path: Path, how: str) -> None:
    copies = _copy_zoo(built, tmp_path, "float", "qat")
    float_before = _state(copies["float"])
    _damage(copies["qat"], how)
    assert not zoo.is_current(copies["qat"], zoo.recipe(QAT, TINY, 0))

    path, builds = _ensure(QAT, tmp_path)

    assert path == copies["qat"]
    assert builds == [QAT]  # the float parent was intact
    assert _state(copies["float"]) == float_before
    assert zoo.is_current(path, zoo.recipe(QAT, TINY, 0))
    # training is deterministic: the rebuilt weights are the original ones
    original = read_checkpoint_metadata(built["qat"])["weights_sha256"]
    assert read_checkpoint_metadata(path)["weights_sha256"] == original


Events = list[tuple[str, ModelSpec]]


def _hooks(events: Events) -> dict[str, Any]:
    """before_build and on_build hooks that record ("before" | "built", spec) in ``events``."""
    return {
        "before_build": lambda s: events.append(("before", s)),
        "on_build": lambda s, _: events.append(("built", s)),
    }


def test_zoo_checkpoint_rebuilds_a_damaged_checkpoint_then_opens_it(
    built: dict[str, Any], tmp_path: Path
) -> None:
    copies = _copy_zoo(built, tmp_path, "float", "qat")
    _damage(copies["qat"], "flip")
    events: Events = []

    c = zoo.zoo_checkpoint(QAT, NAME, root=tmp_path, device="cpu", **_hooks(events))

    assert events == [("before", QAT), ("built", QAT)]  # the float parent was intact
    assert c.path == copies["qat"]
    assert c.sha256 == file_sha256(copies["qat"])
    assert c.weights_sha256 == read_checkpoint_metadata(built["qat"])["weights_sha256"]


def test_build_hooks_run_around_each_model_trained_the_float_parent_first(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoo, "train", lambda *a, **k: TrainResult(0.5, 1.0, 0.0))
    events: Events = []
    zoo.ensure_checkpoint(QAT, NAME, root=tmp_path, device="cpu", **_hooks(events))
    assert events == [("before", FLOAT), ("built", FLOAT), ("before", QAT), ("built", QAT)]


def test_a_qat_recipe_change_rebuilds_the_qat_model_only(
    built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies = _copy_zoo(built, tmp_path, "float", "qat")
    float_before = _state(copies["float"])
    changed = _with_recipe(qat_lr=2e-3)
    assert zoo.is_current(copies["qat"], zoo.recipe(QAT, TINY, 0))
    assert not zoo.is_current(copies["qat"], zoo.recipe(QAT, changed, 0))
    monkeypatch.setitem(PROFILES._entries, NAME, changed)

    path, builds = _ensure(QAT, tmp_path)

    assert builds == [QAT]
    assert _state(copies["float"]) == float_before
    assert _meta(path)["recipe"]["settings"]["lr"] == 2e-3
    assert zoo.is_current(path, zoo.recipe(QAT, changed, 0))


def test_a_float_recipe_change_rebuilds_the_float_model_and_its_qat_models(
    built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies = _copy_zoo(built, tmp_path, "float", "qat")
    monkeypatch.setitem(PROFILES._entries, NAME, _with_recipe(lr=2e-2))

    path, builds = _ensure(QAT, tmp_path)

    assert builds == [FLOAT, QAT]
    assert _meta(copies["float"])["recipe"]["settings"]["lr"] == 2e-2
    assert _meta(path)["init_sha256"] == file_sha256(copies["float"])


@pytest.mark.parametrize(
    ("accuracy", "converged"), [(0.0, False), (0.1, False), (0.19, False), (0.2, True), (0.9, True)]
)
def test_a_model_below_nc_factor_times_chance_is_saved_as_not_converged(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accuracy: float, converged: bool
) -> None:
    def fake_train(*args: Any, **kwargs: Any) -> TrainResult:
        return TrainResult(val_accuracy=accuracy, train_loss=2.3, seconds=0.0)

    monkeypatch.setattr(zoo, "train", fake_train)
    assert zoo.NC_FACTOR / TINY.num_classes == pytest.approx(0.2)

    path, builds = _ensure(FLOAT, tmp_path)

    assert builds == [FLOAT]
    meta = _meta(path)  # saved all the same: an NC model is reported, never hidden
    assert meta["val_accuracy"] == accuracy
    assert meta["converged"] is converged


@pytest.mark.parametrize("zero_init", [True, False])
def test_build_model_zero_initialises_residual_branches_as_the_profile_says(
    home: Path, monkeypatch: pytest.MonkeyPatch, zero_init: bool
) -> None:
    monkeypatch.setattr(zoo, "train", lambda *a, **k: TrainResult(0.5, 1.0, 0.0))
    profile = _with_recipe(zero_init_residual=zero_init)
    model, _ = zoo.build_model(
        FLOAT, profile, seed=0, data_root=None, device=torch.device("cpu"), float_checkpoint=None
    )
    last_bns = [m.bn2.weight for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(last_bns) == 8
    assert all(bool((w == 0).all()) is zero_init for w in last_bns)


def test_concurrent_callers_build_a_checkpoint_once(built: dict[str, Any], tmp_path: Path) -> None:
    _copy_zoo(built, tmp_path, "float")
    builds: list[ModelSpec] = []
    start = threading.Barrier(2)
    paths: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            paths.append(
                zoo.ensure_checkpoint(
                    QAT, NAME, root=tmp_path, device="cpu", on_build=lambda s, _: builds.append(s)
                )
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert builds == [QAT]
    assert paths == [tmp_path / "resnet18-lsq-4bit.safetensors"] * 2
    assert zoo.is_current(paths[0], zoo.recipe(QAT, TINY, 0))


def test_build_model_with_explicit_settings_records_them(home: Path) -> None:
    settings = dataclasses.replace(zoo.train_settings(FLOAT, TINY, 0), lr=5e-3)
    model, meta = zoo.build_model(
        FLOAT,
        TINY,
        seed=0,
        data_root=None,
        device=torch.device("cpu"),
        float_checkpoint=None,
        settings=settings,
    )
    assert meta["recipe"]["settings"] == settings.to_dict()
    assert meta["recipe_key"] == sha256_json(meta["recipe"])
    assert meta["recipe"] != zoo.recipe(FLOAT, TINY, 0)  # not the profile's recipe: not current
    assert not model.training
    assert next(model.parameters()).device.type == "cpu"


def test_a_cpu_build_trains_on_a_fixed_thread_count_and_restores_it(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many threads the caller runs, training sees CPU_BUILD_THREADS (same checkpoint)."""
    seen: list[int] = []

    def fake_train(*args: Any, **kwargs: Any) -> TrainResult:
        seen.append(torch.get_num_threads())
        return TrainResult(0.5, 1.0, 0.0)

    monkeypatch.setattr(zoo, "train", fake_train)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _, meta = zoo.build_model(
            FLOAT, TINY, seed=0, data_root=None, device=torch.device("cpu"), float_checkpoint=None
        )
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [zoo.CPU_BUILD_THREADS]
    assert meta["torch_threads"] == zoo.CPU_BUILD_THREADS
