"""Predictions of a model on a tensor of images, batch by batch, on any device."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def predict(
    model: nn.Module,
    images: Tensor,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> Tensor:
    """Top-1 class of every image (``images``: float [N, 3, H, W] in [0, 1]); int64 [N] on the CPU.

    The model is put in eval mode; it must already live on ``device``.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    out = [
        model(images[i : i + batch_size].to(device, non_blocking=True)).argmax(1).cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)
