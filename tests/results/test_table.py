"""The benchmark table: rows per model (float first), natural column order, RA/AR cells."""

from __future__ import annotations

from collections.abc import Callable

from robustmq.results.record import Record
from robustmq.results.table import build_table

MakeRecord = Callable[..., Record]


def test_float_first_and_eps_columns_in_numeric_order(make_record: MakeRecord) -> None:
    """The float model's row comes first and the eps columns follow the numeric order of eps."""
    records = [
        make_record("resnet18", "lsq", 4, accuracy=0.5),
        make_record("resnet18", "fp32", None, accuracy=0.75),
        *(
            make_record(
                "resnet18",
                "fp32",
                None,
                "adversarial",
                noise,
                accuracy=None,
                metrics={"robust_accuracy": ra, "ar": ar},
            )
            for noise, ra, ar in (
                ("pgd_linf-eps64", 0.0, 0.0),
                ("pgd_linf-eps8", 0.25, 1 / 3),
                ("pgd_linf-eps0.5", 0.5, 2 / 3),
            )
        ),
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


def test_compact_table_drops_families_with_many_columns(make_record: MakeRecord) -> None:
    """A family with more cell columns than max_cell_columns keeps only its summaries."""
    records = [make_record(family="natural", noise=f"snow-s{s}") for s in range(1, 6)]
    records.append(make_record(accuracy=0.75))
    table = build_table(records, summaries={}, max_cell_columns=3)
    assert table.header == ["arch", "quantizer", "bits", "clean", "flags"]
