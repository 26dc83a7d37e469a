"""What a benchmark cell needs: its model (from a checkpoint), the evaluation data, a record.

One :class:`BenchContext` per process (a session fixture); models and decoded data are cached in
it, so cells of the same model share one load and every cell shares one decode.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from robustmq.benchmark.gate import Baseline, regressions
from robustmq.benchmark.session import JOURNAL_KEY, RECORD_KEY, SAMPLE_SET_KEY
from robustmq.benchmark.settings import BenchSettings
from robustmq.cells import ModelSpec
from robustmq.checkpoints import load_checkpoint
from robustmq.data import EvalTensors, get_eval_data, load_tensors
from robustmq.data.profiles import Profile, get_profile
from robustmq.results.journal import cell_key, checkpoint_digest
from robustmq.results.record import Record, library_versions, pack_correct, sample_ids_digest
from robustmq.zoo import checkpoint_path, ensure_checkpoint, is_current, recipe

_MODEL_CACHE_SIZE = 2


@dataclass
class LoadedModel:
    """A model ready for evaluation, with where it came from."""

    spec: ModelSpec
    model: nn.Module
    path: Path
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """False when training recorded the model as not converged (NC)."""
        return bool(self.meta.get("converged", True))


class BenchContext:
    """Per-process benchmark state: settings, cached models and data."""

    def __init__(self, settings: BenchSettings, announce: Callable[[str], None]) -> None:
        self.settings = settings
        self.profile: Profile = get_profile(settings.profile)
        self.device = torch.device(settings.device)
        self._announce = announce
        self._models: OrderedDict[ModelSpec, LoadedModel] = OrderedDict()
        self._data: EvalTensors | None = None
        self.sample_set_sent = False
        self.baseline = Baseline(settings.baseline) if settings.baseline else None

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoint_for(self, spec: ModelSpec) -> Path:
        """Where ``spec``'s checkpoint is expected (``--rmq-checkpoints`` folder or pattern)."""
        source = self.settings.checkpoints
        if source is None:
            return checkpoint_path(spec, self.profile.name, self.settings.zoo_root)
        if "{" in source:
            return Path(
                source.format(
                    arch=spec.arch, quantizer=spec.quantizer, bits=spec.bits or 32, id=spec.id
                )
            )
        return Path(source) / f"{spec.id}.safetensors"

    def _locate(self, spec: ModelSpec) -> Path:
        path = self.checkpoint_for(spec)
        if self.settings.checkpoints is None and self.profile.builds_checkpoints:
            # the zoo's own checkpoints: verified against the profile's current recipe (a stale
            # or damaged one is rebuilt, never silently evaluated)
            if not is_current(path, recipe(spec, self.profile, self.settings.seed)):
                self._announce(f"robustmq: building checkpoint {spec.id} ({self.profile.name})")
            return ensure_checkpoint(
                spec,
                self.profile.name,
                root=self.settings.zoo_root,
                data_root=self.settings.data_root,
                seed=self.settings.seed,
                device=self.device,
            )
        if path.is_file():
            return path
        message = (
            f"no checkpoint for {spec.id}: expected {path} "
            "(set --rmq-checkpoints to a folder or a pattern such as "
            "'{arch}-{quantizer}-{bits}bit.safetensors')"
        )
        if self.settings.strict:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    def load(self, spec: ModelSpec) -> LoadedModel:
        """``spec``'s model in eval mode on the benchmark device (cached for the next cells)."""
        if spec in self._models:
            self._models.move_to_end(spec)
            return self._models[spec]
        path = self._locate(spec)
        model = load_checkpoint(
            path,
            arch=spec.arch,
            quantizer=spec.quantizer,
            bits=spec.bits or 32,
            num_classes=self.profile.num_classes,
            device=self.device,
        )
        # channels-last: 1.2-1.8 x faster inference, 1.1-1.25 x faster input gradients on the CPU
        # for these models (resnet18 ... regnetx_600m, LSQ 4-bit, 64 px, one thread)
        model.to(memory_format=torch.channels_last)
        info: dict[str, Any] = model.robustmq_checkpoint  # type: ignore[assignment]
        loaded = LoadedModel(spec, model, path, info["sha256"], info.get("meta", {}))
        self._models[spec] = loaded
        while len(self._models) > _MODEL_CACHE_SIZE:
            self._models.popitem(last=False)
        return loaded

    def journal_key(self, item: pytest.Item) -> str | None:
        """The journal key of the cell ``item`` (None for a test that is not a model's cell)."""
        spec = spec_of(item)
        callspec = getattr(item, "callspec", None)
        if spec is None or callspec is None:
            return None
        checkpoint = checkpoint_digest(self.checkpoint_for(spec))
        name = getattr(item, "originalname", item.name)
        return cell_key(name, callspec.id, self.settings.to_dict(), checkpoint)

    # -- data --------------------------------------------------------------------------------

    def eval_data(self) -> EvalTensors:
        """The decoded, pre-processed evaluation set (decoded once per process)."""
        if self._data is None:
            dataset, pipeline = get_eval_data(
                self.profile.name,
                data_root=self.settings.data_root,
                n_per_class=self.settings.per_class(self.profile.num_classes),
                seed=self.settings.seed,
            )
            self._data = load_tensors(dataset, pipeline)
        return self._data

    # -- records -----------------------------------------------------------------------------

    def make_record(
        self,
        loaded: LoadedModel,
        *,
        family: str,
        noise: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        correct: Tensor,
        duration_s: float,
        flags: list[str] | None = None,
        extra_settings: dict[str, Any] | None = None,
    ) -> Record:
        """A record of one cell of ``loaded``'s model, with settings, versions and provenance."""
        spec = loaded.spec
        data = self.eval_data()
        cell = f"{spec.id}-{noise}" if family != "clean" else spec.id
        all_flags = list(flags or [])
        if not loaded.converged:
            all_flags.insert(0, "not_converged")
        settings = {
            **self.settings.to_dict(),
            # the ids themselves are stored once per run (results.json: run.sample_sets)
            "sample_ids_sha256": sample_ids_digest(data.sample_ids),
            "checkpoint": str(loaded.path),
            "checkpoint_meta": loaded.meta,
            **(extra_settings or {}),
        }
        return Record(
            cell=cell,
            arch=spec.arch,
            quantizer=spec.quantizer,
            bits=spec.bits,
            family=family,
            noise=noise,
            params=params,
            metrics=metrics,
            n_samples=int(correct.numel()),
            correct=pack_correct(correct),
            seed=self.settings.seed,
            settings=settings,
            checkpoint_sha256=loaded.sha256,
            versions=library_versions(),
            device=str(self.device),
            duration_s=round(duration_s, 4),
            flags=all_flags,
        )


def spec_of(item: pytest.Item) -> ModelSpec | None:
    """The model a benchmark cell evaluates (its ModelSpec parameter), if any."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return next((v for v in callspec.params.values() if isinstance(v, ModelSpec)), None)


class CellRun:
    """The per-test handle (fixture ``rmq``): load a model, get data, record the result."""

    def __init__(self, context: BenchContext, request: pytest.FixtureRequest) -> None:
        self.context = context
        self.settings = context.settings
        self.device = context.device
        self._request = request
        self._start = time.perf_counter()

    def load(self, spec: ModelSpec) -> LoadedModel:
        """See :meth:`BenchContext.load`."""
        return self.context.load(spec)

    def eval_data(self) -> EvalTensors:
        """See :meth:`BenchContext.eval_data`."""
        return self.context.eval_data()

    def record(self, loaded: LoadedModel, **fields: Any) -> Record:
        """Build this cell's record and attach it to the test report (reaches the controller)."""
        record = self.context.make_record(
            loaded, duration_s=time.perf_counter() - self._start, **fields
        )
        properties = self._request.node.user_properties
        if not self.context.sample_set_sent:  # the ids travel once per process
            ids = list(self.context.eval_data().sample_ids)
            properties.append((SAMPLE_SET_KEY, {sample_ids_digest(ids): ids}))
            self.context.sample_set_sent = True
        properties.append((RECORD_KEY, record.to_json()))
        properties.append((JOURNAL_KEY, self.context.journal_key(self._request.node)))
        baseline = self.context.baseline
        if baseline is not None:
            found = regressions(record, baseline, self.settings.tolerance, self.settings.z)
            if found:  # the record is attached above: it is kept although the cell fails
                lines = "\n".join(r.message() for r in found)
                pytest.fail(f"regression against {baseline.path}:\n{lines}", pytrace=False)
        return record
