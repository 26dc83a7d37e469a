"""robustmq.benchmark.scheduling: which xdist worker runs which cell (fake workers, no model)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from robustmq.benchmark.context import BenchContext
from robustmq.benchmark.scheduling import ModelScheduling, cell_model
from robustmq.benchmark.settings import BenchSettings
from robustmq.cells import ModelSpec
from robustmq.zoo import checkpoint_path

IDS = ["resnet18-fp32", "resnet18-lsq-4bit", "resnet50-fp32", "mobilenet_v2-fp32"]


class TestCellModel:
    @pytest.mark.parametrize(
        ("nodeid", "model"),
        [
            ("benchmarks/test_clean.py::test_clean[resnet18-fp32]", "resnet18-fp32"),
            ("b/test_natural.py::test_natural[resnet18-lsq-4bit-fog-s3]", "resnet18-lsq-4bit"),
            ("t.py::test_x[resnet18-fp32-shift-0.2]", "resnet18-fp32"),
            ("t.py::test_x[resnet18-fp32x]", None),  # an id that only begins with a model's
            ("t.py::test_x[resnet50]", None),
            ("t.py::test_plain", None),
            ("t.py::TestA::test_x[resnet18-fp32]", "resnet18-fp32"),
        ],
    )
    def test_model_of_a_node_id(self, nodeid: str, model: str | None) -> None:
        assert cell_model(nodeid, IDS) == model

    def test_the_longest_model_id_wins(self) -> None:
        ids = ["tiny", "tiny-fp32"]
        assert cell_model("t.py::test_x[tiny-fp32-fog-s1]", ids) == "tiny-fp32"
        assert cell_model("t.py::test_x[tiny-other]", ids) == "tiny"


class FakeWorker:
    """What the scheduler asks of an xdist worker: run these collection indices, shut down."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gateway = types.SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.name


def cells(models: list[str]) -> list[str]:
    """A collection as pytest orders it: file-major, then model-major."""
    return [f"test_{f}.py::test_{f}[{m}-{c}]" for f in "ab" for m in models for c in (1, 2)]


def run(
    pytester: pytest.Pytester, collection: list[str], trains: dict[str, str]
) -> tuple[list[list[str]], list[str]]:
    """Schedule ``collection`` over two fake workers, each completing its cells in order until
    none are left; returns the cells each ran, and the order the cells were handed out."""
    config = pytester.parseconfig("--tx=2*popen")
    costs = {"resnet50": 2.9, "resnet18": 1.0}
    sched = ModelScheduling(config, model_ids=IDS, trains=trains, costs=costs)
    workers = [FakeWorker("gw0"), FakeWorker("gw1")]
    for worker in workers:
        sched.add_node(worker)  # type: ignore[arg-type]
    for worker in workers:
        sched.add_node_collection(worker, collection)  # type: ignore[arg-type]
    sched.schedule()
    done = [0, 0]
    handed: list[str] = []
    seen = [0, 0]
    while not sched.tests_finished:
        progressed = False
        for i, worker in enumerate(workers):
            handed += [collection[k] for k in worker.sent[seen[i] :]]
            seen[i] = len(worker.sent)
            if done[i] < len(worker.sent):
                sched.mark_test_complete(worker, worker.sent[done[i]])  # type: ignore[arg-type]
                done[i] += 1
                progressed = True
        assert progressed, "the scheduler stopped handing out cells"
    return [[collection[k] for k in w.sent] for w in workers], handed


def test_ready_models_are_shared_cell_by_cell(pytester: pytest.Pytester) -> None:
    collection = cells(IDS)
    ran, _ = run(pytester, collection, trains={})
    assert sorted(ran[0] + ran[1]) == sorted(collection)
    for model in IDS:  # every model's cells on both workers
        assert all(any(f"[{model}-" in c for c in cells) for cells in ran)


def test_models_to_train_go_out_per_architecture_costliest_first(
    pytester: pytest.Pytester,
) -> None:
    """resnet50 (cost 2.9) to one worker, both resnet18 models (1.0) to the other, float model
    first; the ready MobileNetV2 cells after them."""
    collection = cells(IDS)
    trains = {
        "resnet18-fp32": "resnet18",
        "resnet18-lsq-4bit": "resnet18",
        "resnet50-fp32": "resnet50",
    }
    ran, handed = run(pytester, collection, trains)
    by_worker = [{cell_model(c, IDS) for c in cells} for cells in ran]
    assert by_worker[0] >= {"resnet50-fp32"}
    assert by_worker[1] >= {"resnet18-fp32", "resnet18-lsq-4bit"}
    assert not by_worker[0] & {"resnet18-fp32", "resnet18-lsq-4bit"}
    assert "resnet50-fp32" not in by_worker[1]
    resnet18 = [c for c in ran[1] if c.startswith("test_a") and "resnet18" in c]
    assert [cell_model(c, IDS) for c in resnet18] == ["resnet18-fp32"] * 2 + [
        "resnet18-lsq-4bit"
    ] * 2
    first_ready = min(handed.index(c) for c in collection if "mobilenet_v2" in c)
    assert all(handed.index(c) < first_ready for c in collection if "resnet" in c)


class TestTrains:
    def test_a_missing_zoo_checkpoint_is_trained(self, tmp_path: Path) -> None:
        context = BenchContext(BenchSettings(zoo_root=str(tmp_path)), lambda _: None)
        spec = ModelSpec("resnet18")
        assert context.trains(spec)
        path = checkpoint_path(spec, "synthetic", str(tmp_path))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        assert not context.trains(spec)

    def test_given_checkpoints_are_never_trained(self, tmp_path: Path) -> None:
        context = BenchContext(BenchSettings(checkpoints=str(tmp_path)), lambda _: None)
        assert not context.trains(ModelSpec("resnet18"))

    def test_ptq_trains_the_missing_float_model(self, tmp_path: Path) -> None:
        context = BenchContext(BenchSettings(zoo_root=str(tmp_path), ptq=True), lambda _: None)
        quantized = ModelSpec("resnet18", "lsq", 4)
        assert context.trains(quantized)
        path = checkpoint_path(ModelSpec("resnet18"), "synthetic", str(tmp_path))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        assert not context.trains(quantized)
