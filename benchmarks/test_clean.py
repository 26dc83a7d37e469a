"""Clean accuracy: one cell per model of the grid (52), ids such as ``resnet18-lsq-4bit``."""

import pytest

pytestmark = pytest.mark.clean


def test_clean(spec, cell, rmq) -> None:  # type: ignore[no-untyped-def]
    """Top-1 accuracy of the model on the profile's clean evaluation set."""
    rmq.evaluate(spec, cell)
