"""The run's context: settings, models (from checkpoints), the evaluation data and shared caches.

One :class:`BenchContext` per process (a session fixture). It implements the
:class:`~robustmq.results.family.EvalContext` the families evaluate with: models and decoded data
are cached in it, so cells of the same model share one load and every cell shares one decode, and
it owns the memory caches families keep their shared work in (:meth:`BenchContext.cache`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import torch

from robustmq.benchmark.options import neutral_settings
from robustmq.benchmark.settings import BenchSettings
from robustmq.cells import ModelSpec
from robustmq.checkpoints import Checkpoint, open_checkpoint
from robustmq.data import EvalTensors, get_eval_data, load_tensors
from robustmq.data.profiles import Profile, get_profile
from robustmq.results.family import LoadedModel, ModelUnavailableError
from robustmq.results.journal import cell_key, checkpoint_digest
from robustmq.zoo import checkpoint_path, zoo_checkpoint

__all__ = ["BenchContext", "LoadedModel"]

_MODEL_CACHE_SIZE = 2


class BenchContext:
    """Per-process benchmark state: settings, cached models, data and family caches."""

    def __init__(self, settings: BenchSettings, announce: Callable[[str], None]) -> None:
        self.settings = settings
        self.profile: Profile = get_profile(settings.profile)
        self.device = torch.device(settings.device)
        self._announce = announce
        self._models: OrderedDict[ModelSpec, LoadedModel] = OrderedDict()
        self._data: EvalTensors | None = None
        self._caches: dict[str, dict[Any, Any]] = {}
        self._neutral = neutral_settings()

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

    def _open(self, spec: ModelSpec) -> Checkpoint:
        """``spec``'s checkpoint, read and hashed once (ModelUnavailableError when missing)."""
        if self.settings.checkpoints is None and self.profile.builds_checkpoints:
            # the zoo's own checkpoints: verified against the profile's current recipe (a stale
            # or damaged one is rebuilt, never silently evaluated)
            return zoo_checkpoint(
                spec,
                self.profile.name,
                root=self.settings.zoo_root,
                data_root=self.settings.data_root,
                seed=self.settings.seed,
                device=self.device,
                before_build=lambda s: self._announce(
                    f"robustmq: building checkpoint {s.id} ({self.profile.name})"
                ),
            )
        path = self.checkpoint_for(spec)
        if not path.is_file():
            raise ModelUnavailableError(
                f"no checkpoint for {spec.id}: expected {path} "
                "(set --rmq-checkpoints to a folder or a pattern such as "
                "'ckpts/{id}.safetensors', {id} being e.g. resnet18-fp32 or resnet18-lsq-4bit)"
            )
        return open_checkpoint(
            path,
            arch=spec.arch,
            quantizer=spec.quantizer,
            bits=spec.bits or 32,
            num_classes=self.profile.num_classes,
            device=self.device,
        )

    def load(self, spec: ModelSpec) -> LoadedModel:
        """``spec``'s model in eval mode on the run's device (cached for the next cells).

        Raises ModelUnavailableError when the checkpoint is missing (the harness skips the cell,
        or fails it with ``--rmq-strict``).
        """
        if spec in self._models:
            self._models.move_to_end(spec)
            return self._models[spec]
        checkpoint = self._open(spec)
        model = checkpoint.model
        # channels-last: 1.2-1.8 x faster inference, 1.1-1.25 x faster input gradients on the CPU
        # for these models (resnet18 ... regnetx_600m, LSQ 4-bit, 64 px, one thread)
        model.to(memory_format=torch.channels_last)
        loaded = LoadedModel(spec, model, checkpoint.path, checkpoint.sha256, dict(checkpoint.meta))
        self._models[spec] = loaded
        while len(self._models) > _MODEL_CACHE_SIZE:
            self._models.popitem(last=False)
        return loaded

    def journal_key(self, test: str, param_id: str, spec: ModelSpec) -> str:
        """The journal key of one cell: test, parameters, settings and checkpoint sha256."""
        checkpoint = checkpoint_digest(self.checkpoint_for(spec))
        return cell_key(test, param_id, self.settings.to_dict(), checkpoint, self._neutral)

    # -- data and caches ---------------------------------------------------------------------

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

    def cache(self, name: str) -> MutableMapping[Any, Any]:
        """The memory cache called ``name`` (created empty on first use; lives with the run)."""
        return self._caches.setdefault(name, {})


def __getattr__(name: str) -> Any:
    # CellRun and spec_of moved to the harness; the old names keep working with a warning
    if name in ("CellRun", "spec_of"):
        import warnings

        from robustmq.benchmark import harness

        warnings.warn(
            f"robustmq.benchmark.context.{name} is deprecated; use robustmq.benchmark.harness."
            f"{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(harness, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
