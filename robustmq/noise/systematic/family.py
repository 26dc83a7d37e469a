"""The systematic family: every model x the 14 pre-processing variants (decoders, resizes).

Cell ids such as ``mobilenet_v2-lsq-2bit-resize_pil_nearest`` or ``resnet18-fp32-decoder_opencv``;
markers ``systematic`` and ``decoder`` or ``resize``. A variant's set is built once per run (and
cached on disk) and shared by every model (see :mod:`.evaluate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from robustmq.data.profiles import Profile
from robustmq.noise.systematic.evaluate import evaluate_variant
from robustmq.noise.systematic.summary import summarize_systematic
from robustmq.noise.systematic.variants import GEOMETRIES, get_variant, list_variants
from robustmq.options import Option
from robustmq.results.family import EvalContext, Family, FamilyCell, LoadedModel, Metric, Outcome
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

__all__ = ["RESIZE_GEOMETRY", "SystematicFamily"]

#: The pipeline step a variant changes (its marker), and what that is.
STEPS = {"decoder": "image decoder", "resize": "resize method"}

RESIZE_GEOMETRY = Option(
    "resize_geometry",
    "aspect",
    "systematic cells: resize the shorter side keeping the aspect ratio (aspect, torchvision "
    "style) or to a square (square, as RobustART did) (default: aspect)",
    choices=tuple(GEOMETRIES),
)


def _own_input_size(context: EvalContext) -> int | None:
    """The model's crop when it is not the profile's (a model registered with an input size)."""
    crop = context.pipeline.crop_size
    return None if crop == context.profile.crop_size else crop


class SystematicFamily(Family):
    """RobustART's ImageNet-S: the reference pipeline with one step (decoder or resize) changed."""

    name = "systematic"
    description = "systematic-noise benchmark cells"
    markers: ClassVar[Mapping[str, str]] = {
        step: f"systematic cells that change the {what}" for step, what in STEPS.items()
    }
    options = (RESIZE_GEOMETRY,)
    order = 30
    metrics = (
        Metric("accuracy", "top-1 accuracy on the variant's set"),
        Metric("reference_accuracy", "top-1 accuracy on the reference set", role="supporting"),
        Metric(
            "delta_vs_reference",
            "accuracy minus reference accuracy (negative: the variant hurts)",
            role="supporting",
            unit="fraction difference",
        ),
    )
    summary_metrics = (
        Metric("accs", "mean accuracy over the variants (ACCs)"),
        Metric("accs_std", "population std of the accuracies", "lower", "diagnostic"),
        Metric("accs_range", "max - min of the accuracies", "lower", "diagnostic"),
    )

    def cells(self, profile: Profile) -> list[FamilyCell]:
        """The 14 variants in the protocol's order (marks: the step they change)."""
        return [FamilyCell(name, (get_variant(name).step,), name) for name in list_variants()]

    def evaluate(self, model: LoadedModel, cell: FamilyCell, context: EvalContext) -> Outcome:
        """Accuracy on the variant's set and its difference to the reference set's."""
        result = evaluate_variant(
            model.model,
            cell.data,
            context.settings,  # type: ignore[arg-type]  # resize_geometry: a family option
            model_key=f"{model.sha256}:{model.path}",
            device=context.device,
            expected_ids=context.eval_data().sample_ids,
            cache=context.cache("systematic.correct"),
            input_size=_own_input_size(context),
        )
        return Outcome(
            metrics=result.metrics,
            correct=result.correct,
            params=result.params,
            provenance=result.extra_settings,
        )

    def summarize(self, own: Sequence[Record], every: Sequence[Record]) -> ModelSummary:
        """ACCs, its std and range (see :mod:`.summary`)."""
        return summarize_systematic(own, every)
