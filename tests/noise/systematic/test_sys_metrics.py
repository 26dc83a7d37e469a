"""ACCs, its spread, per-variant metrics, the ranking and the per-model summary."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.exceptions import InvalidOptionError
from robustmq.noise.systematic.metrics import accs, variant_metrics, variant_ranking
from robustmq.noise.systematic.summary import PARTIAL_FLAG
from robustmq.noise.systematic.variants import list_variants
from robustmq.results.family import FAMILIES
from robustmq.results.record import Record
from robustmq.results.summary import summarize

MakeRecord = Callable[..., Record]

fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
accuracy_lists = st.lists(fractions, min_size=1, max_size=14)


class TestHandComputed:
    def test_accs_of_three_values(self) -> None:
        """0.5, 0.6, 0.7: mean 0.6, population std sqrt(0.02/3), range 0.2."""
        result = accs([0.5, 0.6, 0.7])
        assert result["accs"] == pytest.approx(0.6)
        assert result["accs_std"] == pytest.approx(math.sqrt(0.02 / 3))
        assert result["accs_range"] == pytest.approx(0.2)

    def test_accs_of_fourteen_values(self) -> None:
        """13 variants at 0.8 and one at 0.1: mean 0.75, std 0.7 * sqrt(13) / 14, range 0.7."""
        result = accs([0.8] * 13 + [0.1])
        assert result["accs"] == pytest.approx(0.75)
        assert result["accs_std"] == pytest.approx(0.7 * math.sqrt(13) / 14)
        assert result["accs_range"] == pytest.approx(0.7)

    def test_variant_metrics(self) -> None:
        """3 of 4 right on the variant, 4 of 4 on the reference: delta -0.25."""
        correct = torch.tensor([True, True, False, True])
        metrics = variant_metrics(correct, torch.ones(4, dtype=torch.bool))
        assert metrics == {"accuracy": 0.75, "reference_accuracy": 1.0, "delta_vs_reference": -0.25}

    def test_ranking_is_most_harmful_first(self) -> None:
        """Mean deltas -0.1, -0.3, 0.0 rank b, a, c; ties are ordered by name."""
        ranking = variant_ranking({"a": [-0.1, -0.1], "b": [-0.2, -0.4], "c": [0.0], "d": [0.0]})
        assert [name for name, _ in ranking] == ["b", "a", "c", "d"]
        assert ranking[0][1] == pytest.approx(-0.3)


class TestBadInput:
    def test_empty_and_out_of_range(self) -> None:
        """No accuracies, NaN or values outside [0, 1] raise InvalidOptionError saying so."""
        with pytest.raises(InvalidOptionError, match="empty"):
            accs([])
        with pytest.raises(InvalidOptionError, match=r"fractions in \[0, 1\]"):
            accs([0.5, 1.5])
        with pytest.raises(InvalidOptionError, match="nan"):
            accs([float("nan")])
        with pytest.raises(InvalidOptionError, match="same samples"):
            variant_metrics(torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool))
        with pytest.raises(InvalidOptionError, match="variant 'x'"):
            variant_ranking({"x": []})


class TestProperties:
    @given(accuracy_lists)
    def test_bounds(self, values: list[float]) -> None:
        """min <= ACCs <= max; 0 <= std <= range / 2 (+ rounding); range = max - min."""
        result = accs(values)
        assert min(values) - 1e-12 <= result["accs"] <= max(values) + 1e-12
        assert 0.0 <= result["accs_std"] <= result["accs_range"] / 2 + 1e-12
        assert result["accs_range"] == max(values) - min(values)

    @given(accuracy_lists, st.randoms(use_true_random=False))
    def test_order_does_not_matter(self, values: list[float], rng) -> None:  # type: ignore[no-untyped-def]
        """Permuting the variants changes nothing (up to float rounding)."""
        shuffled = list(values)
        rng.shuffle(shuffled)
        for key, value in accs(shuffled).items():
            assert value == pytest.approx(accs(values)[key], abs=1e-12)

    @given(fractions, st.integers(min_value=1, max_value=14))
    def test_equal_accuracies_have_no_spread(self, value: float, n: int) -> None:
        """A model as accurate under every variant: ACCs = that accuracy, std 0, range 0."""
        assert accs([value] * n) == {"accs": value, "accs_std": 0.0, "accs_range": 0.0}


class TestSummary:
    def test_registered_and_over_all_fourteen(self, make_record: MakeRecord) -> None:
        """The systematic family's summary gives accs/std/range over the 14 cells, no flag."""
        assert "systematic" in FAMILIES
        values = [0.5 + 0.01 * i for i in range(14)]
        records = [
            make_record("resnet18", "lsq", 4, "systematic", name, value)
            for name, value in zip(list_variants(), values, strict=True)
        ]
        records.append(make_record("resnet18", "lsq", 4, accuracy=0.99))
        summary = summarize(records)["resnet18-lsq-4bit"]
        assert summary.values["accs"] == pytest.approx(sum(values) / 14)
        assert summary.values["accs_range"] == pytest.approx(0.13)
        assert summary.values["accs_std"] == pytest.approx(accs(values)["accs_std"])
        assert PARTIAL_FLAG not in summary.flags

    def test_partial_set_is_flagged(self, make_record: MakeRecord) -> None:
        """A model with only some variants in the run gets the accs_partial flag."""
        record = make_record("resnet18", "lsq", 4, "systematic", "resize_pil_nearest", 0.4)
        summary = FAMILIES.get("systematic").summarize([record], [])
        assert summary.values == {"accs": 0.4, "accs_std": 0.0, "accs_range": 0.0}
        assert summary.flags == [PARTIAL_FLAG]

    def test_no_systematic_records_no_values(self, make_record: MakeRecord) -> None:
        """A model without systematic cells gets an empty summary from this family."""
        record = make_record("resnet18", "lsq", 4, accuracy=0.9)
        summary = FAMILIES.get("systematic").summarize([record], [])
        assert summary.values == {}
        assert summary.flags == []
