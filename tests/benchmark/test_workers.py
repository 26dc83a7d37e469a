"""Placement of xdist workers: GPU index mod count, CPU threads shared."""

from __future__ import annotations

from robustmq.benchmark.workers import cpu_threads, worker_device, worker_index


def test_worker_index_reads_xdist_workerinput() -> None:
    assert worker_index(None) is None
    assert worker_index({"workerid": "gw3", "workercount": 4}) == (3, 4)


def test_each_worker_gets_gpu_index_mod_count() -> None:
    assert [worker_device("cuda", i, 2) for i in range(4)] == [
        "cuda:0",
        "cuda:1",
        "cuda:0",
        "cuda:1",
    ]
    assert worker_device("cpu", 3, 2) == "cpu"
    assert worker_device("cuda:1", 0, 2) == "cuda:1"  # an explicit device is kept


def test_cpu_threads_are_split_between_workers() -> None:
    assert cpu_threads(2, cpus=16) == 8
    assert cpu_threads(4, cpus=2) == 1
    assert cpu_threads(1, cpus=2) == 2
