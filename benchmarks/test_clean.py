"""Clean accuracy: one cell per model of the grid (52), ids such as ``resnet18-lsq-4bit``."""

from __future__ import annotations

import pytest

from robustmq.cells import ModelSpec, model_grid
from robustmq.evaluate import evaluate_clean

pytestmark = pytest.mark.clean


@pytest.mark.parametrize("spec", model_grid(), ids=str)
def test_clean(spec: ModelSpec, rmq) -> None:  # type: ignore[no-untyped-def]
    """Top-1 accuracy of the model on the profile's clean evaluation set."""
    loaded = rmq.load(spec)
    data = rmq.eval_data()
    metrics, correct = evaluate_clean(
        loaded.model, data.images, data.labels, rmq.settings.batch_size, rmq.device
    )
    rmq.record(
        loaded,
        family="clean",
        noise="clean",
        params={},
        metrics=metrics,
        correct=correct,
    )
