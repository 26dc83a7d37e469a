"""The benchmark table: rows per model (float first), natural column order, RA/AR cells."""

from __future__ import annotations

import torch

from robustmq.results.record import Record, pack_correct
from robustmq.results.table import build_table


def _record(quantizer: str, bits: int | None, family: str, noise: str, **metrics: float) -> Record:
    model = "resnet18-fp32" if bits is None else f"resnet18-{quantizer}-{bits}bit"
    return Record(
        cell=model if family == "clean" else f"{model}-{noise}",
        arch="resnet18",
        quantizer=quantizer,
        bits=bits,
        family=family,
        noise=noise,
        params={},
        metrics=metrics,
        n_samples=4,
        correct=pack_correct(torch.ones(4, dtype=torch.bool)),
        seed=0,
        settings={},
        checkpoint_sha256=None,
        versions={},
        device="cpu",
        duration_s=0.0,
    )


def test_float_first_and_eps_columns_in_numeric_order() -> None:
    records = [
        _record("lsq", 4, "clean", "clean", accuracy=0.5),
        _record("fp32", None, "clean", "clean", accuracy=0.75),
        _record("fp32", None, "adversarial", "pgd_linf-eps64", robust_accuracy=0.0, ar=0.0),
        _record("fp32", None, "adversarial", "pgd_linf-eps8", robust_accuracy=0.25, ar=1 / 3),
        _record("fp32", None, "adversarial", "pgd_linf-eps0.5", robust_accuracy=0.5, ar=2 / 3),
    ]
    table = build_table(records, summaries={})
    assert table.header == [
        "arch",
        "quantizer",
        "bits",
        "clean",
        "pgd_linf-eps0.5 ra/ar",
        "pgd_linf-eps8 ra/ar",
        "pgd_linf-eps64 ra/ar",
        "flags",
    ]
    assert table.rows[0] == [
        "resnet18",
        "fp32",
        "-",
        "75.0",
        "50.0/66.7",
        "25.0/33.3",
        "0.0/0.0",
        "",
    ]
    assert table.rows[1][:4] == ["resnet18", "lsq", "4", "50.0"]


def test_compact_table_drops_families_with_many_columns() -> None:
    records = [_record("fp32", None, "natural", f"snow-s{s}", accuracy=0.5) for s in range(1, 6)]
    records.append(_record("fp32", None, "clean", "clean", accuracy=0.75))
    table = build_table(records, summaries={}, max_cell_columns=3)
    assert table.header == ["arch", "quantizer", "bits", "clean", "flags"]
