"""Test-suite settings and the fixtures shared across folders.

A Hypothesis profile that suits CPU torch (no deadline); ``assets`` (a tiny synthetic image folder
and untrained checkpoints); ``make_record`` (fabricated result records); ``run_bench`` (benchmark
files of ``benchmarks/`` run through pytester with the ``--rmq-*`` options).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
from hypothesis import HealthCheck, settings

from robustmq.benchmark.settings import BenchSettings
from robustmq.checkpoints import save_checkpoint
from robustmq.data import ensure_synthetic
from robustmq.models import create_model
from robustmq.quant import calibrate, quantize_model
from robustmq.results.record import Record, pack_correct

settings.register_profile(
    "robustmq", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("robustmq")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: The ``sample_ids_sha256`` of fabricated records (their evaluation subset).
SAMPLE_IDS_SHA256 = "d" * 64


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic image folder and three untrained resnet18 checkpoints."""
    root = tmp_path_factory.mktemp("assets")
    data = ensure_synthetic(root / "data", train_per_class=1, val_per_class=3, size=40)
    ckpt = root / "ckpt"
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10, width=0.25)
    batch = torch.rand(8, 3, 32, 32)
    save_checkpoint(model, ckpt / "resnet18-fp32.safetensors", profile="test")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, bits in (("lsq", 4), ("dorefa", 2)):
            q = quantize_model(model, name, bits)
            calibrate(q, [batch])
            save_checkpoint(q, ckpt / f"resnet18-{name}-{bits}bit.safetensors", profile="test")
    return {"data": data, "ckpt": ckpt}


def _record(
    arch: str = "resnet18",
    quantizer: str = "fp32",
    bits: int | None = None,
    family: str = "clean",
    noise: str = "clean",
    accuracy: float | None = 0.5,
    *,
    cell: str | None = None,
    metrics: dict[str, float] | None = None,
    n: int | None = None,
    correct: Sequence[bool] | None = None,
    params: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    flags: Sequence[str] = (),
    sha: str | None = None,
) -> Record:
    """A record of cell ``{model}-{noise}`` (unless ``cell``) with metrics ``accuracy`` (unless
    None) and ``metrics``; ``correct`` (``n`` samples, default 10) holds round(accuracy * n)
    leading hits unless given; ``settings`` are added to the default settings."""
    model = arch + ("-fp32" if bits is None else f"-{quantizer}-{bits}bit")
    if n is None:
        n = len(correct) if correct is not None else 10
    hits = round((accuracy or 0.0) * n)
    vector = torch.tensor(list(correct) if correct is not None else [i < hits for i in range(n)])
    return Record(
        cell=cell or f"{model}-{noise}",
        arch=arch,
        quantizer=quantizer,
        bits=bits,
        family=family,
        noise=noise,
        params=dict(params or {}),
        metrics={**({} if accuracy is None else {"accuracy": accuracy}), **(metrics or {})},
        n_samples=n,
        correct=pack_correct(vector),
        seed=0,
        settings={
            **BenchSettings().to_dict(),
            "sample_ids_sha256": SAMPLE_IDS_SHA256,
            **(settings or {}),
        },
        checkpoint_sha256=sha or f"sha-{model}",
        versions={"robustmq": "0.1.0", "torch": "2.0"},
        device="cpu",
        duration_s=0.1,
        flags=list(flags),
    )


@pytest.fixture(scope="session")
def make_record() -> Callable[..., Record]:
    """``make_record(arch, quantizer, bits, family, noise, accuracy, **keywords)``: a fabricated
    record (see :func:`_record`; session-scoped, so that Hypothesis tests may use it)."""
    return _record


class BenchRun(NamedTuple):
    """One pytester run of benchmark cells."""

    result: pytest.RunResult
    #: The output folder (``--rmq-output``).
    out: Path
    #: Its ``results.json``, or None where the run wrote none.
    data: dict[str, Any] | None

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """The records of ``results.json`` by cell id."""
        assert self.data is not None, f"no results.json in {self.out}"
        return {r["cell"]: r for r in self.data["results"]}


class BenchRunner:
    """The benchmark files ``bench_files`` in a pytester folder, collected or run."""

    def __init__(
        self, pytester: pytest.Pytester, request: pytest.FixtureRequest, files: Sequence[str]
    ) -> None:
        self.pytester = pytester
        self.request = request
        pytester.makepyfile(**{name: (BENCHMARKS / f"{name}.py").read_text() for name in files})

    def __call__(
        self, *args: str, n_samples: int = 30, checkpoints: Path | None = None
    ) -> BenchRun:
        """Run the cells in a subprocess on ``assets`` (or these ``checkpoints``) into ``out/``."""
        assets: dict[str, Path] = self.request.getfixturevalue("assets")
        out = self.pytester.path / "out"
        (out / "results.json").unlink(missing_ok=True)  # never read an earlier run's results
        result = self.pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--rmq-data-root={assets['data']}",
            f"--rmq-checkpoints={checkpoints or assets['ckpt']}",
            f"--rmq-n-samples={n_samples}",
            "--rmq-device=cpu",
            f"--rmq-output={out.name}",
            *args,
        )
        path = out / "results.json"
        return BenchRun(result, out, json.loads(path.read_text()) if path.is_file() else None)

    def collect(self, *args: str) -> list[str]:
        """The node ids that ``pytest --collect-only`` with ``args`` lists (in process)."""
        result = self.pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", *args)
        return [line for line in result.outlines if "::" in line]

    def cells(self, *args: str) -> list[str]:
        """The cell ids (parameter ids) of :meth:`collect`."""
        return [node.split("[", 1)[1].rstrip("]") for node in self.collect(*args)]


@pytest.fixture
def bench_files() -> tuple[str, ...]:
    """The benchmark files (``benchmarks/<name>.py``) that ``run_bench`` works on."""
    return ("test_clean",)


@pytest.fixture
def run_bench(
    pytester: pytest.Pytester,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    bench_files: tuple[str, ...],
) -> BenchRunner:
    """``run_bench(*args, n_samples=30, checkpoints=None) -> BenchRun``, with ``.collect(*args)``
    and ``.cells(*args)``: the ``bench_files`` in a pytester folder, run on ``assets``."""
    # tiny models: one torch thread per process beats several on a busy machine (about 10x)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return BenchRunner(pytester, request, bench_files)
