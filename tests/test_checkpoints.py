"""Checkpoints: bit-exact round trips, plain state_dicts, and a typed error for every bad file."""

from __future__ import annotations

import builtins
import hashlib
import inspect
import io
import json
import os
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from safetensors import safe_open
from torch import Tensor, nn

from robustmq._version import __version__
from robustmq.checkpoints import (
    Checkpoint,
    file_sha256,
    load_checkpoint,
    open_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)
from robustmq.exceptions import (
    CheckpointMismatchError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    InvalidOptionError,
    RobustMQError,
    StateDictKeysError,
    UnsafeCheckpointError,
)
from robustmq.models import create_model
from robustmq.quant import calibrate, quantize_model

ARCH = "resnet18"
NUM_CLASSES = 10
WIDTH = 0.25
BITS = 4
QUANTIZERS = ["dorefa", "pact", "lsq"]
PLAIN = {"arch": ARCH, "num_classes": NUM_CLASSES, "width": WIDTH}
META = {"profile": "synthetic", "recipe": {"epochs": 1, "lr": 0.01, "optimizer": "sgd"}}


# -- helpers and fixtures -----------------------------------------------------------------------


def _batch(seed: int = 0) -> Tensor:
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _float_model(seed: int = 0) -> nn.Module:
    """A tiny float ResNet-18 with non-default BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = create_model(ARCH, num_classes=NUM_CLASSES, width=WIDTH)
    with torch.no_grad():
        model.train()(_batch(seed + 100))  # move the running statistics off their defaults
    return model.eval()


def _outputs(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        return model.eval()(x)


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata())


def _save_safetensors(tensors: dict[str, Tensor], path: Path, metadata: dict[str, str]) -> None:
    """safetensors.torch.save_file, padding the metadata so that the file does not start with
    0x80 (see TestFormatDetection: such files are misread by load_checkpoint)."""
    for pad in range(64):
        extra = {"pad": "x" * pad} if pad else {}
        safetensors.torch.save_file(tensors, str(path), metadata={**metadata, **extra})
        with open(path, "rb") as f:
            if f.read(1) != b"\x80":
                return
    raise AssertionError("could not pad the safetensors header")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _write_marker(path: str) -> None:
    """The payload of the malicious pickle: proves that code ran by creating a file."""
    Path(path).write_text("the pickle payload ran")


class _Payload:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


@pytest.fixture(scope="module")
def float_model() -> nn.Module:
    return _float_model()


@pytest.fixture(scope="module")
def quantized_models(float_model: nn.Module) -> dict[str, nn.Module]:
    """One calibrated 4-bit model per quantizer, all from ``float_model``, in eval mode."""
    models = {}
    for name in QUANTIZERS:
        qmodel = quantize_model(float_model, name, BITS)
        calibrate(qmodel, [_batch(1)])
        models[name] = qmodel.eval()
    return models


@pytest.fixture(scope="module")
def float_ckpt(tmp_path_factory: pytest.TempPathFactory, float_model: nn.Module) -> Path:
    folder = tmp_path_factory.mktemp("float")
    return save_checkpoint(float_model, folder / "float.safetensors", **META)


@pytest.fixture(scope="module")
def lsq_ckpt(
    tmp_path_factory: pytest.TempPathFactory, quantized_models: dict[str, nn.Module]
) -> Path:
    folder = tmp_path_factory.mktemp("lsq")
    return save_checkpoint(quantized_models["lsq"], folder / "lsq.safetensors", **META)


@pytest.fixture(scope="module")
def float_pth(tmp_path_factory: pytest.TempPathFactory, float_model: nn.Module) -> Path:
    path = tmp_path_factory.mktemp("pth") / "float.pth"
    torch.save(float_model.state_dict(), path)
    return path


# -- round trips --------------------------------------------------------------------------------


class TestOpenCheckpoint:
    def test_the_checkpoint_describes_the_file_and_holds_the_model(
        self, lsq_ckpt: Path, quantized_models: dict[str, nn.Module]
    ) -> None:
        """Model bit-exact and in eval mode; file sha256, config, meta and recorded weights hash."""
        c = open_checkpoint(lsq_ckpt, arch=ARCH, quantizer="lsq", bits=BITS)
        assert isinstance(c, Checkpoint)
        _assert_same_state(quantized_models["lsq"], c.model)
        assert not c.model.training
        assert c.path == lsq_ckpt
        assert c.sha256 == hashlib.sha256(lsq_ckpt.read_bytes()).hexdigest()
        assert c.config == read_checkpoint_metadata(lsq_ckpt)["config"]
        assert c.meta == META
        assert c.weights_sha256 == read_checkpoint_metadata(lsq_ckpt)["weights_sha256"]
        assert not hasattr(c.model, "robustmq_checkpoint")

    def test_the_file_is_opened_once(self, lsq_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """One read gives the hash, the verified weights and the model (was four)."""
        opened: list[object] = []
        real_open = io.open

        def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, str | os.PathLike) and Path(file) == lsq_ckpt:
                opened.append(file)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(io, "open", counting_open)
        monkeypatch.setattr(builtins, "open", counting_open)
        open_checkpoint(lsq_ckpt)
        assert len(opened) == 1

    def test_load_checkpoint_is_open_checkpoint_model_with_the_legacy_attribute(
        self, lsq_ckpt: Path
    ) -> None:
        """Same parameters (one declaration); robustmq_checkpoint mirrors the Checkpoint."""
        opened = inspect.signature(open_checkpoint)
        loaded = inspect.signature(load_checkpoint)
        assert list(loaded.parameters.values()) == list(opened.parameters.values())
        assert load_checkpoint.__name__ == "load_checkpoint"
        assert "Deprecated" in (load_checkpoint.__doc__ or "")
        c = open_checkpoint(lsq_ckpt)
        info = load_checkpoint(lsq_ckpt).robustmq_checkpoint
        assert info == {"path": str(c.path), "sha256": c.sha256, "config": c.config, "meta": c.meta}

    def test_a_plain_state_dict_has_no_recorded_hash(self, float_pth: Path) -> None:
        c = open_checkpoint(float_pth, **PLAIN)
        assert (c.meta, c.weights_sha256) == ({}, None)
        assert c.sha256 == file_sha256(float_pth)


class TestRoundTrip:
    def test_float_model_is_bit_exact(self, float_model: nn.Module, float_ckpt: Path) -> None:
        """A float model saved and loaded has identical tensors and identical eval outputs."""
        loaded = load_checkpoint(float_ckpt)
        _assert_same_state(float_model, loaded)
        x = _batch(7)
        assert torch.equal(_outputs(float_model, x), _outputs(loaded, x))

    @pytest.mark.parametrize("quantizer", QUANTIZERS)
    def test_quantized_model_is_bit_exact(
        self, tmp_path: Path, quantized_models: dict[str, nn.Module], quantizer: str
    ) -> None:
        """A calibrated 4-bit model of each quantizer round-trips with identical tensors/outputs."""
        model = quantized_models[quantizer]
        path = save_checkpoint(model, tmp_path / f"{quantizer}.safetensors", **META)
        loaded = load_checkpoint(path)
        _assert_same_state(model, loaded)
        x = _batch(7)
        assert torch.equal(_outputs(model, x), _outputs(loaded, x))
        config = loaded.robustmq_config
        assert (config["quantizer"], config["bits"], config["policy"]) == (
            quantizer,
            BITS,
            "academic",
        )

    def test_loaded_model_is_in_eval_mode(self, float_ckpt: Path, lsq_ckpt: Path) -> None:
        """load_checkpoint returns the model and every submodule in eval mode."""
        for path in (float_ckpt, lsq_ckpt):
            loaded = load_checkpoint(path)
            assert not loaded.training
            assert not any(m.training for m in loaded.modules())

    def test_float_model_config(self, float_ckpt: Path) -> None:
        """A loaded float model records arch/width/num_classes and fp32, 32 bits, no policy."""
        loaded = load_checkpoint(float_ckpt)
        for key, value in PLAIN.items():
            assert loaded.robustmq_config[key] == value
        config = loaded.robustmq_checkpoint["config"]
        assert {k: config[k] for k in ("arch", "num_classes", "width")} == PLAIN
        assert (config["quantizer"], config["bits"], config["policy"]) == ("fp32", 32, None)

    def test_quantized_model_config(self, lsq_ckpt: Path) -> None:
        """A loaded quantized model carries arch, width, num_classes, quantizer, bits, policy."""
        loaded = load_checkpoint(lsq_ckpt)
        expected = {**PLAIN, "quantizer": "lsq", "bits": BITS, "policy": "academic"}
        for source in (loaded.robustmq_config, loaded.robustmq_checkpoint["config"]):
            assert {k: source[k] for k in expected} == expected

    def test_checkpoint_attribute_describes_the_file(self, lsq_ckpt: Path) -> None:
        """robustmq_checkpoint holds the path, the file's sha256 and the caller's meta."""
        info = load_checkpoint(lsq_ckpt).robustmq_checkpoint
        assert info["path"] == str(lsq_ckpt)
        assert info["sha256"] == hashlib.sha256(lsq_ckpt.read_bytes()).hexdigest()
        assert info["meta"] == META

    def test_meta_comes_back_from_metadata(self, lsq_ckpt: Path) -> None:
        """read_checkpoint_metadata decodes config and the meta passed to save_checkpoint."""
        metadata = read_checkpoint_metadata(lsq_ckpt)
        assert metadata["meta"] == META
        assert metadata["config"]["arch"] == ARCH
        assert metadata["config"]["quantizer"] == "lsq"
        assert metadata["format"] == "robustmq-checkpoint"

    def test_metadata_holds_version_and_weights_hash(self, lsq_ckpt: Path) -> None:
        """The metadata holds robustmq_version and a 64-hex-digit weights_sha256."""
        metadata = read_checkpoint_metadata(lsq_ckpt)
        assert metadata["robustmq_version"] == __version__
        digest = metadata["weights_sha256"]
        assert len(digest) == 64
        assert int(digest, 16) >= 0

    def test_resaving_a_loaded_model_keeps_the_weights_hash(
        self, tmp_path: Path, lsq_ckpt: Path
    ) -> None:
        """Saving a loaded checkpoint again records the same weights_sha256 and config."""
        again = save_checkpoint(load_checkpoint(lsq_ckpt), tmp_path / "again.safetensors")
        first, second = read_checkpoint_metadata(lsq_ckpt), read_checkpoint_metadata(again)
        assert first["weights_sha256"] == second["weights_sha256"]
        assert first["config"] == second["config"]
        assert second["meta"] == {}

    def test_file_sha256_matches_hashlib(self, lsq_ckpt: Path) -> None:
        """file_sha256 equals hashlib.sha256 of the file's bytes."""
        assert file_sha256(lsq_ckpt) == hashlib.sha256(lsq_ckpt.read_bytes()).hexdigest()
        assert file_sha256(str(lsq_ckpt)) == file_sha256(lsq_ckpt)

    def test_matching_request_loads(self, float_ckpt: Path, lsq_ckpt: Path) -> None:
        """Naming every stored option with its stored value loads the checkpoint."""
        load_checkpoint(lsq_ckpt, quantizer="lsq", bits=BITS, policy="academic", **PLAIN)
        load_checkpoint(float_ckpt, quantizer="fp32", bits=32, **PLAIN)


# -- files that are missing or not checkpoints --------------------------------------------------


class TestBadFiles:
    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file raises CheckpointNotFoundError, a FileNotFoundError, naming the path."""
        path = tmp_path / "absent.safetensors"
        with pytest.raises(CheckpointNotFoundError, match="does not exist") as info:
            load_checkpoint(path)
        assert isinstance(info.value, FileNotFoundError)
        assert isinstance(info.value, RobustMQError)
        assert str(path) in str(info.value)
        with pytest.raises(FileNotFoundError, match=str(path)):
            read_checkpoint_metadata(path)

    def test_directory(self, tmp_path: Path) -> None:
        """A directory is refused with CheckpointNotFoundError naming it as a folder."""
        with pytest.raises(CheckpointNotFoundError, match="folder") as info:
            load_checkpoint(tmp_path)
        assert str(tmp_path) in str(info.value)

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty file raises CorruptCheckpointError saying it is empty."""
        path = tmp_path / "empty.pth"
        path.write_bytes(b"")
        with pytest.raises(CorruptCheckpointError, match="empty") as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)

    def test_truncated_safetensors(self, tmp_path: Path, float_ckpt: Path) -> None:
        """A safetensors checkpoint cut in half raises CorruptCheckpointError naming the file."""
        data = float_ckpt.read_bytes()
        path = tmp_path / "half.safetensors"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(CorruptCheckpointError) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)
        assert not isinstance(info.value, UnsafeCheckpointError)

    def test_truncated_safetensors_header(self, tmp_path: Path, float_ckpt: Path) -> None:
        """A file cut inside its safetensors header is reported as truncated."""
        path = tmp_path / "header.safetensors"
        path.write_bytes(float_ckpt.read_bytes()[:100])
        for read in (load_checkpoint, read_checkpoint_metadata):
            with pytest.raises(CorruptCheckpointError, match="truncated") as info:
                read(path)
            assert str(path) in str(info.value)

    @pytest.mark.parametrize("seed", range(4))
    def test_random_bytes(self, tmp_path: Path, seed: int) -> None:
        """Random bytes raise CorruptCheckpointError naming the file."""
        rng = random.Random(seed)
        data = bytes(rng.randrange(256) for _ in range(4096))
        path = tmp_path / "garbage.pth"
        path.write_bytes(data)
        with pytest.raises(CorruptCheckpointError) as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)

    def test_random_bytes_that_look_like_a_pickle(self, tmp_path: Path) -> None:
        """Garbage starting with a pickle protocol byte still raises CorruptCheckpointError."""
        rng = random.Random(1)
        path = tmp_path / "garbage.pth"
        path.write_bytes(b"\x80\x02" + bytes(rng.randrange(256) for _ in range(4096)))
        with pytest.raises(CorruptCheckpointError) as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)

    @pytest.mark.parametrize(
        "page",
        [
            "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>",
            "\n  <html><body>404 Not Found</body></html>",
            "<!doctype HTML>\n<html lang='en'></html>",
        ],
    )
    def test_html_page(self, tmp_path: Path, page: str) -> None:
        """An HTML page saved as .pt raises CorruptCheckpointError that says HTML."""
        path = tmp_path / "model.pt"
        path.write_text(page)
        with pytest.raises(CorruptCheckpointError, match="HTML") as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)

    def test_truncated_torch_zip(self, tmp_path: Path, float_pth: Path) -> None:
        """A torch.save zip cut in half raises CorruptCheckpointError naming the file."""
        data = float_pth.read_bytes()
        assert data.startswith(b"PK\x03\x04")
        path = tmp_path / "cut.pth"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(CorruptCheckpointError) as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)
        assert not isinstance(info.value, UnsafeCheckpointError)

    def test_truncated_legacy_torch_pickle(self, tmp_path: Path, float_model: nn.Module) -> None:
        """A legacy (non-zip) torch.save file cut in half raises CorruptCheckpointError."""
        full = tmp_path / "legacy.pth"
        torch.save(float_model.state_dict(), full, _use_new_zipfile_serialization=False)
        data = full.read_bytes()
        path = tmp_path / "cut.pth"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(CorruptCheckpointError) as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)

    def test_not_a_state_dict(self, tmp_path: Path) -> None:
        """A torch file holding a list of tensors is refused as not being a state_dict."""
        path = tmp_path / "list.pth"
        torch.save([torch.zeros(2)], path)
        with pytest.raises(CorruptCheckpointError, match="state_dict") as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)

    def test_metadata_of_a_torch_file(self, float_pth: Path) -> None:
        """read_checkpoint_metadata on a .pth raises CorruptCheckpointError: no metadata."""
        with pytest.raises(CorruptCheckpointError, match="not a safetensors file") as info:
            read_checkpoint_metadata(float_pth)
        assert str(float_pth) in str(info.value)

    def test_deeply_nested_header(self, tmp_path: Path) -> None:
        """A safetensors header nested 100000 levels deep raises CorruptCheckpointError."""
        header = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        path = tmp_path / "deep.safetensors"
        path.write_bytes(struct.pack("<Q", len(header)) + header)
        with pytest.raises(CorruptCheckpointError):
            load_checkpoint(path)


class TestUnsafePickle:
    @pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
    def test_code_in_pickle_is_refused_and_not_run(self, tmp_path: Path, zipfile: bool) -> None:
        """A pickle whose payload writes a file raises UnsafeCheckpointError; nothing ran."""
        marker = tmp_path / "pwned"
        path = tmp_path / "evil.pth"
        payload = {"weight": torch.zeros(1), "x": _Payload(_write_marker, str(marker))}
        torch.save(payload, path, _use_new_zipfile_serialization=zipfile)
        assert not marker.exists()
        with pytest.raises(UnsafeCheckpointError) as info:
            load_checkpoint(path, **PLAIN)
        assert isinstance(info.value, CorruptCheckpointError)
        assert str(path) in str(info.value)
        assert "not executed" in str(info.value)
        assert not marker.exists()

    def test_os_system_payload_is_refused_and_not_run(self, tmp_path: Path) -> None:
        """A pickle that calls os.system('touch ...') is refused and the command never runs."""
        marker = tmp_path / "pwned"
        path = tmp_path / "evil.pth"
        torch.save({"x": _Payload(os.system, f"touch '{marker}'")}, path)
        with pytest.raises(UnsafeCheckpointError) as info:
            load_checkpoint(path, **PLAIN)
        assert str(path) in str(info.value)
        assert not marker.exists()

    def test_payload_is_real(self, tmp_path: Path) -> None:
        """Control: the same file unpickled without weights_only does write the marker."""
        marker = tmp_path / "pwned"
        path = tmp_path / "evil.pth"
        torch.save({"x": _Payload(_write_marker, str(marker))}, path)
        torch.load(path, weights_only=False)
        assert marker.exists()


class TestFormatDetection:
    @staticmethod
    def _save_with_header_low_byte(model: nn.Module, path: Path, low_byte: int) -> str:
        """Save ``model`` with a ``note`` meta sized so the header length ends in ``low_byte``."""
        save_checkpoint(model, path, note="")
        data = path.read_bytes()
        (length,) = struct.unpack("<Q", data[:8])
        unpadded = len(data[8 : 8 + length].rstrip(b" "))  # each note character adds one byte
        note = "x" * ((low_byte - unpadded) % 256)
        save_checkpoint(model, path, note=note)
        with open(path, "rb") as f:
            if f.read(1)[0] == low_byte:
                return note
        raise AssertionError(f"could not make a header length ending in {low_byte:#x}")

    @pytest.mark.parametrize("low_byte", [0x78, 0x88])
    def test_any_header_length_loads(
        self, tmp_path: Path, float_model: nn.Module, low_byte: int
    ) -> None:
        """Control: checkpoints whose header lengths end in other bytes load normally."""
        path = tmp_path / "model.safetensors"
        note = self._save_with_header_low_byte(float_model, path, low_byte)
        assert load_checkpoint(path).robustmq_checkpoint["meta"] == {"note": note}

    def test_header_length_ending_in_0x80(self, tmp_path: Path, float_model: nn.Module) -> None:
        """A checkpoint whose header length's low byte is 0x80 loads as a RobustMQ checkpoint."""
        path = tmp_path / "model.safetensors"
        note = self._save_with_header_low_byte(float_model, path, 0x80)
        assert read_checkpoint_metadata(path)["meta"] == {"note": note}
        loaded = load_checkpoint(path)
        assert loaded.robustmq_checkpoint["meta"] == {"note": note}
        _assert_same_state(float_model, loaded)


# -- RobustMQ checkpoints that disagree with the request or were modified ------------------------


class TestMismatch:
    @pytest.mark.parametrize(
        ("key", "requested", "stored"),
        [
            ("arch", "resnet50", "'resnet18'"),
            ("quantizer", "pact", "'lsq'"),
            ("bits", 2, "4"),
            ("width", 0.5, "0.25"),
            ("num_classes", 100, "10"),
            ("policy", "all", "'academic'"),
        ],
    )
    def test_quantized_checkpoint(
        self, lsq_ckpt: Path, key: str, requested: object, stored: str
    ) -> None:
        """A request that disagrees with the stored config names both values and the file."""
        with pytest.raises(CheckpointMismatchError) as info:
            load_checkpoint(lsq_ckpt, **{key: requested})  # type: ignore[arg-type]
        message = str(info.value)
        assert f"{key}={stored}" in message
        assert f"{key}={requested!r}" in message
        assert str(lsq_ckpt) in message
        assert isinstance(info.value, ValueError)

    @pytest.mark.parametrize(
        ("key", "requested"), [("quantizer", "lsq"), ("bits", 4), ("arch", "mobilenet_v2")]
    )
    def test_float_checkpoint(self, float_ckpt: Path, key: str, requested: object) -> None:
        """A float checkpoint requested as quantized (or as another arch) is a mismatch."""
        with pytest.raises(CheckpointMismatchError, match=f"{key}=") as info:
            load_checkpoint(float_ckpt, **{key: requested})  # type: ignore[arg-type]
        assert f"{key}={requested!r}" in str(info.value)
        assert str(float_ckpt) in str(info.value)


class TestTampering:
    def _tamper(self, source: Path, target: Path) -> Tensor:
        """Rewrite ``source`` to ``target`` with the same metadata and fc.weight changed."""
        tensors = safetensors.torch.load_file(str(source))
        tensors["fc.weight"] = tensors["fc.weight"] + 1.0
        safetensors.torch.save_file(tensors, str(target), metadata=_metadata(source))
        return tensors["fc.weight"]

    def test_modified_weight_fails_the_hash(self, tmp_path: Path, lsq_ckpt: Path) -> None:
        """A changed tensor in a RobustMQ file raises CorruptCheckpointError about sha256."""
        path = tmp_path / "tampered.safetensors"
        self._tamper(lsq_ckpt, path)
        assert (
            read_checkpoint_metadata(path)["weights_sha256"]
            == (read_checkpoint_metadata(lsq_ckpt)["weights_sha256"])
        )
        with pytest.raises(CorruptCheckpointError, match="sha256") as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)

    def test_metadata_verifies_the_weights_on_request(self, tmp_path: Path, lsq_ckpt: Path) -> None:
        """read_checkpoint_metadata reads the header only, unless verify=True."""
        path = tmp_path / "tampered.safetensors"
        self._tamper(lsq_ckpt, path)
        assert read_checkpoint_metadata(path)["meta"] == META
        assert read_checkpoint_metadata(lsq_ckpt, verify=True)["meta"] == META
        with pytest.raises(CorruptCheckpointError, match="sha256"):
            read_checkpoint_metadata(path, verify=True)

    def test_verify_false_loads_modified_weights(self, tmp_path: Path, lsq_ckpt: Path) -> None:
        """With verify=False the modified file loads, with the modified tensor."""
        path = tmp_path / "tampered.safetensors"
        weight = self._tamper(lsq_ckpt, path)
        loaded = load_checkpoint(path, verify=False)
        assert torch.equal(loaded.state_dict()["fc.weight"], weight)

    @pytest.mark.parametrize("config", ["{}", "[]", "null"])
    def test_malformed_config_metadata(self, tmp_path: Path, lsq_ckpt: Path, config: str) -> None:
        """A RobustMQ file whose config is not a full JSON object raises CorruptCheckpointError."""
        path = tmp_path / "bad_config.safetensors"
        tensors = safetensors.torch.load_file(str(lsq_ckpt))
        _save_safetensors(tensors, path, {**_metadata(lsq_ckpt), "config": config})
        with pytest.raises(CorruptCheckpointError):
            load_checkpoint(path)

    def test_unparsable_config_metadata(self, tmp_path: Path, lsq_ckpt: Path) -> None:
        """A config that is not JSON raises CorruptCheckpointError naming the file."""
        path = tmp_path / "bad_config.safetensors"
        tensors = safetensors.torch.load_file(str(lsq_ckpt))
        _save_safetensors(tensors, path, {**_metadata(lsq_ckpt), "config": "{not json"})
        for read in (load_checkpoint, read_checkpoint_metadata):
            with pytest.raises(CorruptCheckpointError, match="metadata") as info:
                read(path)
            assert str(path) in str(info.value)


# -- plain state_dicts --------------------------------------------------------------------------


class TestStateDictKeys:
    def test_missing_and_unexpected_keys(self, tmp_path: Path, float_model: nn.Module) -> None:
        """Missing and unexpected keys raise StateDictKeysError listing the first five of each."""
        state = dict(float_model.state_dict())
        keys = list(state)
        for key in keys[:7]:
            del state[key]
        state["extra.a"] = torch.zeros(1)
        state["extra.b"] = torch.zeros(1)
        path = tmp_path / "keys.pth"
        torch.save(state, path)
        with pytest.raises(StateDictKeysError) as info:
            load_checkpoint(path, **PLAIN)
        message = str(info.value)
        assert isinstance(info.value, KeyError)
        assert message.startswith(str(path))  # the plain message, not KeyError's quoted repr
        assert "missing 7: " + ", ".join(keys[:5]) + " (+2 more)" in message
        assert "unexpected 2: extra.a, extra.b" in message

    def test_wrong_shape(self, tmp_path: Path, float_model: nn.Module) -> None:
        """A tensor of the wrong shape raises StateDictKeysError naming key and both shapes."""
        state = dict(float_model.state_dict())
        in_features = state["fc.weight"].shape[1]
        state["fc.weight"] = torch.zeros(NUM_CLASSES + 1, in_features)
        path = tmp_path / "shape.pth"
        torch.save(state, path)
        with pytest.raises(StateDictKeysError, match="wrong shape 1") as info:
            load_checkpoint(path, **PLAIN)
        message = str(info.value)
        assert f"fc.weight ({NUM_CLASSES + 1}, {in_features})" in message
        assert f"(expected ({NUM_CLASSES}, {in_features}))" in message
        assert str(path) in message

    def test_float_weights_requested_as_quantized(self, float_pth: Path) -> None:
        """A float .pth requested as lsq 4-bit raises StateDictKeysError about quantizer params."""
        with pytest.raises(StateDictKeysError, match="quantizer parameters") as info:
            load_checkpoint(float_pth, quantizer="lsq", bits=BITS, **PLAIN)
        assert "missing" in str(info.value)
        assert str(float_pth) in str(info.value)


class TestPlainStateDict:
    @pytest.mark.parametrize(
        "wrap",
        [
            lambda sd: sd,
            lambda sd: {"state_dict": sd},
            lambda sd: {"model": sd, "epoch": 3},
            lambda sd: {"model_state_dict": sd},
            lambda sd: {f"module.{k}": v for k, v in sd.items()},
            lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
        ],
        ids=["bare", "state_dict", "model", "model_state_dict", "module", "state_dict+module"],
    )
    def test_torchvision_style_pth_loads(
        self,
        tmp_path: Path,
        float_model: nn.Module,
        wrap: Callable[[dict[str, Tensor]], dict[str, Any]],
    ) -> None:
        """A torch.save'd state_dict (bare, wrapped, or DataParallel-prefixed) loads exactly."""
        path = tmp_path / "weights.pth"
        torch.save(wrap(dict(float_model.state_dict())), path)
        loaded = load_checkpoint(path, **PLAIN)
        _assert_same_state(float_model, loaded)
        x = _batch(3)
        assert torch.equal(_outputs(float_model, x), _outputs(loaded, x))
        assert not loaded.training
        assert loaded.robustmq_checkpoint["meta"] == {}
        assert loaded.robustmq_checkpoint["config"]["quantizer"] == "fp32"

    def test_legacy_torch_pickle_loads(self, tmp_path: Path, float_model: nn.Module) -> None:
        """A legacy (non-zip) torch.save state_dict loads too."""
        path = tmp_path / "legacy.pth"
        torch.save(float_model.state_dict(), path, _use_new_zipfile_serialization=False)
        _assert_same_state(float_model, load_checkpoint(path, **PLAIN))

    def test_plain_safetensors_loads(self, tmp_path: Path, float_model: nn.Module) -> None:
        """A safetensors state_dict without RobustMQ metadata loads when arch is given."""
        path = tmp_path / "plain.safetensors"
        state = {k: v.contiguous() for k, v in float_model.state_dict().items()}
        _save_safetensors(state, path, {})
        _assert_same_state(float_model, load_checkpoint(path, **PLAIN))

    def test_arch_is_required(self, float_pth: Path) -> None:
        """A plain state_dict without arch= raises CheckpointMismatchError telling to pass it."""
        with pytest.raises(CheckpointMismatchError, match="arch=") as info:
            load_checkpoint(float_pth)
        assert str(float_pth) in str(info.value)

    def test_quantizer_needs_bits(self, float_pth: Path) -> None:
        """A plain state_dict with quantizer= but no bits= raises CheckpointMismatchError."""
        with pytest.raises(CheckpointMismatchError, match="bits="):
            load_checkpoint(float_pth, quantizer="lsq", **PLAIN)

    @pytest.mark.parametrize("quantizer", QUANTIZERS)
    def test_quantized_pth_loads(
        self, tmp_path: Path, quantized_models: dict[str, nn.Module], quantizer: str
    ) -> None:
        """A quantized model's state_dict as .pth loads with quantizer/bits, identical outputs."""
        model = quantized_models[quantizer]
        path = tmp_path / f"{quantizer}.pth"
        torch.save(model.state_dict(), path)
        loaded = load_checkpoint(path, quantizer=quantizer, bits=BITS, **PLAIN)
        _assert_same_state(model, loaded)
        x = _batch(5)
        assert torch.equal(_outputs(model, x), _outputs(loaded, x))
        assert loaded.robustmq_config["quantizer"] == quantizer
        assert loaded.robustmq_config["bits"] == BITS


# -- saving -------------------------------------------------------------------------------------


class TestSaveCheckpoint:
    def test_model_without_config(self, tmp_path: Path) -> None:
        """Saving a model not built by create_model raises InvalidOptionError; nothing written."""
        with pytest.raises(InvalidOptionError, match="robustmq_config"):
            save_checkpoint(nn.Linear(2, 2), tmp_path / "linear.safetensors")
        assert _files(tmp_path) == []

    @pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", torch.zeros(1)])
    def test_non_json_meta(self, tmp_path: Path, float_model: nn.Module, value: object) -> None:
        """Meta that json cannot encode raises InvalidOptionError naming the path."""
        path = tmp_path / "model.safetensors"
        with pytest.raises(InvalidOptionError, match="JSON") as info:
            save_checkpoint(float_model, path, profile="synthetic", extra=value)
        assert str(path) in str(info.value)
        assert _files(tmp_path) == []

    def test_circular_meta(self, tmp_path: Path, float_model: nn.Module) -> None:
        """A self-referencing meta raises InvalidOptionError like any other non-JSON meta."""
        recipe: dict[str, Any] = {}
        recipe["self"] = recipe
        with pytest.raises(InvalidOptionError, match="JSON"):
            save_checkpoint(float_model, tmp_path / "model.safetensors", recipe=recipe)

    def test_no_stray_files(self, tmp_path: Path, float_model: nn.Module) -> None:
        """Saving (and overwriting) leaves only the checkpoint in the folder."""
        path = save_checkpoint(float_model, tmp_path / "model.safetensors")
        assert path == tmp_path / "model.safetensors"
        save_checkpoint(float_model, path, run=2)
        assert _files(tmp_path) == ["model.safetensors"]
        assert read_checkpoint_metadata(path)["meta"] == {"run": 2}

    def test_creates_parent_folders(self, tmp_path: Path, float_model: nn.Module) -> None:
        """save_checkpoint creates missing parent folders and accepts a str path."""
        path = save_checkpoint(float_model, str(tmp_path / "a" / "b" / "model.safetensors"))
        assert path.is_file()
        assert _files(path.parent) == ["model.safetensors"]

    def test_failed_write_keeps_old_file(
        self, tmp_path: Path, float_model: nn.Module, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A write that fails midway leaves the previous checkpoint intact and no temp file."""
        path = save_checkpoint(float_model, tmp_path / "model.safetensors", run=1)
        before = path.read_bytes()

        def failing_save_file(tensors: Any, filename: Any, metadata: Any = None) -> None:
            Path(filename).write_bytes(b"partial")
            raise OSError("disk full")

        monkeypatch.setattr(safetensors.torch, "save_file", failing_save_file)
        with pytest.raises(OSError, match="disk full"):
            save_checkpoint(float_model, path, run=2)
        assert path.read_bytes() == before
        assert _files(tmp_path) == ["model.safetensors"]

    def test_file_mode_follows_umask(self, tmp_path: Path, float_model: nn.Module) -> None:
        """The checkpoint gets the same permissions as any file created with open()."""
        reference = tmp_path / "reference"
        reference.write_bytes(b"")
        path = save_checkpoint(float_model, tmp_path / "model.safetensors")
        assert oct(path.stat().st_mode & 0o777) == oct(reference.stat().st_mode & 0o777)

    def test_written_metadata_is_json(self, tmp_path: Path, float_model: nn.Module) -> None:
        """The raw safetensors metadata stores config and meta as JSON strings."""
        path = save_checkpoint(float_model, tmp_path / "model.safetensors", **META)
        raw = _metadata(path)
        assert json.loads(raw["meta"]) == META
        assert json.loads(raw["config"])["arch"] == ARCH
        assert raw["format_version"] == "1"
