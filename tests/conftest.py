"""Test-suite settings: a Hypothesis profile that suits CPU torch (no deadline); shared fixtures."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from robustmq.checkpoints import save_checkpoint
from robustmq.data import ensure_synthetic
from robustmq.models import create_model
from robustmq.quant import calibrate, quantize_model

settings.register_profile(
    "robustmq", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("robustmq")


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic image folder and three untrained resnet18 checkpoints."""
    root = tmp_path_factory.mktemp("assets")
    data = ensure_synthetic(root / "data", train_per_class=1, val_per_class=3, size=40)
    ckpt = root / "ckpt"
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10, width=0.25)
    batch = torch.rand(8, 3, 32, 32)
    save_checkpoint(model, ckpt / "resnet18-fp32.safetensors", profile="test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, bits in (("lsq", 4), ("dorefa", 2)):
            q = quantize_model(model, name, bits)
            calibrate(q, [batch])
            save_checkpoint(q, ckpt / f"resnet18-{name}-{bits}bit.safetensors", profile="test")
    return {"data": data, "ckpt": ckpt}
