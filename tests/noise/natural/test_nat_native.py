"""The native comparison: accuracy on source-corrupted images through the resize and as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from robustmq.data import Pipeline
from robustmq.data.pipeline import to_tensor
from robustmq.exceptions import InvalidOptionError
from robustmq.noise.natural.generate import corrupt_array
from robustmq.noise.natural.native import NativeAccuracies, format_native, native_accuracies
from robustmq.noise.natural.perf import main as perf_main
from robustmq.noise.natural.scales import get_scale
from robustmq.predict import predict

N = 16
NAMES = ("gaussian_noise", "contrast")


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))


@pytest.fixture
def data() -> tuple[np.ndarray, torch.Tensor, list[str]]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(N, 8, 8, 3), dtype=np.uint8)
    sources = np.ascontiguousarray(np.repeat(np.repeat(base, 4, axis=1), 4, axis=2))
    labels = torch.as_tensor(rng.integers(0, 10, size=N))
    return sources, labels, [f"class/{i:03d}.jpg" for i in range(N)]


def _models() -> dict[str, nn.Module]:
    models = {"a": _model(0), "b": _model(1)}
    for model in models.values():
        model(torch.zeros(1, 3, 32, 32))  # materialise the lazy layer
    return models


def test_identity_resize_gives_equal_columns(data) -> None:
    sources, labels, ids = data
    pipeline = Pipeline(resize_size=32, crop_size=32)  # a resize to the image's size: identity
    result = native_accuracies(
        _models(), sources, labels, ids, pipeline, get_scale("cifar10"), seed=3, corruptions=NAMES
    )
    assert result.n_images == N
    assert result.severities == (1, 2, 3, 4, 5)
    for values in [result.clean, *result.corrupted.values()]:
        for through, native in values.values():
            assert through == native


def test_through_is_what_the_natural_cells_see(data) -> None:
    """'through' equals the accuracy on the natural cells' own sets (same seeds, same pixels)."""
    sources, labels, ids = data
    pipeline = Pipeline(resize_size=36, crop_size=32)
    scale = get_scale("cifar10")
    models = _models()
    result = native_accuracies(
        models, sources, labels, ids, pipeline, scale, seed=7, corruptions=NAMES, severities=(1, 5)
    )
    for name in NAMES:
        for key, model in models.items():
            accs = []
            for severity in (1, 5):
                images = corrupt_array(
                    sources, ids, name, severity, seed=7, scale=scale, pipeline=pipeline
                )
                x = torch.stack([to_tensor(image) for image in images])
                accs.append(float((predict(model, x) == labels).float().mean()))
            assert result.corrupted[name][key][0] == pytest.approx(np.mean(accs), abs=1e-12)


def test_refuses_crop_scales_and_wrong_sizes(data) -> None:
    sources, labels, ids = data
    pipeline = Pipeline(resize_size=36, crop_size=32)
    with pytest.raises(InvalidOptionError, match="corrupts the crop"):
        native_accuracies(_models(), sources, labels, ids, pipeline, get_scale("imagenet"), seed=0)
    with pytest.raises(InvalidOptionError, match="N x 32 x 32 x 3"):
        native_accuracies(
            _models(), sources[:, :16], labels, ids, pipeline, get_scale("cifar10"), seed=0
        )
    with pytest.raises(InvalidOptionError, match="as many of each"):
        native_accuracies(
            _models(), sources, labels[:3], ids, pipeline, get_scale("cifar10"), seed=0
        )


def _result() -> NativeAccuracies:
    corrupted = {
        "gaussian_noise": {"m": (0.9, 0.5)},
        "fog": {"m": (0.7, 0.7)},
        "contrast": {"m": (0.5, 0.9)},
    }
    return NativeAccuracies(("m",), {"m": (0.9, 0.85)}, corrupted, (1, 2), 10)


def test_format_ranks_each_column_against_the_reference() -> None:
    reference = {"gaussian_noise": 40.0, "fog": 60.0, "contrast": 80.0}
    text = format_native(_result(), reference, "Standard")
    lines = text.splitlines()
    assert lines[0] == "| corruption | Standard | m through | m native |"
    assert "| gaussian_noise | 40.00 | 90.0 | 50.0 |" in lines
    assert "| mean | 60.00 | 70.0 | 70.0 |" in lines
    assert "| clean | - | 90.0 | 85.0 |" in lines
    # through ranks noise best (reversed order): -1; native follows the reference: +1
    assert "| Spearman's rho |  | -1.000 | +1.000 |" in lines
    assert "10 images" in text
    assert "severities 1, 2" in text


def test_format_without_reference_has_no_rho() -> None:
    text = format_native(_result())
    assert "Spearman" not in text
    assert text.splitlines()[0] == "| corruption | m through | m native |"


def test_cli_names_a_missing_zoo_checkpoint(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        perf_main(["native", "--profile", "cifar10", "--models", "resnet18-fp32"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "resnet18-fp32.safetensors" in err
    assert "robustmq zoo build --profile cifar10" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--per-class", "0"], "--per-class must be at least 1; got 0"),
        (["--corruptions", "glas_blur"], "glas_blur"),
        (["--models", "resnet18-4bit"], "model id 'resnet18-4bit' is malformed"),
        (["--profile", "synthetic"], "expected a profile such as cifar10"),
    ],
)
def test_cli_refuses_bad_options(args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        perf_main(["native", *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_format_ties_equal_accuracies_despite_rounding_noise() -> None:
    """Means over severities that are equal in exact arithmetic tie (as in the report's table)."""
    a = (0.1 + 0.2 + 0.3) / 3  # 0.20000000000000004
    corrupted = {"x": {"m": (a, a)}, "y": {"m": (0.2, 0.2)}, "z": {"m": (0.5, 0.5)}}
    result = NativeAccuracies(("m",), {"m": (1.0, 1.0)}, corrupted, (1,), 10)
    text = format_native(result, {"x": 2.0, "y": 1.0, "z": 3.0})
    # ties -> ranks (1.5, 1.5, 3) against (2, 1, 3): rho = 0.866; unrounded x > y and rho = +1
    assert "| Spearman's rho |  | +0.866 | +0.866 |" in text.splitlines()
