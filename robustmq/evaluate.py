"""Evaluation of a model on prepared inputs: predictions -> per-sample correctness -> metrics."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robustmq.metrics import accuracy
from robustmq.predict import predict


def evaluate_clean(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> tuple[dict[str, float], Tensor]:
    """Clean top-1 accuracy; returns ``({"accuracy": a}, correct)`` with per-sample correctness."""
    correct = predict(model, images, batch_size, device) == labels.cpu()
    return {"accuracy": accuracy(correct)}, correct
