"""Fabricated records and output folders for the report tests (no model is run)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from robustmq.benchmark.settings import BenchSettings
from robustmq.results.record import Record, pack_correct
from robustmq.results.storage import write_results

DIGEST = "d" * 64


def record(
    arch: str = "resnet18",
    quantizer: str = "fp32",
    bits: int | None = None,
    family: str = "clean",
    noise: str = "clean",
    accuracy: float = 0.5,
    *,
    n: int = 10,
    params: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    flags: Sequence[str] = (),
    sha: str | None = None,
    correct: Sequence[bool] | None = None,
) -> Record:
    """A record whose ``correct`` holds round(accuracy * n) leading hits (unless given)."""
    model = arch + ("-fp32" if bits is None else f"-{quantizer}-{bits}bit")
    hits = round(accuracy * n)
    vector = torch.tensor(list(correct) if correct is not None else [i < hits for i in range(n)])
    return Record(
        cell=f"{model}-{noise}",
        arch=arch,
        quantizer=quantizer,
        bits=bits,
        family=family,
        noise=noise,
        params=dict(params or {}),
        metrics={"accuracy": accuracy},
        n_samples=n,
        correct=pack_correct(vector),
        seed=0,
        settings={**BenchSettings().to_dict(), "sample_ids_sha256": DIGEST, **(settings or {})},
        checkpoint_sha256=sha or f"sha-{model}",
        versions={"robustmq": "0.1.0", "torch": "2.0"},
        device="cpu",
        duration_s=0.1,
        flags=list(flags),
    )


def write_run(
    folder: Path,
    records: Sequence[Record],
    versions: dict[str, str] | None = None,
    **settings: Any,
) -> Path:
    """Write a results.json (and csv, table) of ``records`` with these settings into ``folder``."""
    run = {
        "settings": {**BenchSettings(output=str(folder)).to_dict(), **settings},
        "versions": versions or {"robustmq": "0.1.0", "torch": "2.0"},
        "host": folder.name,
        "sample_sets": {DIGEST: [f"img{i}" for i in range(10)]},
    }
    write_results(folder, run, records)
    return folder


@pytest.fixture
def make_record() -> Callable[..., Record]:
    """:func:`record`: one fabricated record."""
    return record


@pytest.fixture
def make_run() -> Callable[..., Path]:
    """:func:`write_run`: a fabricated output folder."""
    return write_run
