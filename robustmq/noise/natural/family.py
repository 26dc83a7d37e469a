"""The natural family: the 15 ImageNet-C corruptions x 5 severities, one cell each per model.

Ids such as ``resnet50-pact-4bit-impulse_noise-s3``; markers ``natural`` and the corruption's group
(``noise``, ``blur``, ``weather``, ``digital``). The corrupted sets do not depend on the model:
:meth:`NaturalFamily.prepare` makes sure every set the session selected is on disk (generated
once, in a process pool, shared by every model and xdist worker, or read from
``--rmq-imagenet-c``); each cell then reads its set from a per-run cache and runs one batched
evaluation. Samples: ``--rmq-n-samples`` when given, otherwise the profile's natural default
(:data:`~robustmq.noise.natural.sets.NATURAL_PER_CLASS`); the records carry their own sample set.
Corruption parameters and the image size they apply at: the profile's corruption scale
(``Profile.corruption_scale``, :mod:`~robustmq.noise.natural.scales`), unless
``--rmq-corruption-scale`` names another; the record's ``params`` name it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from robustmq.data.profiles import Profile
from robustmq.evaluate import evaluate_clean
from robustmq.noise.natural.corruptions import GROUPS, SEVERITIES, corruption_names, get_corruption
from robustmq.noise.natural.imagenet_c import check_imagenet_c_root
from robustmq.noise.natural.scales import scale_names
from robustmq.noise.natural.sets import NaturalSets, eval_dataset, natural_per_class
from robustmq.noise.natural.summary import summarize_natural
from robustmq.options import Option
from robustmq.results.family import EvalContext, Family, FamilyCell, LoadedModel, Metric, Outcome
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = ["CORRUPTION_JPEG", "CORRUPTION_SCALE", "IMAGENET_C", "NaturalFamily", "scale_of"]

IMAGENET_C = Option(
    "imagenet_c",
    None,
    "folder of the released ImageNet-C files (<root>/<corruption>/<severity>/<wnid>/...); "
    "natural cells read it instead of generating corruptions (default: generate)",
)
CORRUPTION_JPEG = Option(
    "corruption_jpeg",
    False,
    "round-trip generated corruptions through JPEG quality 85, as the released ImageNet-C files "
    "were saved (default: off)",
    kind=bool,
)
CORRUPTION_SCALE = Option(
    "corruption_scale",
    "profile",
    "corruption parameters and the image size they apply at: 'profile' (the profile's own: "
    "imagenet for imagenet, cifar10 for cifar10, synthetic for synthetic), 'imagenet' "
    "(ImageNet-C's table on the crop as it is), 'cifar10' (CIFAR-10-C's table on the 32 px "
    "source image), 'synthetic' (ImageNet-C's table at 224 px, DCT-resized there and back)",
    choices=("profile", *scale_names()),
)


def scale_of(profile: Profile, option: str | None) -> str:
    """The corruption scale a run uses: ``option`` unless it is ``profile`` (or None)."""
    return profile.corruption_scale if option in (None, "profile") else str(option)


def _sets(context: EvalContext) -> NaturalSets:
    """The run's corrupted sets at the model's pipeline (one object per run context and
    pipeline: the context's caches are kept per pipeline)."""
    cache = context.cache("natural")
    if "sets" not in cache:
        settings = context.settings
        per_class = natural_per_class(
            settings.profile, context.profile.num_classes, settings.n_samples
        )
        dataset, pipeline = eval_dataset(
            settings.profile, settings.data_root, per_class, settings.seed, context.pipeline
        )
        cache["sets"] = NaturalSets(
            dataset,
            pipeline,
            seed=settings.seed,
            jpeg=settings.option(CORRUPTION_JPEG.name),
            imagenet_c=settings.option(IMAGENET_C.name),
            scale=scale_of(context.profile, settings.option(CORRUPTION_SCALE.name)),
        )
    sets: NaturalSets = cache["sets"]
    return sets


class NaturalFamily(Family):
    """ImageNet-C corruptions (imagecorruptions-imaug), generated per image with its own seed."""

    name = "natural"
    description = "natural-corruption benchmark cells"
    markers: ClassVar[Mapping[str, str]] = {
        g: f"natural corruptions of the {g} group" for g in GROUPS
    }
    options = (IMAGENET_C, CORRUPTION_JPEG, CORRUPTION_SCALE)
    order = 20
    metrics = (Metric("accuracy", "top-1 accuracy on the corrupted set"),)
    summary_metrics = (
        Metric("mnr", "mean natural robustness: mean accuracy over the 15 corruptions"),
        Metric("mce", "mean corruption error against AlexNet", direction="lower"),
        Metric("rel_mce", "corruption error against the float model", direction="lower"),
        *(Metric(f"mnr_{g}", f"mean accuracy of the {g} group", role="supporting") for g in GROUPS),
    )

    def check_options(self, settings: Any) -> None:
        """``--rmq-imagenet-c``, when given, is a folder of ImageNet-C's layout."""
        root = settings.option(IMAGENET_C.name)
        if root is not None:
            check_imagenet_c_root(root)

    def cells(self, profile: Profile) -> list[FamilyCell]:
        """Every corruption x severity, corruption-major (marks: the corruption's group)."""
        return [
            FamilyCell(f"{name}-s{severity}", (get_corruption(name).group,), (name, severity))
            for name in corruption_names()
            for severity in SEVERITIES
        ]

    def prepare(self, cells: Sequence[FamilyCell], context: EvalContext) -> None:
        """Generate (or find on disk) every corrupted set of ``cells`` at once."""
        _sets(context).prepare(sorted({cell.data for cell in cells}))

    def evaluate(self, model: LoadedModel, cell: FamilyCell, context: EvalContext) -> Outcome:
        """Top-1 accuracy on one corrupted set (the family's own sample set)."""
        corruption, severity = cell.data
        sets = _sets(context)
        images = sets.images(corruption, severity)
        metrics, correct = evaluate_clean(
            model.model, images, sets.labels, context.settings.batch_size, context.device
        )
        return Outcome(
            metrics=metrics,
            correct=correct,
            params={
                "corruption": corruption,
                "severity": severity,
                "group": get_corruption(corruption).group,
                "source": sets.source,
                "jpeg": sets.jpeg,
                "scale": sets.scale,
            },
            provenance={"natural_set": sets.provenance(corruption, severity)},
            sample_ids=sets.sample_ids,
        )

    def summarize(self, own: Sequence[Record], every: Sequence[Record]) -> ModelSummary:
        """mNR, mCE, relative mCE and group means (see :mod:`.summary`)."""
        return summarize_natural(own, every)
