"""Systematic noise: every model of the grid x the 14 pre-processing variants (52 x 14 cells).

Cell ids such as ``mobilenet_v2-lsq-2bit-resize_pil_nearest`` or ``resnet18-fp32-decoder_opencv``;
markers ``systematic`` and ``decoder`` or ``resize``. A variant's set is built once per run (and
cached on disk) and shared by every model; the 14 cells of a model are consecutive.
"""

from __future__ import annotations

import pytest

from robustmq.cells import model_grid
from robustmq.noise.systematic.evaluate import evaluate_variant
from robustmq.noise.systematic.variants import get_variant, list_variants

pytestmark = pytest.mark.systematic

CELLS = [
    pytest.param(
        spec,
        name,
        id=f"{spec.id}-{name}",
        marks=getattr(pytest.mark, get_variant(name).step),
    )
    for spec in model_grid()
    for name in list_variants()
]


@pytest.mark.parametrize(("spec", "variant"), CELLS)
def test_systematic(spec, variant, rmq) -> None:  # type: ignore[no-untyped-def]
    """Top-1 accuracy on the variant's set and its difference to the reference pipeline's."""
    loaded = rmq.load(spec)
    result = evaluate_variant(
        loaded.model,
        variant,
        rmq.settings,
        model_key=f"{loaded.sha256}:{loaded.path}",
        device=rmq.device,
        expected_ids=rmq.eval_data().sample_ids,
    )
    rmq.record(
        loaded,
        family="systematic",
        noise=variant,
        params=result.params,
        metrics=result.metrics,
        correct=result.correct,
        extra_settings=result.extra_settings,
    )
