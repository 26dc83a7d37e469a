"""How ``pytest -n N`` hands benchmark cells to its workers.

A cell whose model is ready (its checkpoint file exists) is a unit of its own, so the workers
share a model's cells as they share any tests. The cells of the models this run will train
(zoo checkpoints not built yet) form one unit per architecture: one worker trains that
architecture's float model and, from it, its quantized models, while the other workers train
other architectures or evaluate ready models, instead of waiting on the first worker's lock.
Those units go out first, the costliest architecture (:data:`robustmq.zoo_jobs.BUILD_COSTS`)
first, each to the next worker that is free.

A worker's records do not depend on which cells it ran: every cell seeds its own random choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from xdist.scheduler import LoadScopeScheduling

if TYPE_CHECKING:
    import pytest
    from xdist.remote import Producer
    from xdist.workermanage import WorkerController

__all__ = ["ModelScheduling", "cell_model"]


def cell_model(nodeid: str, model_ids: Sequence[str]) -> str | None:
    """The model of the benchmark cell ``nodeid``: the longest of ``model_ids`` that its
    parameter id (``...::test_natural[resnet18-fp32-fog-s3]``) is or begins with, followed by
    ``-``; None for a test that is not one of these models' cells."""
    name = nodeid.rsplit("::", 1)[-1]
    if "[" not in name or not name.endswith("]"):
        return None
    param = name[name.index("[") + 1 : -1]
    matches = [m for m in model_ids if param == m or param.startswith(f"{m}-")]
    return max(matches, key=len, default=None)


class ModelScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with the scopes of this module's docstring.

    ``trains`` maps each model this run will train to its architecture; ``model_ids`` are all
    the run's models (to tell ``resnet18-fp32`` from a longer id that begins with it); ``costs``
    weighs an architecture's build (1.0 when missing).
    """

    def __init__(
        self,
        config: pytest.Config,
        log: Producer | None = None,
        *,
        model_ids: Sequence[str] = (),
        trains: Mapping[str, str] | None = None,
        costs: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(config, log)
        self._model_ids = list(model_ids)
        self._trains = dict(trains or {})
        self._costs = dict(costs or {})
        self._scopes: dict[str, str] = {}
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        scope = self._scopes.get(nodeid)
        if scope is None:
            model = cell_model(nodeid, self._model_ids)
            arch = self._trains.get(model) if model is not None else None
            scope = nodeid if arch is None else f"build {arch}"
            self._scopes[nodeid] = scope
        return scope

    def _cost(self, scope: str) -> float:
        """A build unit's architecture cost; 0 for a single cell (they keep collection order)."""
        if not scope.startswith("build "):
            return 0.0
        return self._costs.get(scope.removeprefix("build "), 1.0)

    def _assign_work_unit(self, node: WorkerController) -> None:
        if not self._ordered:  # the queue is complete at the first assignment
            self._ordered = True
            units = sorted(self.workqueue.items(), key=lambda unit: -self._cost(unit[0]))
            self.workqueue.clear()
            self.workqueue.update(units)
        super()._assign_work_unit(node)
