"""One adversarial benchmark cell: model -> clean-correct subset -> attack -> metrics -> record.

Diagnostics stored with every record (``metrics``): ``zero_grad_fraction``; for AutoAttack,
``square_only_fraction``; for PGD L-inf cells of quantized models, ``transfer_robust_accuracy``
(PGD crafted on the float model of the same architecture, same budget). Flags of
:mod:`.masking` go to the record; with ``--rmq-fail-on-masking`` the cell fails after recording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from torch import Tensor

from robustmq.cells import ModelSpec
from robustmq.noise.adversarial import masking
from robustmq.noise.adversarial.budgets import AdversarialCell
from robustmq.noise.adversarial.metrics import (
    adversarial_rate,
    balanced_subset,
    robust_accuracy,
)
from robustmq.noise.adversarial.pgd import PGDLinf
from robustmq.noise.adversarial.registry import make_attack
from robustmq.noise.adversarial.runner import predict_labels, run_attack
from robustmq.noise.adversarial.seeding import derive_seed
from robustmq.noise.adversarial.transfer import TRANSFER_CACHE, transfer_key
from robustmq.results.record import Record, pack_correct, sample_ids_digest

if TYPE_CHECKING:
    from robustmq.benchmark.context import CellRun, LoadedModel

__all__ = ["run_cell"]

_ZERO_GRAD_CACHE: dict[tuple[str, str], Tensor] = {}


def _zero_grad(
    loaded: LoadedModel, images: Tensor, labels: Tensor, digest: str, rmq: CellRun
) -> Tensor:
    key = (loaded.sha256, digest)
    if key not in _ZERO_GRAD_CACHE:
        if len(_ZERO_GRAD_CACHE) > 64:
            _ZERO_GRAD_CACHE.clear()
        _ZERO_GRAD_CACHE[key] = masking.zero_gradient_mask(
            loaded.model, images, labels, rmq.settings.batch_size, rmq.device
        )
    return _ZERO_GRAD_CACHE[key]


def _transfer_correct(
    rmq: CellRun,
    spec: ModelSpec,
    loaded: LoadedModel,
    attack: PGDLinf,
    images: Tensor,
    labels: Tensor,
    digest: str,
    clean_correct: Tensor,
) -> tuple[Tensor | None, dict[str, Any]]:
    """Correctness of ``loaded`` on PGD examples crafted on the float model (None: no source)."""
    try:
        source = rmq.load(spec.float_spec())
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        return None, {"source": spec.float_spec().id, "unavailable": str(exc)}
    seed = derive_seed(rmq.settings.seed, "transfer", source.spec.id, attack.name, attack.eps)
    key = transfer_key(source.sha256, attack.params(), seed, digest)

    def craft() -> Tensor:
        run = run_attack(
            source.model,
            attack,
            images,
            labels,
            seed=seed,
            batch_size=rmq.settings.batch_size,
            device=rmq.device,
            attack_all=True,
            keep_images=True,
        )
        assert run.adv is not None
        return run.adv

    adv = TRANSFER_CACHE.get(key, craft)
    pred = predict_labels(loaded.model, adv, rmq.settings.batch_size, rmq.device)
    info = {"source": source.spec.id, "source_sha256": source.sha256, "seed": seed}
    return clean_correct & (pred == labels), info


def run_cell(rmq: CellRun, spec: ModelSpec, cell: AdversarialCell) -> Record:
    """Attack ``spec``'s model as ``cell`` says, record the result, apply the masking policy.

    The record is attached to the test report before a masking failure is raised, so it
    reaches the results either way.
    """
    loaded = rmq.load(spec)
    data = rmq.eval_data()
    profile = rmq.context.profile
    settings = rmq.settings
    index = balanced_subset(data.labels, cell.n_samples)
    images, labels = data.images[index], data.labels[index]
    digest = sample_ids_digest([data.sample_ids[i] for i in index.tolist()])
    attack = make_attack(cell.attack, cell.eps, profile.num_classes)
    seed = derive_seed(settings.seed, f"{spec.id}-{cell.noise}")
    run = run_attack(
        loaded.model,
        attack,
        images,
        labels,
        seed=seed,
        batch_size=settings.batch_size,
        device=rmq.device,
    )
    n = int(labels.numel())
    zero = _zero_grad(loaded, images, labels, digest, rmq)
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
    if cell.attack == "autoattack_linf":
        square_only = run.stats.get("square", 0)
        metrics["square_only_fraction"] = square_only / n if n else 0.0
    transfer: Tensor | None = None
    if isinstance(attack, PGDLinf) and not cell.diagnostic and not spec.is_float:
        transfer, details["transfer"] = _transfer_correct(
            rmq, spec, loaded, attack, images, labels, digest, run.clean_correct
        )
        if transfer is not None:
            metrics["transfer_robust_accuracy"] = robust_accuracy(transfer)
    flags = masking.cell_flags(
        zero_grad_fraction=metrics["zero_grad_fraction"],
        square_only=square_only,
        sanity_accuracy=metrics["robust_accuracy"] if cell.diagnostic else None,
        transfer_correct=None if transfer is None else int(transfer.sum()),
        whitebox_correct=int(run.correct.sum()),
    )
    params = {
        **attack.params(),
        "eps_nominal": cell.nominal,
        "eps_unit": "1/255" if cell.norm == "linf" else "L2 at 224 px",
        "n_samples": n,
        "diagnostic": cell.diagnostic,
        "attacked": "clean-correct samples",
    }
    record: Record = rmq.record(
        loaded,
        family="adversarial",
        noise=cell.noise,
        params=params,
        metrics=metrics,
        correct=run.correct,
        flags=flags,
        extra_settings={"adversarial": details},
    )
    masked = [f for f in flags if masking.is_masking_flag(f)]
    if masked and settings.fail_on_masking:
        pytest.fail(
            f"{record.cell}: gradient-masking flags {', '.join(masked)} "
            "(--rmq-fail-on-masking is set; the record was kept)",
            pytrace=False,
        )
    return record
