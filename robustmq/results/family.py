"""The contract of a noise family, and the registry every part of RobustMQ reads families from.

A family (clean, adversarial, natural, systematic, or one of your own) says what it is and how it
measures; the benchmark harness (:mod:`robustmq.benchmark`) does everything else: it crosses the
family's cells with the models, loads checkpoints, records, journals, gates, skips and fails. A
family never imports pytest or the harness. What a family declares:

- ``name`` (the record's ``family`` and the pytest marker), ``description`` (the marker's help),
  ``markers`` (its sub-markers, e.g. ``pgd``), ``order`` (its place in tables);
- ``options``: the :class:`~robustmq.options.Option` s it adds (``--rmq-<name>``; their values
  reach it through ``context.settings.option(name)`` and are stored in every record);
- :meth:`Family.cells`: its cells for a profile (a :class:`FamilyCell` each: id, marks, data);
- :meth:`Family.prepare`: optional, shared inputs for the cells a session selected;
- :meth:`Family.evaluate`: ``(model, cell, context) -> Outcome``: metrics, per-sample
  correctness, params, flags, provenance;
- ``metrics`` and ``summary_metrics``: :class:`Metric` declarations (direction, headline or
  diagnostic, unit): the table shows headline metrics, the regression gate checks every metric
  that is not a diagnostic in its direction;
- :meth:`Family.summarize`: per-model values (WCAR, mNR, ACCs...) and flags.

Register one with :func:`register_family`; :data:`FAMILIES` lists them (the built-in four are
registered by importing :mod:`robustmq.noise`).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from torch import Tensor, nn

from robustmq.cells import ModelSpec
from robustmq.exceptions import InvalidOptionError, RobustMQError, UnknownNameError
from robustmq.registry import Registry

if TYPE_CHECKING:
    import torch

    from robustmq.data import EvalTensors
    from robustmq.data.pipeline import Pipeline
    from robustmq.data.profiles import Profile
    from robustmq.options import Option
    from robustmq.results.record import Record
    from robustmq.results.summary import ModelSummary

__all__ = [
    "FAMILIES",
    "EvalContext",
    "Family",
    "FamilyCell",
    "LoadedModel",
    "Metric",
    "ModelUnavailableError",
    "Outcome",
    "family_order",
    "metric_of",
    "register_family",
]


@dataclass(frozen=True)
class Metric:
    """A declared metric: a value in ``unit`` that is better ``higher`` or ``lower``.

    ``role``: ``headline`` metrics are shown in the table and gated; ``supporting`` ones are gated
    but not shown; ``diagnostic`` ones (e.g. ``zero_grad_fraction``) are neither.
    """

    name: str
    description: str
    direction: Literal["higher", "lower"] = "higher"
    role: Literal["headline", "supporting", "diagnostic"] = "headline"
    unit: str = "fraction"

    @property
    def gated(self) -> bool:
        """Whether the regression gate checks this metric (every role but ``diagnostic``)."""
        return self.role != "diagnostic"

    def worsened(self, before: float, after: float) -> float:
        """How far ``after`` moved in the bad direction from ``before`` (negative: improved)."""
        return before - after if self.direction == "higher" else after - before


@dataclass(frozen=True)
class FamilyCell:
    """One noise setting of a family; the harness crosses it with every model.

    ``noise`` is the record's ``noise`` and the cell id's suffix (``<model>-<noise>``; a family
    whose cells have ``in_id=False``, like ``clean``, has ids ``<model>``); ``marks`` are the
    pytest markers of the cell besides the family's; ``data`` is the family's own description.
    """

    noise: str
    marks: tuple[str, ...] = ()
    data: Any = None
    in_id: bool = True

    def cell_id(self, spec: ModelSpec) -> str:
        """The cell id of this cell on ``spec``'s model."""
        return f"{spec.id}-{self.noise}" if self.in_id else spec.id

    def __str__(self) -> str:
        return self.noise


@dataclass
class LoadedModel:
    """A model ready for evaluation (eval mode, on the run's device), with where it came from."""

    spec: ModelSpec
    model: nn.Module
    path: Path
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """False when training recorded the model as not converged (NC)."""
        return bool(self.meta.get("converged", True))


@dataclass
class Outcome:
    """What one cell measured: the harness turns it into a record.

    ``correct`` is per-sample correctness over the evaluated samples: the run's clean evaluation
    set unless ``sample_ids`` names the family's own set (the harness stores its digest and sends
    the ids once per run). ``provenance`` is merged into the record's settings. ``failure`` (after
    the record is kept) fails the cell with that message. The harness gives every headline metric
    a 95 % Wilson interval from ``counts`` or, by default, from ``correct``.
    """

    metrics: dict[str, float]
    correct: Tensor
    params: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    sample_ids: Sequence[str] | None = None
    failure: str | None = None
    #: ``{metric: (successes, trials)}`` of headline proportions that are not the mean of
    #: ``correct`` (AR counts over the clean-correct samples); the harness derives the others.
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)


class ModelUnavailableError(RobustMQError):
    """A model a cell needs has no checkpoint (the harness skips or fails the cell)."""


class _Settings(Protocol):
    @property
    def seed(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def n_samples(self) -> int | None: ...
    @property
    def data_root(self) -> str | None: ...
    @property
    def profile(self) -> str: ...

    def option(self, name: str) -> Any: ...

    def per_class(self, num_classes: int) -> int | None: ...


class EvalContext(Protocol):
    """What a family may use while it evaluates (the harness's run context implements it)."""

    @property
    def settings(self) -> _Settings:
        """The run's settings; a family reads its own options with ``settings.option(name)``."""
        ...

    @property
    def profile(self) -> Profile:
        """The run's profile (classes, image sizes, adversarial budgets...)."""
        ...

    @property
    def device(self) -> torch.device:
        """Where models live and evaluate."""
        ...

    @property
    def pipeline(self) -> Pipeline:
        """The pre-processing of the model being evaluated: the profile's, or the same at the
        input size the model was registered with; a family that makes images itself uses it."""
        ...

    def eval_data(self) -> EvalTensors:
        """The run's clean evaluation set at :attr:`pipeline` (decoded once per process)."""
        ...

    def load(self, spec: ModelSpec) -> LoadedModel:
        """Another model of the run (ModelUnavailableError when it has no checkpoint)."""
        ...

    def cache(self, name: str) -> MutableMapping[Any, Any]:
        """A memory cache owned by the run's context (one per ``name`` and pipeline), for shared
        work."""
        ...


class Family:
    """Base class of a noise family; subclasses set the attributes and implement the methods."""

    name: str = ""
    description: str = ""
    markers: ClassVar[Mapping[str, str]] = MappingProxyType({})
    options: Sequence[Option] = ()
    metrics: Sequence[Metric] = ()
    summary_metrics: Sequence[Metric] = ()
    #: place in tables (clean 0, adversarial 10, natural 20, systematic 30; others after).
    order: int = 100
    #: suffix of its table columns' headers when several headline metrics share a column.
    header_suffix: str = ""

    def cells(self, profile: Profile) -> Sequence[FamilyCell]:
        """Every cell of this family for ``profile``, in the order they run for a model."""
        raise NotImplementedError

    def check_options(self, settings: _Settings) -> None:
        """Raise InvalidOptionError for a bad value of this family's options before any cell
        runs (the benchmark's validation calls it); default: nothing to check."""

    def prepare(self, cells: Sequence[FamilyCell], context: EvalContext) -> None:
        """Make shared inputs of ``cells`` (those a session selected) ready; default: nothing."""

    def evaluate(self, model: LoadedModel, cell: FamilyCell, context: EvalContext) -> Outcome:
        """Measure ``model`` on ``cell``."""
        raise NotImplementedError

    def summarize(self, own: Sequence[Record], every: Sequence[Record]) -> ModelSummary | None:
        """Per-model values from one model's records (``every``: all records of the run)."""
        return None

    def session_failures(self, summaries: Mapping[str, ModelSummary], settings: Any) -> list[str]:
        """Run-level failures from the per-model summaries (e.g. masking flags); default none."""
        return []

    @property
    def headline(self) -> tuple[str, ...]:
        """Names of the headline metrics, in declaration order."""
        return tuple(m.name for m in self.metrics if m.role == "headline")

    def __repr__(self) -> str:
        return f"<family {self.name!r}>"


class UnknownFamilyError(UnknownNameError):
    """No noise family of that name is registered."""


FAMILIES: Registry[Family] = Registry("noise family", UnknownFamilyError)


def register_family(family: Family, *, replace: bool = False) -> Family:
    """Register ``family`` under its name (``replace``: drop one already registered first)."""
    if not family.name:
        raise InvalidOptionError(f"{family!r} has no name; expected a non-empty Family.name")
    if replace:
        FAMILIES.unregister(family.name)
    return FAMILIES.register(family.name)(family)


def family_order() -> list[Family]:
    """The registered families in table order (``order``, then name)."""
    return sorted((FAMILIES.get(n) for n in FAMILIES.names()), key=lambda f: (f.order, f.name))


def metric_of(family: str, name: str) -> Metric | None:
    """The declaration of cell metric ``name`` of ``family`` (None: unknown family or metric)."""
    if family not in FAMILIES:
        return None
    return next((m for m in FAMILIES.get(family).metrics if m.name == name), None)
