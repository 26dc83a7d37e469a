"""The run's context: settings, models (from checkpoints), the evaluation data and shared caches.

One :class:`BenchContext` per process (a session fixture). Models and decoded data are cached in
it, so cells of the same model share one load and every cell of a pipeline shares one decode, and
it owns the memory caches families keep their shared work in (:meth:`BenchContext.cache`).
Families evaluate a model through :meth:`BenchContext.for_model`, a :class:`ModelContext` (the
:class:`~robustmq.results.family.EvalContext`): the run's context seen through that model's
pipeline, the profile's unless the model was registered with its own input size
(:func:`robustmq.register_model`; :func:`robustmq.data.sizes.pipeline_for_input`).

Checkpoints: the zoo's (built on demand where the profile allows), or ``--rmq-checkpoints``
(``<id>.safetensors``; a float model's may be ``<arch>-fp32.pth``, a plain state_dict); with
``--rmq-ptq`` a quantized model without such a file is made from its float checkpoint by
:func:`robustmq.ptq.ensure_ptq_checkpoint`. A registered model's output is checked once
(``N x num_classes``). A model that cannot be loaded fails every one of its cells with the same
error, and only those.
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
from robustmq.data.pipeline import Pipeline
from robustmq.data.profiles import Profile, get_profile
from robustmq.data.sizes import pipeline_for_input
from robustmq.exceptions import InvalidOptionError, ModelDefinitionError, RobustMQError
from robustmq.models import external_model, input_size_of
from robustmq.models.external import check_output
from robustmq.results.family import LoadedModel, ModelUnavailableError
from robustmq.results.journal import cell_key, checkpoint_digest
from robustmq.zoo import checkpoint_path, ensure_checkpoint, zoo_checkpoint

__all__ = ["BenchContext", "LoadedModel", "ModelContext"]

_MODEL_CACHE_SIZE = 2


class BenchContext:
    """Per-process benchmark state: settings, cached models, data and family caches."""

    def __init__(self, settings: BenchSettings, announce: Callable[[str], None]) -> None:
        self.settings = settings
        self.profile: Profile = get_profile(settings.profile)
        self.device = torch.device(settings.device)
        self._announce = announce
        #: the profile's own pipeline (every model's but those registered with an input size).
        self.pipeline: Pipeline = pipeline_for_input(self.profile, None)
        self._models: OrderedDict[ModelSpec, LoadedModel] = OrderedDict()
        self._failed: dict[ModelSpec, RobustMQError] = {}
        self._data: dict[Pipeline, EvalTensors] = {}
        self._caches: dict[str, dict[Any, Any]] = {}
        self._neutral = neutral_settings()

    # -- pipelines -----------------------------------------------------------------------------

    def pipeline_for(self, spec: ModelSpec) -> Pipeline:
        """The pipeline ``spec``'s model sees: the profile's, at the input size it was registered
        with (ModelDefinitionError naming the model when the pipeline cannot deliver that size)."""
        size = input_size_of(spec.arch)
        if size is None:
            return self.pipeline
        try:
            return pipeline_for_input(self.profile, size)
        except InvalidOptionError as exc:
            raise ModelDefinitionError(
                f"model {spec.arch!r}: the {self.profile.name} profile's pipeline cannot deliver "
                f"its registered input_size={size!r} ({exc})"
            ) from exc

    def for_model(self, spec: ModelSpec) -> ModelContext:
        """What a family evaluates ``spec``'s model with: this context at its pipeline."""
        return ModelContext(self, self.pipeline_for(spec))

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoint_for(self, spec: ModelSpec) -> Path:
        """Where ``spec``'s checkpoint is expected (``--rmq-checkpoints`` folder or pattern).

        In a folder: ``<id>.safetensors``; for a float model ``<arch>-fp32.pth`` when only that
        exists.
        """
        source = self.settings.checkpoints
        if source is None:
            return checkpoint_path(spec, self.profile.name, self.settings.zoo_root)
        if "{" in source:
            return Path(
                source.format(
                    arch=spec.arch, quantizer=spec.quantizer, bits=spec.bits or 32, id=spec.id
                )
            )
        path = Path(source) / f"{spec.id}.safetensors"
        pth = path.with_suffix(".pth")
        return pth if spec.is_float and not path.is_file() and pth.is_file() else path

    def trains(self, spec: ModelSpec) -> bool:
        """Whether loading ``spec``'s model trains a zoo checkpoint first (its own or, under
        ``--rmq-ptq``, its float model's): the zoo builds it and its file is not there yet."""
        if self.settings.checkpoints is not None or not self.profile.builds_checkpoints:
            return False
        if external_model(spec.arch) is not None:
            return False
        built = spec.float_spec() if self.uses_ptq(spec) else spec
        return not checkpoint_path(built, self.profile.name, self.settings.zoo_root).is_file()

    def uses_ptq(self, spec: ModelSpec) -> bool:
        """Whether ``spec``'s checkpoint is made by post-training quantization in this run:
        ``--rmq-ptq``, a quantized model, and no file for it in ``--rmq-checkpoints``."""
        if not self.settings.ptq or spec.is_float:
            return False
        return self.settings.checkpoints is None or not self.checkpoint_for(spec).is_file()

    def _missing(self, spec: ModelSpec, path: Path, why: str = "") -> ModelUnavailableError:
        return ModelUnavailableError(
            f"no checkpoint for {spec.id}{why}: expected {path} "
            "(set --rmq-checkpoints to a folder or a pattern such as "
            "'ckpts/{id}.safetensors', {id} being e.g. resnet18-fp32 or resnet18-lsq-4bit; a "
            "float model's may be <arch>-fp32.pth; --rmq-ptq makes quantized ones from it)"
        )

    def _float_path(self, spec: ModelSpec) -> Path:
        """The float checkpoint PTQ starts from: the folder's, or the zoo's (built on demand)."""
        if (
            self.settings.checkpoints is None
            and self.profile.builds_checkpoints
            and external_model(spec.arch) is None
        ):
            return ensure_checkpoint(spec, self.profile.name, **self._zoo_options())
        return self._given_path(spec)

    def _zoo_options(self) -> dict[str, Any]:
        """The zoo's keyword arguments for this run (its root, data, seed, device, announcement)."""
        return {
            "root": self.settings.zoo_root,
            "data_root": self.settings.data_root,
            "seed": self.settings.seed,
            "device": self.device,
            "before_build": self._announce_build,
        }

    def _given_path(self, spec: ModelSpec) -> Path:
        """``spec``'s file in ``--rmq-checkpoints`` (ModelUnavailableError when it is missing)."""
        path = self.checkpoint_for(spec)
        if not path.is_file():
            raise self._missing(spec, path)
        return path

    def _announce_build(self, spec: ModelSpec) -> None:
        self._announce(f"robustmq: building checkpoint {spec.id} ({self.profile.name})")

    def _open_ptq(self, spec: ModelSpec) -> Checkpoint:
        """``spec``'s PTQ checkpoint, made from its float one (or reused from the PTQ cache)."""
        float_spec = spec.float_spec()
        try:
            source = self._float_path(float_spec)
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(
                f"no checkpoint for {spec.id}: --rmq-ptq makes it from the float model's, and {exc}"
            ) from exc
        from robustmq.ptq import ensure_ptq_checkpoint  # the trainer and the zoo: only when used

        path = ensure_ptq_checkpoint(
            source,
            spec,
            self.profile.name,
            data_root=self.settings.data_root,
            images=self.settings.ptq_images,
            epochs=self.settings.ptq_epochs,
            seed=self.settings.seed,
            device=self.device,
            input_size=input_size_of(spec.arch),
        )
        return self._read(spec, path)

    def _read(self, spec: ModelSpec, path: Path) -> Checkpoint:
        return open_checkpoint(
            path,
            arch=spec.arch,
            quantizer=spec.quantizer,
            bits=spec.bits or 32,
            num_classes=self.profile.num_classes,
            device=self.device,
        )

    def _open(self, spec: ModelSpec) -> Checkpoint:
        """``spec``'s checkpoint, read and hashed once (ModelUnavailableError when missing)."""
        if self.uses_ptq(spec):
            return self._open_ptq(spec)
        if self.settings.checkpoints is None and external_model(spec.arch) is not None:
            raise self._missing(
                spec,
                self.checkpoint_for(spec),
                f" ({spec.arch!r} is a registered model: the zoo does not train it; pass "
                f"--rmq-checkpoints DIR holding {spec.arch}-fp32.pth or .safetensors)",
            )
        if self.settings.checkpoints is None and self.profile.builds_checkpoints:
            # the zoo's own checkpoints: verified against the profile's current recipe (a stale
            # or damaged one is rebuilt, never silently evaluated)
            return zoo_checkpoint(spec, self.profile.name, **self._zoo_options())
        return self._read(spec, self._given_path(spec))

    def load(self, spec: ModelSpec) -> LoadedModel:
        """``spec``'s model in eval mode on the run's device (cached for the next cells).

        Raises ModelUnavailableError when the checkpoint is missing (the harness skips the cell,
        or fails it with ``--rmq-strict``), and the same RobustMQError for every cell of a model
        that cannot be loaded (a damaged checkpoint, a registered model that is not what it
        should be, a layer its quantizer cannot convert...).
        """
        if spec in self._failed:
            raise self._failed[spec]
        if spec in self._models:
            self._models.move_to_end(spec)
            return self._models[spec]
        try:
            checkpoint = self._checked(spec)
        except RobustMQError as exc:
            self._failed[spec] = exc
            raise
        model = checkpoint.model
        # channels-last: 1.2-1.8 x faster inference, 1.1-1.25 x faster input gradients on the CPU
        # for these models (resnet18 ... regnetx_600m, LSQ 4-bit, 64 px, one thread)
        model.to(memory_format=torch.channels_last)
        loaded = LoadedModel(spec, model, checkpoint.path, checkpoint.sha256, dict(checkpoint.meta))
        self._models[spec] = loaded
        while len(self._models) > _MODEL_CACHE_SIZE:
            self._models.popitem(last=False)
        return loaded

    def _checked(self, spec: ModelSpec) -> Checkpoint:
        """:meth:`_open`; a registered model's pipeline and output are checked first."""
        pipeline = self.pipeline_for(spec)
        checkpoint = self._open(spec)
        if external_model(spec.arch) is not None:
            check_output(checkpoint.model, spec.arch, self.profile.num_classes, pipeline.crop_size)
        return checkpoint

    def journal_key(self, test: str, param_id: str, spec: ModelSpec) -> str:
        """The journal key of one cell: test, parameters, settings and checkpoint sha256 (a PTQ
        model's: its float checkpoint's; the PTQ options are among the settings)."""
        path = self.checkpoint_for(spec.float_spec() if self.uses_ptq(spec) else spec)
        checkpoint = checkpoint_digest(path)
        return cell_key(test, param_id, self.settings.to_dict(), checkpoint, self._neutral)

    # -- data and caches ---------------------------------------------------------------------

    def eval_data(self, pipeline: Pipeline | None = None) -> EvalTensors:
        """The decoded evaluation set, pre-processed by ``pipeline`` (default: the profile's);
        decoded once per process and pipeline."""
        key = self.pipeline if pipeline is None else pipeline
        if key not in self._data:
            dataset, used = get_eval_data(
                self.profile.name,
                data_root=self.settings.data_root,
                n_per_class=self.settings.per_class(self.profile.num_classes),
                seed=self.settings.seed,
                pipeline=key,
            )
            self._data[key] = load_tensors(dataset, used)
        return self._data[key]

    def cache(self, name: str) -> MutableMapping[Any, Any]:
        """The memory cache called ``name`` (created empty on first use; lives with the run)."""
        return self._caches.setdefault(name, {})


class ModelContext:
    """The :class:`~robustmq.results.family.EvalContext` of one model: the run's context seen
    through the model's pipeline.

    ``eval_data()`` is the evaluation set at that pipeline; ``cache(name)`` is the run's cache
    ``name`` for the profile's pipeline and a cache of its own for another one (sets made from
    the images are per pipeline); settings, profile, device and ``load`` are the run's.
    """

    def __init__(self, run: BenchContext, pipeline: Pipeline) -> None:
        self.run = run
        self.pipeline = pipeline

    @property
    def settings(self) -> BenchSettings:
        """The run's settings."""
        return self.run.settings

    @property
    def profile(self) -> Profile:
        """The run's profile."""
        return self.run.profile

    @property
    def device(self) -> torch.device:
        """The run's device."""
        return self.run.device

    @property
    def own_pipeline(self) -> bool:
        """True when the model's pipeline is not the profile's (its own input size)."""
        return self.pipeline != self.run.pipeline

    def eval_data(self) -> EvalTensors:
        """The evaluation set pre-processed by the model's pipeline."""
        return self.run.eval_data(self.pipeline)

    def load(self, spec: ModelSpec) -> LoadedModel:
        """Another model of the run (see :meth:`BenchContext.load`)."""
        return self.run.load(spec)

    def cache(self, name: str) -> MutableMapping[Any, Any]:
        """The run's memory cache ``name``, one per pipeline."""
        if not self.own_pipeline:
            return self.run.cache(name)
        p = self.pipeline
        return self.run.cache(f"{name}@{p.resize_size}/{p.crop_size}")


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
