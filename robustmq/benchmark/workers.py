"""Placement of pytest-xdist workers: one GPU per worker, or a share of the CPU threads.

Under ``pytest -n N`` worker ``gw<i>`` evaluates on GPU ``i mod device_count`` when the run's
device is CUDA, and otherwise limits torch to ``cpu_count // N`` threads (at least one), so that N
workers do not oversubscribe the cores. Which worker runs which cell:
:mod:`robustmq.benchmark.scheduling`; the records equal a serial run's either way.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["cpu_threads", "worker_device", "worker_index"]


def worker_index(workerinput: dict[str, Any] | None) -> tuple[int, int] | None:
    """(index, count) of this xdist worker, or None on the controller / in a serial run."""
    if not workerinput:
        return None
    match = re.fullmatch(r"gw(\d+)", str(workerinput.get("workerid", "")))
    count = int(workerinput.get("workercount", 1) or 1)
    return (int(match.group(1)) if match else 0), max(1, count)


def worker_device(device: str, index: int, cuda_devices: int) -> str:
    """The device worker ``index`` uses: ``cuda:<index mod count>`` for a bare CUDA device."""
    if device == "cuda" and cuda_devices > 0:
        return f"cuda:{index % cuda_devices}"
    return device


def cpu_threads(workers: int, cpus: int | None = None) -> int:
    """Torch threads per worker when ``workers`` processes share the machine's cores."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, cpus // max(1, workers))
