"""Fault injection (issue 15, cases 3-5): safetensors header length, config hash, plain widths."""

from __future__ import annotations

import hashlib
import json
import struct
import tracemalloc
import warnings
from pathlib import Path

import pytest
import safetensors.torch
import torch
from safetensors import safe_open
from torch import nn

from robustmq.checkpoints import (
    MAX_HEADER_BYTES,
    CheckpointHeaderTooLargeError,
    UnverifiedCheckpointWarning,
    open_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
    state_dict_sha256,
)
from robustmq.exceptions import (
    CheckpointMismatchError,
    CorruptCheckpointError,
    StateDictKeysError,
)
from robustmq.models import create_model
from robustmq.quant import quantize_model

ARCH = "resnet18"


def _model(width: float = 0.25, quantizer: str | None = None, bits: int = 2) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(ARCH, num_classes=10, width=width)
    return quantize_model(model, quantizer, bits) if quantizer else model


def _rewrite(source: Path, target: Path, edit: dict[str, str | None]) -> None:
    """``source``'s tensors and metadata, with the metadata ``edit``ed (None: removed)."""
    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    for key, value in edit.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    safetensors.torch.save_file(tensors, str(target), metadata=metadata)


# -- case 3: the header length ----------------------------------------------------------------


class TestHeaderLength:
    @pytest.mark.parametrize("claimed", [2 * 2**30, 6 * 2**30, MAX_HEADER_BYTES + 1])
    def test_huge_header_length_is_refused_before_reading(
        self, tmp_path: Path, claimed: int
    ) -> None:
        """Issue 15, case 3 (safetensors header length trusted: a file claiming a 2 GiB header
        made the reader allocate and read it, 6 GiB ended in MemoryError): the length is bounded
        by safetensors' own limit (100,000,000 bytes) before anything more is read, and the error
        is typed and names the file. The file is sparse, as long as its header claims."""
        path = tmp_path / "huge.safetensors"
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", claimed) + b'{"__metadata__":{}}')
            f.truncate(8 + claimed)
        tracemalloc.start()
        try:
            for read in (
                open_checkpoint,
                read_checkpoint_metadata,
                lambda p: read_checkpoint_metadata(p, verify=True),
            ):
                with pytest.raises(CheckpointHeaderTooLargeError, match="100,000,000") as info:
                    read(path)
                assert str(path) in str(info.value)
                assert isinstance(info.value, CorruptCheckpointError)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 10 * 2**20, f"{peak / 2**20:.0f} MiB allocated"

    def test_the_limit_is_safetensors_own(self) -> None:
        """MAX_HEADER_SIZE in safetensors/src/tensor.rs is 100_000_000: any file safetensors can
        load has a header within the limit. A header at the limit but cut short is 'truncated'."""
        assert MAX_HEADER_BYTES == 100_000_000

    def test_header_at_the_limit_is_read_as_truncated(self, tmp_path: Path) -> None:
        """A header length at the limit is allowed; here the file is short, so 'truncated'."""
        path = tmp_path / "short.safetensors"
        path.write_bytes(struct.pack("<Q", MAX_HEADER_BYTES) + b"{}")
        with pytest.raises(CorruptCheckpointError, match="truncated") as info:
            read_checkpoint_metadata(path)
        assert not isinstance(info.value, CheckpointHeaderTooLargeError)


# -- case 4: the configuration is covered by a hash ---------------------------------------------


@pytest.fixture(scope="module")
def lsq2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lsq2") / "lsq2.safetensors"
    return save_checkpoint(_model(quantizer="lsq", bits=2), path, profile="synthetic")


class TestConfigHash:
    def test_edited_bits_are_detected(self, tmp_path: Path, lsq2: Path) -> None:
        """Issue 15, case 4 (the sha256 covered only the weights: a checkpoint whose config was
        edited from bits 2 to 4 loaded as 4-bit): content_sha256 covers the config, so the edit
        is a CorruptCheckpointError naming the file, in open_checkpoint and verified metadata."""
        config = read_checkpoint_metadata(lsq2)["config"]
        assert config["bits"] == 2
        path = tmp_path / "edited.safetensors"
        _rewrite(lsq2, path, {"config": json.dumps({**config, "bits": 4}, sort_keys=True)})
        for read in (open_checkpoint, lambda p: read_checkpoint_metadata(p, verify=True)):
            with pytest.raises(CorruptCheckpointError, match="content_sha256") as info:
                read(path)
            assert str(path) in str(info.value)
        assert open_checkpoint(path, verify=False).config["bits"] == 4  # what verify guards

    def test_edited_meta_is_detected(self, tmp_path: Path, lsq2: Path) -> None:
        """Issue 15, case 4: the meta (recipe key, accuracy ...) is covered too."""
        path = tmp_path / "meta.safetensors"
        _rewrite(lsq2, path, {"meta": json.dumps({"profile": "imagenet"})})
        with pytest.raises(CorruptCheckpointError, match="content_sha256"):
            open_checkpoint(path)

    def test_old_files_load_with_a_warning_and_keep_their_hashes(
        self, tmp_path: Path, lsq2: Path
    ) -> None:
        """Issue 15, case 4: a file saved before content_sha256 (as the zoo cache's) still loads,
        with an UnverifiedCheckpointWarning naming it; Checkpoint.sha256 (recorded as
        checkpoint_sha256) is still the file's sha256 and weights_sha256 the tensors' hash."""
        path = tmp_path / "old.safetensors"
        _rewrite(lsq2, path, {"content_sha256": None})
        with pytest.warns(UnverifiedCheckpointWarning, match="content_sha256") as caught:
            checkpoint = open_checkpoint(path)
        assert str(path) in str(caught[0].message)
        assert checkpoint.config["bits"] == 2
        assert checkpoint.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert checkpoint.weights_sha256 == state_dict_sha256(checkpoint.model.state_dict())
        with warnings.catch_warnings():  # once per file and process: a run loads it many times
            warnings.simplefilter("error")
            read_checkpoint_metadata(path, verify=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            read_checkpoint_metadata(path)  # the header alone verifies nothing: no warning
            open_checkpoint(lsq2)  # a new file: verified, no warning


# -- case 5: the width of a plain state_dict -----------------------------------------------------


class TestPlainWidth:
    def test_width_is_inferred_from_the_shapes(self, tmp_path: Path) -> None:
        """Issue 15, case 5 (a plain .pth at the profile's width 0.25 was read as width 1.0 and
        failed with 101 wrong shapes): without width= the width is inferred from the
        convolution shapes, and the weights load exactly."""
        model = _model(0.25)
        path = tmp_path / "plain.pth"
        torch.save(model.state_dict(), path)
        checkpoint = open_checkpoint(path, arch=ARCH, num_classes=10)
        assert checkpoint.config["width"] == 0.25
        loaded = checkpoint.model.state_dict()
        assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())

    def test_a_width_the_shapes_do_not_fit_is_a_clear_error(self, tmp_path: Path) -> None:
        """Issue 15, case 5: width= that disagrees with the shapes is a CheckpointMismatchError
        naming the file and the width they fit; a fitting width= loads."""
        path = tmp_path / "plain.pth"
        torch.save(_model(0.25).state_dict(), path)
        with pytest.raises(CheckpointMismatchError, match=r"width=0\.25") as info:
            open_checkpoint(path, arch=ARCH, num_classes=10, width=1.0)
        assert str(path) in str(info.value)
        assert open_checkpoint(path, arch=ARCH, num_classes=10, width=0.25).config["width"] == 0.25

    def test_quantized_and_full_width_plain_state_dicts(self, tmp_path: Path) -> None:
        """Issue 15, case 5: a quantized plain state_dict infers its width too; width 1.0 stays
        1.0; shapes that fit no width keep the shape error, with a hint."""
        path = tmp_path / "lsq.pth"
        torch.save(_model(0.5, "lsq", 4).state_dict(), path)
        checkpoint = open_checkpoint(path, arch=ARCH, num_classes=10, quantizer="lsq", bits=4)
        assert checkpoint.config["width"] == 0.5
        path = tmp_path / "full.pth"
        torch.save(_model(1.0).state_dict(), path)
        assert open_checkpoint(path, arch=ARCH, num_classes=10).config["width"] == 1.0
        state = _model(0.25).state_dict()
        state["conv1.weight"] = torch.zeros(3, 3, 7, 7)
        torch.save(state, path)
        with pytest.raises(StateDictKeysError, match="no width of resnet18 fits"):
            open_checkpoint(path, arch=ARCH, num_classes=10)
