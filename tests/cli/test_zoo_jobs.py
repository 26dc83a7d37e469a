"""robustmq.zoo_jobs: the zoo build scheduler (no model is trained: the zoo is faked)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from robustmq import zoo_jobs
from robustmq.cells import GRID_ARCHS, ModelSpec
from robustmq.exceptions import InvalidOptionError
from robustmq.zoo_jobs import JobPlan, build_zoo, plan_jobs, run_jobs, zoo_profile, zoo_specs


class TestPlanJobs:
    def test_longest_first_to_the_least_loaded(self) -> None:
        """resnet50 (2.9) + resnet18 (1.0) against mobilenet_v2 (2.2) + regnetx_600m (1.6)."""
        plan = plan_jobs(None, 2, cpu_count=2)
        assert plan == JobPlan([["resnet50", "resnet18"], ["mobilenet_v2", "regnetx_600m"]], 1)
        assert sorted(a for group in plan.groups for a in group) == sorted(GRID_ARCHS)

    def test_no_more_processes_than_architectures(self) -> None:
        """Threads are shared by the processes that run, at least one each."""
        assert plan_jobs(["resnet18"], 4, cpu_count=8) == JobPlan([["resnet18"]], 8)
        assert plan_jobs(["resnet18", "other"], 2, cpu_count=1).threads == 1

    def test_unknown_architecture_costs_one(self) -> None:
        assert plan_jobs(["a", "resnet50", "b"], 2, cpu_count=2).groups == [
            ["resnet50"],
            ["a", "b"],
        ]

    def test_fewer_than_one_job_is_an_error(self) -> None:
        with pytest.raises(InvalidOptionError, match="expected an integer >= 1"):
            plan_jobs(None, 0)


def test_run_jobs_returns_the_worst_exit_status(tmp_path: Path) -> None:
    """One process per group, ``--arch <group>`` appended, OMP_NUM_THREADS set.

    Each child writes its own file: children share stdout, and unbuffered output from
    two processes at once can interleave character by character.
    """
    script = (
        "import os, pathlib, sys; args = sys.argv[1:];"
        "pathlib.Path(sys.argv[1], '-'.join(args[2:])).write_text("
        "' '.join([os.environ['OMP_NUM_THREADS'], *args[1:]]));"
        "sys.exit(3 if 'b' in args else 0)"
    )
    command = [sys.executable, "-c", script, str(tmp_path)]
    assert run_jobs(command, JobPlan([["a"], ["b", "c"]], 5)) == 3
    written = sorted(p.read_text() for p in tmp_path.iterdir())
    assert written == ["5 --arch a", "5 --arch b c"]
    assert run_jobs(command, JobPlan([["a"]], 1)) == 0


class TestSpecs:
    def test_float_first_per_architecture(self) -> None:
        specs = zoo_specs(["resnet18"], ["fp32", "lsq"], [2, 4])
        assert [s.id for s in specs] == ["resnet18-fp32", "resnet18-lsq-2bit", "resnet18-lsq-4bit"]

    def test_quantizers_without_fp32_leave_the_float_model_out(self) -> None:
        assert [s.id for s in zoo_specs(["resnet18"], ["lsq"], [2])] == ["resnet18-lsq-2bit"]

    def test_default_is_the_whole_grid(self) -> None:
        assert len(zoo_specs()) == 52

    def test_profile_that_the_zoo_does_not_build(self) -> None:
        assert zoo_profile("synthetic").name == "synthetic"
        with pytest.raises(InvalidOptionError, match="--profile imagenet: its checkpoints"):
            zoo_profile("imagenet")


@pytest.fixture
def fake_zoo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """ensure_checkpoint builds the float parent of a quantized model on the way (once)."""
    calls: list[dict[str, Any]] = []
    made: set[str] = set()

    def ensure(spec: ModelSpec, profile: str, **kwargs: Any) -> Path:
        calls.append({"spec": spec, "profile": profile, **kwargs})
        for needed in ([] if spec.is_float else [ModelSpec(spec.arch)]) + [spec]:
            if needed.id not in made:
                made.add(needed.id)
                kwargs["on_build"](needed, {})
        return tmp_path / f"{spec.id}.safetensors"

    def metadata(path: Path) -> dict[str, Any]:
        converged = "2bit" not in path.name
        return {"meta": {"val_accuracy": 0.25, "converged": converged}}

    made.add("resnet18-lsq-4bit")  # already in the zoo
    monkeypatch.setattr(zoo_jobs, "ensure_checkpoint", ensure)
    monkeypatch.setattr(zoo_jobs, "read_checkpoint_metadata", metadata)
    return calls


class TestBuildZoo:
    def test_one_event_per_model(self, fake_zoo: list[dict[str, Any]], tmp_path: Path) -> None:
        specs = zoo_specs(["resnet18"], ["lsq"], [2, 4])
        bars: list[str] = []

        def progress(spec: ModelSpec) -> Any:
            bars.append(spec.id)
            return spec.id

        events = list(
            build_zoo(specs, "synthetic", root=tmp_path, seed=3, device="cpu", progress=progress)
        )
        assert [(e.index, e.total, e.spec.id, e.built) for e in events] == [
            (1, 2, "resnet18-lsq-2bit", True),
            (2, 2, "resnet18-lsq-4bit", False),
        ]
        assert [e.converged for e in events] == [False, True]
        assert events[0].val_accuracy == 0.25
        assert events[0].path == tmp_path / "resnet18-lsq-2bit.safetensors"
        assert all(e.seconds >= 0 for e in events)
        assert bars == ["resnet18-lsq-2bit", "resnet18-lsq-4bit"]
        assert fake_zoo[0]["root"] == tmp_path
        assert (fake_zoo[0]["seed"], fake_zoo[0]["device"]) == (3, "cpu")
        assert fake_zoo[1]["progress"] == "resnet18-lsq-4bit"

    def test_profile_is_checked_before_anything_is_built(
        self, fake_zoo: list[dict[str, Any]]
    ) -> None:
        with pytest.raises(InvalidOptionError):
            build_zoo(zoo_specs(["resnet18"]), "imagenet")
        assert fake_zoo == []


def test_cifar10_gives_resnet50_a_process_of_its_own() -> None:
    """The cifar10 costs: ResNet50 alone, the three lighter architectures together."""
    plan = plan_jobs(None, 2, cpu_count=2, profile="cifar10")
    assert sorted(map(sorted, plan.groups)) == [
        ["mobilenet_v2", "regnetx_600m", "resnet18"],
        ["resnet50"],
    ]
    assert plan_jobs(None, 2, cpu_count=2, profile="other") == plan_jobs(None, 2, cpu_count=2)
