"""The clean family: top-1 accuracy of every model on the profile's clean evaluation set.

One cell per model (cell id = the model id, noise ``clean``); metric ``accuracy``.
"""

from __future__ import annotations

from robustmq.data.profiles import Profile
from robustmq.evaluate import evaluate_clean
from robustmq.results.family import EvalContext, Family, FamilyCell, LoadedModel, Metric, Outcome

__all__ = ["CleanFamily"]


class CleanFamily(Family):
    """Clean accuracy: the reference every noise family is compared with."""

    name = "clean"
    description = "clean-accuracy benchmark cells"
    order = 0
    metrics = (Metric("accuracy", "top-1 accuracy on the clean evaluation set"),)

    def cells(self, profile: Profile) -> list[FamilyCell]:
        """One cell, named by the model alone."""
        return [FamilyCell("clean", in_id=False)]

    def evaluate(self, model: LoadedModel, cell: FamilyCell, context: EvalContext) -> Outcome:
        """Top-1 accuracy on the clean set (every sample)."""
        data = context.eval_data()
        metrics, correct = evaluate_clean(
            model.model, data.images, data.labels, context.settings.batch_size, context.device
        )
        return Outcome(metrics=metrics, correct=correct)
