"""The harness: what runs one benchmark cell, for every family alike.

A cell is (model spec, :class:`~robustmq.results.family.FamilyCell`). :class:`CellRun` (the
``rmq`` fixture) loads the model (a missing checkpoint skips the cell, or fails it with
``--rmq-strict``), lets the family prepare its shared inputs once per process, calls
:meth:`~robustmq.results.family.Family.evaluate`, turns the outcome into a record, attaches it to
the test report (from where the controller journals and collects it), applies the regression gate
and fails the cell when the family says so, always after the record is kept. A model whose
weights hold NaN/inf, or whose outputs did during the cell, gets the flag ``nonfinite_weights`` or
``nonfinite_output`` (:mod:`robustmq.benchmark.finite`). A model that cannot be loaded (a damaged
checkpoint, a registered model that raises or returns the wrong shape, a layer its quantizer
cannot convert) fails each of its cells with that error, and only those.

A family evaluates through the model's :class:`~robustmq.benchmark.context.ModelContext` (its
pipeline: the profile's, or the one at the input size the model was registered with); records
store that pipeline (``settings.input_size``, ``settings.eval_pipeline``), and a model registered
with an input size fails a cell whose family feeds it images of another size.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from torch import Tensor, nn

from robustmq.benchmark.context import BenchContext, ModelContext
from robustmq.benchmark.finite import watch
from robustmq.benchmark.gate import Baseline, regressions
from robustmq.benchmark.session import (
    JOURNAL_KEY,
    RECORD_KEY,
    SAMPLE_DIGESTS_KEY,
    SAMPLE_SET_KEY,
)
from robustmq.cells import ModelSpec, model_grid
from robustmq.data.profiles import Profile
from robustmq.exceptions import RobustMQError
from robustmq.models import input_size_of
from robustmq.results.family import (
    FAMILIES,
    Family,
    FamilyCell,
    LoadedModel,
    ModelUnavailableError,
    Outcome,
)
from robustmq.results.intervals import share_counts, wilson
from robustmq.results.record import Record, library_versions, pack_correct, sample_ids_digest

__all__ = ["CellRun", "FamilyContractError", "cell_params", "family_of", "spec_of"]


class FamilyContractError(RobustMQError):
    """A family's outcome breaks its declaration (an undeclared metric, say)."""


def cell_params(
    family: Family, profile: Profile, specs: Sequence[ModelSpec] | None = None
) -> list[Any]:
    """``pytest.param(spec, cell)`` for every model (``specs``, default :func:`model_grid`) x cell
    of ``family``, model-major."""
    return [
        pytest.param(
            spec,
            cell,
            id=cell.cell_id(spec),
            marks=[getattr(pytest.mark, name) for name in (family.name, *cell.marks)],
        )
        for spec in (model_grid() if specs is None else specs)
        for cell in family.cells(profile)
    ]


def family_of(markers: Sequence[str]) -> Family | None:
    """The registered family among a test's marker names (None: not a family's test)."""
    names = [name for name in markers if name in FAMILIES]
    return FAMILIES.get(names[0]) if names else None


def spec_of(item: pytest.Item) -> ModelSpec | None:
    """The model a benchmark cell evaluates (its ModelSpec parameter), if any."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return next((v for v in callspec.params.values() if isinstance(v, ModelSpec)), None)


def _cell_of(item: pytest.Item) -> FamilyCell | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return next((v for v in callspec.params.values() if isinstance(v, FamilyCell)), None)


class CellRun:
    """The per-test handle (fixture ``rmq``): ``evaluate(spec, cell)`` runs a family's cell."""

    def __init__(
        self, context: BenchContext, request: pytest.FixtureRequest, baseline: Baseline | None
    ) -> None:
        self.context = context
        self.settings = context.settings
        self.device = context.device
        self._request = request
        self._baseline = baseline
        self._start = time.perf_counter()

    # -- the one way a cell runs ---------------------------------------------------------------

    def evaluate(self, spec: ModelSpec, cell: FamilyCell) -> Record:
        """Run ``cell`` of the test's family on ``spec``'s model and record the outcome."""
        family = family_of([m.name for m in self._request.node.iter_markers()])
        if family is None:
            raise FamilyContractError(
                f"{self._request.node.nodeid}: no registered family among its markers; expected "
                f"one of {FAMILIES.names()}"
            )
        loaded = self.load(spec)
        context = self.context.for_model(spec)
        self._prepare(family, context)
        with _input_size_guard(loaded.model, spec, family):
            outcome = family.evaluate(loaded, cell, context)
        undeclared = sorted(set(outcome.metrics) - {m.name for m in family.metrics})
        if undeclared:
            raise FamilyContractError(
                f"family {family.name!r} measured {undeclared} but declares only "
                f"{[m.name for m in family.metrics]}; declare every metric it records"
            )
        record = self._keep(loaded, family.name, cell.noise, cell.in_id, outcome, context)
        if outcome.failure:
            pytest.fail(f"{record.cell}: {outcome.failure}", pytrace=False)
        return record

    def _prepare(self, family: Family, context: ModelContext) -> None:
        prepared = context.cache("harness.prepared")  # once per family and pipeline
        if family.name in prepared:
            return
        selected = [
            cell
            for item in self._request.session.items
            if (cell := _cell_of(item)) is not None
            and family_of([m.name for m in item.iter_markers()]) is family
        ]
        family.prepare(selected, context)
        prepared[family.name] = True

    # -- the parts, for cells written by hand ----------------------------------------------------

    def load(self, spec: ModelSpec) -> LoadedModel:
        """See :meth:`BenchContext.load`; a missing checkpoint skips (``--rmq-strict``: fails),
        a model that cannot be loaded fails the cell with the error's message."""
        try:
            loaded = self.context.load(spec)
        except ModelUnavailableError as exc:
            if self.settings.strict:
                pytest.fail(str(exc), pytrace=False)
            pytest.skip(str(exc))
        except RobustMQError as exc:
            pytest.fail(f"{spec.id}: {type(exc).__name__}: {exc}", pytrace=False)
        watch(loaded.model).reset()  # outputs are judged per cell
        return loaded

    def eval_data(self) -> Any:
        """See :meth:`BenchContext.eval_data`."""
        return self.context.eval_data()

    def record(
        self,
        loaded: LoadedModel,
        *,
        family: str,
        noise: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        correct: Tensor,
        flags: list[str] | None = None,
        extra_settings: dict[str, Any] | None = None,
        sample_ids: Sequence[str] | None = None,
        in_id: bool | None = None,
    ) -> Record:
        """Record a measurement made by hand (``evaluate`` does this for a family's cell)."""
        outcome = Outcome(
            metrics, correct, params, list(flags or []), dict(extra_settings or {}), sample_ids
        )
        in_id = family != "clean" if in_id is None else in_id
        context = self.context.for_model(loaded.spec)
        return self._keep(loaded, family, noise, in_id, outcome, context)

    def _keep(
        self,
        loaded: LoadedModel,
        family: str,
        noise: str,
        in_id: bool,
        outcome: Outcome,
        context: ModelContext,
    ) -> Record:
        """Build the record, attach it to the test report (it reaches the controller), then apply
        the regression gate (a regression fails the cell; the record is kept)."""
        data_ids = context.eval_data().sample_ids
        ids = data_ids if outcome.sample_ids is None else tuple(outcome.sample_ids)
        digest = sample_ids_digest(ids)
        record = self._make_record(loaded, family, noise, in_id, outcome, digest, context)
        properties = self._request.node.user_properties
        sent = self.context.cache("harness.sample_sets_sent")
        data_digest = sample_ids_digest(data_ids)
        new = {d: list(i) for d, i in ((data_digest, data_ids), (digest, ids))}
        new = {d: i for d, i in new.items() if d not in sent}
        if new:  # each set's ids travel once per process
            properties.append((SAMPLE_SET_KEY, new))
            sent.update(dict.fromkeys(new, True))
        properties.append((RECORD_KEY, record.to_json()))
        properties.append((SAMPLE_DIGESTS_KEY, list(dict.fromkeys((data_digest, digest)))))
        node = self._request.node
        callspec = getattr(node, "callspec", None)
        if callspec is not None:
            name = getattr(node, "originalname", node.name)
            key = self.context.journal_key(name, callspec.id, loaded.spec)
            properties.append((JOURNAL_KEY, key))
        if self._baseline is not None:
            found = regressions(record, self._baseline, self.settings.tolerance, self.settings.z)
            if found:  # the record is attached above: it is kept although the cell fails
                lines = "\n".join(r.message() for r in found)
                pytest.fail(f"regression against {self._baseline.path}:\n{lines}", pytrace=False)
        return record

    def _make_record(
        self,
        loaded: LoadedModel,
        family: str,
        noise: str,
        in_id: bool,
        outcome: Outcome,
        digest: str,
        context: ModelContext,
    ) -> Record:
        spec = loaded.spec
        all_flags = list(outcome.flags)
        if not loaded.converged:
            all_flags.insert(0, "not_converged")
        all_flags += [f for f in watch(loaded.model).flags() if f not in all_flags]
        settings = {
            **self.settings.to_dict(),
            # the ids themselves are stored once per run (results.json: run.sample_sets)
            "sample_ids_sha256": digest,
            "checkpoint": str(loaded.path),
            "checkpoint_meta": loaded.meta,
            # the pre-processing the model saw: the profile's, or at its registered input size
            "input_size": context.pipeline.crop_size,
            "eval_pipeline": context.pipeline.settings(),
            **outcome.provenance,
        }
        return Record(
            cell=f"{spec.id}-{noise}" if in_id else spec.id,
            arch=spec.arch,
            quantizer=spec.quantizer,
            bits=spec.bits,
            family=family,
            noise=noise,
            params=outcome.params,
            metrics=outcome.metrics,
            n_samples=int(outcome.correct.numel()),
            correct=pack_correct(outcome.correct),
            seed=self.settings.seed,
            settings=settings,
            checkpoint_sha256=loaded.sha256,
            versions=library_versions(),
            device=str(self.device),
            duration_s=round(time.perf_counter() - self._start, 4),
            flags=all_flags,
            intervals=_intervals(family, outcome),
        )


@contextmanager
def _input_size_guard(model: nn.Module, spec: ModelSpec, family: Family) -> Iterator[None]:
    """While a family evaluates a model registered with an input size: a batch of another size
    fails the cell (FamilyContractError) instead of being evaluated."""
    size = input_size_of(spec.arch)
    if size is None:
        yield
        return

    def check(module: nn.Module, args: tuple[Any, ...]) -> None:
        x = args[0] if args else None
        if isinstance(x, Tensor) and x.dim() == 4 and tuple(x.shape[-2:]) != (size, size):
            raise FamilyContractError(
                f"family {family.name!r} fed {spec.id} images of {x.shape[-2]} x {x.shape[-1]} "
                f"px; the model was registered with input_size={size}, so expected {size} x "
                f"{size} (a family takes its images from the context it evaluates with)"
            )

    handle = model.register_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


def _intervals(family: str, outcome: Outcome) -> dict[str, list[float]]:
    """95 % Wilson intervals of the family's headline metrics: from ``outcome.counts``, else from
    ``correct`` where the metric is its mean (a metric that is neither gets none)."""
    if family not in FAMILIES:
        return {}
    result: dict[str, list[float]] = {}
    for name in FAMILIES.get(family).headline:
        counts = outcome.counts.get(name) or share_counts(
            outcome.metrics.get(name), outcome.correct
        )
        if counts is not None:
            result[name] = list(wilson(*counts))
    return result
