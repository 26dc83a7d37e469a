"""Wilson score intervals: against SciPy's, their properties, and how tables show them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustmq.results.intervals import wilson
from robustmq.results.record import Record
from robustmq.results.table import build_table

MakeRecord = Callable[..., Record]


@st.composite
def _counts(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(0, 5000))
    return draw(st.integers(0, n)), n


@given(_counts())
def test_the_interval_holds_the_estimate_inside_zero_one(counts: tuple[int, int]) -> None:
    """0 <= low <= k/n <= high <= 1, closed at 0 for k = 0 and at 1 for k = n."""
    k, n = counts
    low, high = wilson(k, n)
    p = k / n if n else 0.5
    assert 0.0 <= low <= p <= high <= 1.0
    assert (low == 0.0) == (k == 0 or n == 0)
    assert (high == 1.0) == (k == n)


@given(_counts())
def test_the_interval_is_scipys_wilson_interval(counts: tuple[int, int]) -> None:
    """The same bounds as ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``."""
    stats = pytest.importorskip("scipy.stats")
    k, n = counts
    if n == 0:
        return
    reference = stats.binomtest(k, n).proportion_ci(method="wilson")
    assert wilson(k, n) == pytest.approx((reference.low, reference.high), abs=1e-12)


def test_a_count_outside_zero_to_n_is_refused() -> None:
    """k > n (or negative) names both numbers."""
    with pytest.raises(ValueError, match="k=5, n=3"):
        wilson(5, 3)


def test_tables_show_the_interval_in_full_or_compact(make_record: MakeRecord) -> None:
    """table.md shows ``91.0 [low, high]``; the terminal's compact form the wider side."""
    record = make_record(accuracy=0.91, n=100)
    low, high = wilson(91, 100)
    record = Record.from_json({**record.to_json(), "intervals": {"accuracy": [low, high]}})
    full = build_table([record]).rows[0][3]
    assert full == f"91.0 [{100 * low:.1f}, {100 * high:.1f}]"
    compact = build_table([record], intervals="compact").rows[0][3]
    assert compact == f"91.0±{100 * max(0.91 - low, high - 0.91):.1f}"
    assert build_table([record], intervals="none").rows[0][3] == "91.0"
