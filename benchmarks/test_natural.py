"""Natural corruptions: one cell per model x ImageNet-C corruption x severity (52 x 15 x 5).

Ids such as ``resnet50-pact-4bit-impulse_noise-s3``; markers ``natural`` and the corruption's group
(``noise``, ``blur``, ``weather``, ``digital``). The corrupted sets do not depend on the model: the
first cell of a process makes sure every set the session selected is on disk (generated once, in a
process pool, shared by every model and xdist worker, or read from ``--rmq-imagenet-c``); each cell
then reads its set from a per-process cache and runs one batched evaluation.

Samples: ``--rmq-n-samples`` when given; otherwise the profile's natural default
(:data:`~robustmq.noise.natural.sets.NATURAL_PER_CLASS`: synthetic 10 per class, a subset of the
clean set). The records carry their own sample set (``run.sample_sets``).
"""

from __future__ import annotations

import pytest

from robustmq.benchmark.session import SAMPLE_SET_KEY
from robustmq.cells import ModelSpec, model_grid
from robustmq.evaluate import evaluate_clean
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names, get_corruption
from robustmq.noise.natural.sets import NaturalSets, eval_dataset, natural_per_class

pytestmark = pytest.mark.natural


def _cells() -> list[object]:
    return [
        pytest.param(
            spec,
            name,
            severity,
            id=f"{spec.id}-{name}-s{severity}",
            marks=getattr(pytest.mark, get_corruption(name).group),
        )
        for spec in model_grid()
        for name in corruption_names()
        for severity in SEVERITIES
    ]


@pytest.fixture(scope="session")
def natural_sets(rmq_context, request: pytest.FixtureRequest) -> NaturalSets:  # type: ignore[no-untyped-def]
    """The process's corrupted sets; every set the session selected is made ready at once."""
    settings = rmq_context.settings
    per_class = natural_per_class(
        settings.profile, rmq_context.profile.num_classes, settings.n_samples
    )
    dataset, pipeline = eval_dataset(settings.profile, settings.data_root, per_class, settings.seed)
    sets = NaturalSets(
        dataset,
        pipeline,
        seed=settings.seed,
        jpeg=settings.corruption_jpeg,
        imagenet_c=settings.imagenet_c,
    )
    selected = {
        (item.callspec.params["corruption"], item.callspec.params["severity"])
        for item in request.session.items
        if hasattr(item, "callspec") and "corruption" in item.callspec.params
    }
    sets.prepare(sorted(selected))
    return sets


@pytest.mark.parametrize(("spec", "corruption", "severity"), _cells())
def test_natural(  # type: ignore[no-untyped-def]
    spec: ModelSpec,
    corruption: str,
    severity: int,
    rmq,
    natural_sets: NaturalSets,
    request: pytest.FixtureRequest,
) -> None:
    """Top-1 accuracy of the model on the evaluation set under one corruption and severity."""
    loaded = rmq.load(spec)
    images = natural_sets.images(corruption, severity)
    metrics, correct = evaluate_clean(
        loaded.model, images, natural_sets.labels, rmq.settings.batch_size, rmq.device
    )
    digest = natural_sets.sample_ids_sha256
    rmq.record(
        loaded,
        family="natural",
        noise=f"{corruption}-s{severity}",
        params={
            "corruption": corruption,
            "severity": severity,
            "group": get_corruption(corruption).group,
            "source": natural_sets.source,
            "jpeg": natural_sets.jpeg,
        },
        metrics=metrics,
        correct=correct,
        extra_settings={
            "sample_ids_sha256": digest,
            "natural_set": natural_sets.provenance(corruption, severity),
        },
    )
    if not natural_sets.sample_set_sent:  # the ids travel once per process
        _attach_sample_set(request.node, digest, list(natural_sets.sample_ids))
        natural_sets.sample_set_sent = True


def _attach_sample_set(node: pytest.Item, digest: str, ids: list[str]) -> None:
    """Add the natural sample set to the report's sample sets (merged with one already there)."""
    for key, value in node.user_properties:
        if key == SAMPLE_SET_KEY and isinstance(value, dict):
            value[digest] = ids  # the collector keeps one entry per key: merge into it
            return
    node.user_properties.append((SAMPLE_SET_KEY, {digest: ids}))
