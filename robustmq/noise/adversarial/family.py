"""The adversarial family: model -> clean-correct subset -> attack -> metrics (and masking flags).

Per cell (``metrics``): ``robust_accuracy`` and ``ar`` (headline), ``clean_accuracy`` of the
attacked subset, and the diagnostics ``zero_grad_fraction``; for AutoAttack,
``square_only_fraction``; for PGD L-inf cells of quantized models, ``transfer_robust_accuracy``
(PGD crafted on the float model of the same architecture, same budget). Flags of :mod:`.masking`
go to the record; with ``--rmq-fail-on-masking`` a flagged cell fails after it is recorded, and a
run whose models carry model-level masking flags fails at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import Tensor

from robustmq.data.profiles import Profile
from robustmq.noise.adversarial import masking
from robustmq.noise.adversarial.base import Attack
from robustmq.noise.adversarial.budgets import (
    MARKERS,
    AdversarialCell,
    adversarial_cells,
    applied_eps,
)
from robustmq.noise.adversarial.metrics import adversarial_rate, balanced_subset, robust_accuracy
from robustmq.noise.adversarial.pgd import PGDLinf
from robustmq.noise.adversarial.registry import make_attack
from robustmq.noise.adversarial.runner import AttackRun, predict_labels, run_attack
from robustmq.noise.adversarial.seeding import derive_seed
from robustmq.noise.adversarial.summary import summarize_adversarial
from robustmq.noise.adversarial.transfer import TransferCache, transfer_key
from robustmq.options import Option
from robustmq.results.family import (
    EvalContext,
    Family,
    FamilyCell,
    LoadedModel,
    Metric,
    ModelUnavailableError,
    Outcome,
)
from robustmq.results.record import Record, pack_correct, sample_ids_digest
from robustmq.results.summary import ModelSummary

__all__ = ["FAIL_ON_MASKING", "AdversarialFamily"]

#: ``--rmq-fail-on-masking``: masking flags fail the cell (and the run) that raises them.
FAIL_ON_MASKING = Option(
    "fail_on_masking",
    False,
    "gradient-masking flags fail the adversarial cell that raises them (default: off)",
    kind=bool,
    neutral=True,
)


def _zero_grad(
    loaded: LoadedModel, images: Tensor, labels: Tensor, digest: str, context: EvalContext
) -> Tensor:
    cache = context.cache("adversarial.zero_grad")
    key = (loaded.sha256, digest)
    if key not in cache:
        if len(cache) > 64:
            cache.clear()
        cache[key] = masking.zero_gradient_mask(
            loaded.model, images, labels, context.settings.batch_size, context.device
        )
    result: Tensor = cache[key]
    return result


def _attack(
    model: LoadedModel,
    attack: Attack,
    images: Tensor,
    labels: Tensor,
    seed: int,
    context: EvalContext,
    attack_all: bool = False,
) -> AttackRun:
    """``run_attack`` on the run's device and batch size (``attack_all`` keeps the images)."""
    return run_attack(
        model.model,
        attack,
        images,
        labels,
        seed=seed,
        batch_size=context.settings.batch_size,
        device=context.device,
        attack_all=attack_all,
        keep_images=attack_all,
    )


def _transfer_correct(
    context: EvalContext,
    loaded: LoadedModel,
    attack: PGDLinf,
    images: Tensor,
    labels: Tensor,
    digest: str,
    clean_correct: Tensor,
) -> tuple[Tensor | None, dict[str, Any]]:
    """Correctness of ``loaded`` on PGD examples crafted on the float model (None: no source)."""
    spec = loaded.spec
    try:
        source = context.load(spec.float_spec())
    except ModelUnavailableError as exc:
        return None, {"source": spec.float_spec().id, "unavailable": str(exc)}
    settings = context.settings
    seed = derive_seed(settings.seed, "transfer", source.spec.id, attack.name, attack.eps)
    key = transfer_key(source.sha256, attack.params(), seed, digest)

    def craft() -> Tensor:
        run = _attack(source, attack, images, labels, seed, context, attack_all=True)
        assert run.adv is not None
        return run.adv

    caches = context.cache("adversarial.transfer")
    cache: TransferCache = caches.setdefault("examples", TransferCache())
    adv = cache.get(key, craft)
    pred = predict_labels(loaded.model, adv, settings.batch_size, context.device)
    info = {"source": source.spec.id, "source_sha256": source.sha256, "seed": seed}
    return clean_correct & (pred == labels), info


class AdversarialFamily(Family):
    """FGSM, PGD (L-inf, L2), standard AutoAttack and the unbounded PGD sanity cell."""

    name = "adversarial"
    description = "adversarial-attack benchmark cells"
    markers: ClassVar[Mapping[str, str]] = {
        "fgsm": "FGSM (L-inf) cells",
        "pgd": "PGD (L-inf and L2) cells",
        "autoattack": "AutoAttack (standard, L-inf) cells",
    }
    options = (FAIL_ON_MASKING,)
    order = 10
    header_suffix = " ra/ar"
    metrics = (
        Metric("robust_accuracy", "correct under the attack, over the attacked samples"),
        Metric("ar", "still correct under the attack, over the clean-correct samples"),
        Metric("clean_accuracy", "correct on the clean images of the subset", role="supporting"),
        Metric(
            "zero_grad_fraction",
            "samples whose input gradient is exactly zero (gradient masking)",
            direction="lower",
            role="diagnostic",
        ),
        Metric(
            "square_only_fraction",
            "AutoAttack: samples only the gradient-free Square attack fooled",
            direction="lower",
            role="diagnostic",
        ),
        Metric(
            "transfer_robust_accuracy",
            "correct under PGD crafted on the float model (transfer check)",
            role="diagnostic",
        ),
    )
    summary_metrics = (
        Metric("wcar", "clean-correct samples correct under every FGSM and PGD cell of the run"),
        Metric("wcar_n", "images wcar is over", role="supporting", unit="images"),
        Metric("wcar_autoattack", "clean-correct samples correct under every cell, AutoAttack too"),
        Metric(
            "wcar_autoattack_n", "images wcar_autoattack is over", role="supporting", unit="images"
        ),
    )

    def cells(self, profile: Profile) -> list[FamilyCell]:
        """Every attack x budget of ``profile``, then the sanity cell (marks: the attack's)."""
        return [
            FamilyCell(cell.noise, (MARKERS[cell.attack],), cell)
            for cell in adversarial_cells(profile)
        ]

    def evaluate(self, model: LoadedModel, cell: FamilyCell, context: EvalContext) -> Outcome:
        """Attack ``model`` on a class-balanced subset as ``cell`` says; flags masking."""
        spec: AdversarialCell = cell.data
        data = context.eval_data()
        settings = context.settings
        index = balanced_subset(data.labels, spec.n_samples)
        images, labels = data.images[index], data.labels[index]
        digest = sample_ids_digest([data.sample_ids[i] for i in index.tolist()])
        eps = applied_eps(spec, context.profile, context.pipeline.crop_size)
        attack = make_attack(spec.attack, eps, context.profile.num_classes)
        seed = derive_seed(settings.seed, f"{model.spec.id}-{spec.noise}")
        run = _attack(model, attack, images, labels, seed, context)
        n = int(labels.numel())
        zero = _zero_grad(model, images, labels, digest, context)
        metrics = {
            "robust_accuracy": robust_accuracy(run.correct),
            "ar": adversarial_rate(run.clean_correct, run.correct),
            "clean_accuracy": robust_accuracy(run.clean_correct),
            "zero_grad_fraction": float(zero.sum()) / n if n else 0.0,
        }
        details: dict[str, Any] = {
            "attack_seed": seed,
            "sample_indices": index.tolist(),
            "clean_correct": pack_correct(run.clean_correct),
            "stats": run.stats,
        }
        square_only: int | None = None
        if spec.attack == "autoattack_linf":
            square_only = run.stats.get("square", 0)
            metrics["square_only_fraction"] = square_only / n if n else 0.0
        transfer: Tensor | None = None
        if isinstance(attack, PGDLinf) and not spec.diagnostic and not model.spec.is_float:
            transfer, details["transfer"] = _transfer_correct(
                context, model, attack, images, labels, digest, run.clean_correct
            )
            if transfer is not None:
                metrics["transfer_robust_accuracy"] = robust_accuracy(transfer)
        flags = masking.cell_flags(
            zero_grad_fraction=metrics["zero_grad_fraction"],
            square_only=square_only,
            sanity_accuracy=metrics["robust_accuracy"] if spec.diagnostic else None,
            transfer_correct=None if transfer is None else int(transfer.sum()),
            whitebox_correct=int(run.correct.sum()),
        )
        params = {
            **attack.params(),
            "eps_nominal": spec.nominal,
            "eps_unit": "1/255" if spec.norm == "linf" else "L2 at 224 px",
            "n_samples": n,
            "diagnostic": spec.diagnostic,
            "attacked": "clean-correct samples",
        }
        masked = [f for f in flags if masking.is_masking_flag(f)]
        failure = None
        if masked and settings.option(FAIL_ON_MASKING.name):
            failure = (
                f"gradient-masking flags {', '.join(masked)} "
                "(--rmq-fail-on-masking is set; the record was kept)"
            )
        return Outcome(
            metrics=metrics,
            correct=run.correct,
            params=params,
            flags=flags,
            provenance={"adversarial": details},
            failure=failure,
            counts={
                "ar": (int((run.clean_correct & run.correct).sum()), int(run.clean_correct.sum()))
            },
        )

    def summarize(self, own: Sequence[Record], every: Sequence[Record]) -> ModelSummary:
        """WCAR and ``masking:budget_nonmonotonic`` (see :mod:`.summary`)."""
        return summarize_adversarial(own, every)

    def session_failures(self, summaries: Mapping[str, ModelSummary], settings: Any) -> list[str]:
        """With ``--rmq-fail-on-masking``: one line naming the models with masking flags."""
        if not settings.option(FAIL_ON_MASKING.name):
            return []
        flagged = [
            f"{model}: {', '.join(f for f in summary.flags if masking.is_masking_flag(f))}"
            for model, summary in sorted(summaries.items())
            if any(masking.is_masking_flag(f) for f in summary.flags)
        ]
        if not flagged:
            return []
        return ["--rmq-fail-on-masking: model-level masking flags: " + "; ".join(flagged)]
