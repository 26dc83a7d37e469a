"""Checkpoints: weights in safetensors, with the configuration needed to rebuild the model.

A RobustMQ checkpoint is one ``.safetensors`` file whose string metadata holds
``format`` (``robustmq-checkpoint``), ``format_version``, ``config`` (JSON: arch, num_classes,
width, mean, std, quantizer, bits, policy), ``meta`` (JSON: whatever the caller passed, e.g.
profile, dataset, training recipe, accuracy), ``robustmq_version``, ``weights_sha256`` (a hash of
the tensors, so a damaged file is detected) and ``content_sha256`` (a hash of ``format``,
``format_version``, ``config``, ``meta`` and ``weights_sha256``, so an edited configuration is
detected too; files saved before it load with an :class:`UnverifiedCheckpointWarning`).
Plain state_dicts (torchvision-style ``.pth`` or ``.safetensors``) load too when the caller names
the architecture and quantization (the width, if not given, is inferred from the convolution
shapes); ``.pth`` files are read with ``torch.load(weights_only=True)`` and never unpickle code.
A safetensors header over :data:`MAX_HEADER_BYTES` (safetensors' own limit, 100 MB) is refused
before it is read (:class:`CheckpointHeaderTooLargeError`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from robustmq._checkpoint_files import (
    MAX_HEADER_BYTES,
    CheckpointHeaderTooLargeError,
    _existing_file,
    _head,
    _read_file,
    _safetensors_metadata,
    _safetensors_tensors,
    _sniff,
    _torch_state_dict,
)
from robustmq._checkpoint_hashes import (
    CONTENT_KEYS,
    UnverifiedCheckpointWarning,
    content_sha256,
    state_dict_sha256,
    verify_hashes,
)
from robustmq._checkpoint_widths import infer_width, plain_width
from robustmq._fs import atomic_path
from robustmq._signatures import taking_arguments_of
from robustmq._version import __version__
from robustmq.exceptions import (
    CheckpointMismatchError,
    CorruptCheckpointError,
    InvalidOptionError,
    StateDictKeysError,
)
from robustmq.hashing import sha256_file
from robustmq.models import create_model, external_model
from robustmq.quant import quantize_model

FORMAT = "robustmq-checkpoint"
FORMAT_VERSION = "1"
#: The quantizer name of a float model.
FLOAT = "fp32"
#: Keys of ``config`` a caller may pin when loading (a mismatch is an error).
CONFIG_KEYS = ("arch", "num_classes", "width", "quantizer", "bits", "policy")
_LISTED = 5  # how many offending keys an error message lists
__all__ = [
    "CONFIG_KEYS",
    "CONTENT_KEYS",
    "FLOAT",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "Checkpoint",
    "CheckpointHeaderTooLargeError",
    "UnverifiedCheckpointWarning",
    "content_sha256",
    "file_sha256",
    "load_checkpoint",
    "model_config",
    "open_checkpoint",
    "read_checkpoint_metadata",
    "save_checkpoint",
    "state_dict_sha256",
]


#: Deprecated alias of :func:`robustmq.hashing.sha256_file` (hex sha256 of a file's bytes).
file_sha256 = sha256_file


def model_config(model: nn.Module) -> dict[str, Any]:
    """The full configuration of a model built by ``create_model`` (and ``quantize_model``)."""
    config = getattr(model, "robustmq_config", None)
    if not isinstance(config, dict):
        raise InvalidOptionError(
            f"model ({type(model).__name__}) has no robustmq_config; expected a model built by "
            "robustmq.create_model (optionally converted by robustmq.quantize_model)"
        )
    full = dict(config)
    full.setdefault("quantizer", FLOAT)
    full.setdefault("bits", 32)
    full.setdefault("policy", None)
    return full


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str], **meta: Any) -> Path:
    """Write ``model``'s weights and configuration (plus ``meta``) to ``path`` atomically.

    ``meta`` must be JSON-serialisable (profile, dataset, training recipe, metrics...).
    Returns the path written.
    """
    path = Path(path)
    config = model_config(model)
    try:
        meta_json = json.dumps(meta, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(
            f"checkpoint meta for {path} is not JSON-serialisable: {exc}"
        ) from exc
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(config, sort_keys=True),
        "meta": meta_json,
        "robustmq_version": __version__,
        "torch_version": str(torch.__version__),
        "weights_sha256": state_dict_sha256(tensors),
    }
    metadata["content_sha256"] = content_sha256(metadata)
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_checkpoint_metadata(
    path: str | os.PathLike[str], *, verify: bool = False
) -> dict[str, Any]:
    """The decoded metadata of a RobustMQ checkpoint (``config`` and ``meta`` as dicts).

    Only the header is read, unless ``verify``: then the whole file is read once, its tensors
    must match the recorded ``weights_sha256`` and its metadata the recorded ``content_sha256``
    (:class:`CorruptCheckpointError` otherwise).
    """
    path = _existing_file(path)
    data = _read_file(path) if verify else _head(path)
    if _sniff(path, data, path.stat().st_size) != "safetensors":
        raise CorruptCheckpointError(f"{path}: not a safetensors file, so it has no metadata")
    raw = _safetensors_metadata(path, data, path.stat().st_size)
    if verify:
        verify_hashes(path, raw, _safetensors_tensors(path, data))
    return _decode_metadata(path, raw)


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A checkpoint opened by :func:`open_checkpoint`: the model and what the file says about it.

    ``sha256`` is the file's (the bytes the model was built from); ``config`` the configuration
    the model was built with; ``meta`` the caller's metadata (empty for a plain state_dict);
    ``weights_sha256`` the recorded tensor hash (None for a plain state_dict).
    """

    model: nn.Module
    path: Path
    sha256: str
    config: dict[str, Any]
    meta: dict[str, Any]
    weights_sha256: str | None = None


def open_checkpoint(
    path: str | os.PathLike[str],
    *,
    arch: str | None = None,
    quantizer: str | None = None,
    bits: int | None = None,
    policy: str | None = None,
    num_classes: int | None = None,
    width: float | None = None,
    device: str | torch.device = "cpu",
    verify: bool = True,
) -> Checkpoint:
    """Rebuild the model stored at ``path`` (in eval mode on ``device``) from one read of the file.

    The file's bytes are read once: they are hashed (``Checkpoint.sha256``) and the model is built
    from them. For a RobustMQ checkpoint every given keyword must agree with the stored
    configuration (:class:`CheckpointMismatchError` otherwise). For a plain state_dict (``.pth``/
    ``.pt`` read with ``weights_only=True``, or a ``.safetensors`` without RobustMQ metadata)
    ``arch`` is required, ``quantizer`` defaults to ``"fp32"`` and ``width`` to the one its
    convolution shapes fit (a given ``width`` they do not fit: :class:`CheckpointMismatchError`).
    ``verify`` checks the stored weights and content hashes (:class:`CorruptCheckpointError` on a
    mismatch).
    """
    path = _existing_file(path)
    data = _read_file(path)
    kind = _sniff(path, data, len(data))
    requested = {
        "arch": arch,
        "quantizer": quantizer,
        "bits": bits,
        "policy": policy,
        "num_classes": num_classes,
        "width": width,
    }
    meta: dict[str, Any] = {}
    recorded = None
    plain = True
    if kind == "safetensors":
        raw = _safetensors_metadata(path, data, len(data))
        state_dict = _safetensors_tensors(path, data)
        if raw.get("format") == FORMAT:
            plain = False
            stored = _decode_metadata(path, raw)
            config, meta = stored["config"], stored["meta"]
            _check_requested(path, config, requested)
            recorded = raw.get("weights_sha256")
            if verify:
                verify_hashes(path, raw, state_dict)
        else:
            config = _config_from_request(path, requested, state_dict)
    else:
        state_dict = _torch_state_dict(path, data)
        config = _config_from_request(path, requested, state_dict)

    model = _build(path, config)
    _load_state_dict(path, model, state_dict, plain)
    model.eval().to(device)
    return Checkpoint(
        model=model,
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        config=config,
        meta=meta,
        weights_sha256=recorded,
    )


@taking_arguments_of(open_checkpoint)
def load_checkpoint(checkpoint: Checkpoint) -> nn.Module:
    """The model of :func:`open_checkpoint` (same arguments, same checks), in eval mode.

    Deprecated: the model's ``robustmq_checkpoint`` attribute (path, file sha256, config and meta)
    is still set for old callers; use :func:`open_checkpoint` to get them as a
    :class:`Checkpoint`.
    """
    c = checkpoint
    info = {"path": str(c.path), "sha256": c.sha256, "config": c.config, "meta": c.meta}
    c.model.robustmq_checkpoint = info  # type: ignore[assignment]
    return c.model


# -- reading files -------------------------------------------------------------------------


def _decode_metadata(path: Path, raw: Mapping[str, str]) -> dict[str, Any]:
    try:
        config = json.loads(raw["config"])
        meta = json.loads(raw.get("meta", "{}"))
    except (KeyError, json.JSONDecodeError, RecursionError) as exc:
        raise CorruptCheckpointError(f"{path}: corrupt RobustMQ metadata ({exc!r})") from exc
    required = ("arch", "num_classes", "width")
    if not isinstance(config, dict) or any(k not in config for k in required):
        raise CorruptCheckpointError(
            f"{path}: corrupt RobustMQ metadata: 'config' must be an object with "
            f"{', '.join(required)}; found {str(config)[:80]!r}"
        )
    if not isinstance(meta, dict):
        raise CorruptCheckpointError(f"{path}: corrupt RobustMQ metadata: 'meta' is not an object")
    return {**raw, "config": config, "meta": meta}


# -- building the model -------------------------------------------------------------------


def _normalise(key: str, value: Any) -> Any:
    if key == "quantizer" and value in (None, FLOAT):
        return FLOAT
    if key == "width" and value is not None:
        return float(value)
    return value


def _check_requested(path: Path, config: Mapping[str, Any], requested: Mapping[str, Any]) -> None:
    for key, want in requested.items():
        if want is None:
            continue
        have = _normalise(key, config.get(key))
        if key == "bits" and config.get("quantizer") in (None, FLOAT):
            have = 32
        if _normalise(key, want) != have:
            raise CheckpointMismatchError(
                f"{path}: checkpoint has {key}={have!r} but {key}={want!r} was requested"
            )


def _config_from_request(
    path: Path, requested: Mapping[str, Any], state_dict: Mapping[str, Tensor]
) -> dict[str, Any]:
    if requested["arch"] is None:
        raise CheckpointMismatchError(
            f"{path} is a plain state_dict without RobustMQ metadata; pass arch= (and quantizer=, "
            "bits= for a quantized model) to load it"
        )
    quantizer = _normalise("quantizer", requested["quantizer"])
    if quantizer != FLOAT and requested["bits"] is None:
        raise CheckpointMismatchError(f"{path}: quantizer={quantizer!r} needs bits= as well")
    return {
        "arch": requested["arch"],
        "num_classes": requested["num_classes"] or 1000,
        "width": _plain_width(path, requested["arch"], requested["width"], state_dict),
        "quantizer": quantizer,
        "bits": 32 if quantizer == FLOAT else requested["bits"],
        "policy": None if quantizer == FLOAT else requested["policy"] or "academic",
    }


def _plain_width(
    path: Path, arch: str, width: float | None, state_dict: Mapping[str, Tensor]
) -> float:
    """The width of a plain state_dict (1.0 for a registered model: width does not apply)."""
    if external_model(arch) is not None:
        return 1.0 if width is None else float(width)
    return plain_width(path, arch, width, state_dict)


def _build(path: Path, config: Mapping[str, Any]) -> nn.Module:
    kwargs = {k: config[k] for k in ("mean", "std", "stem") if k in config}
    model = create_model(
        config["arch"], num_classes=config["num_classes"], width=config["width"], **kwargs
    )
    if _normalise("quantizer", config.get("quantizer")) != FLOAT:
        model = quantize_model(
            model, config["quantizer"], config["bits"], config.get("policy") or "academic"
        )
    return model


def _load_state_dict(
    path: Path, model: nn.Module, state_dict: Mapping[str, Tensor], plain: bool = False
) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        ):
            if keys:
                more = f" (+{len(keys) - _LISTED} more)" if len(keys) > _LISTED else ""
                parts.append(f"{label} {len(keys)}: {', '.join(keys[:_LISTED])}{more}")
        hint = ""
        if missing and all("_quantizer." in k for k in missing):
            hint = (
                "; these are quantizer parameters: float weights load with quantizer='fp32', then "
                "quantize_model() and calibrate or fine-tune"
            )
        config = getattr(model, "robustmq_config", {})
        arch = config.get("arch", "")
        entry = external_model(arch)
        if entry is not None:
            hint += (
                f"; expected the state_dict of the model its factory {entry.source}"
                f"(num_classes={config.get('num_classes')}) builds (registered as {arch!r})"
            )
        elif plain and wrong and infer_width(arch, state_dict) is None:
            hint += f"; no width of {arch} fits its convolution shapes: is arch= right?"
        raise StateDictKeysError(
            f"{path}: state_dict does not fit {config.get('arch')} "
            f"({config.get('quantizer', FLOAT)}, bits={config.get('bits', 32)}): "
            + "; ".join(parts)
            + hint
        )
    model.load_state_dict(state_dict, strict=True)
