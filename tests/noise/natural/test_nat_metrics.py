"""mNR, mCE and relative CE against hand-computed examples; the natural summary of records."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.noise.natural import metrics
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names
from robustmq.noise.natural.summary import summarize_natural
from robustmq.results.family import FAMILIES
from robustmq.results.record import Record
from robustmq.results.summary import summarize

MakeRecord = Callable[..., Record]
NaturalRecords = Callable[[str, dict[tuple[str, int], float]], list[Record]]

GAUSS = {
    ("gaussian_noise", s): a for s, a in zip(SEVERITIES, [0.9, 0.8, 0.7, 0.6, 0.5], strict=True)
}
BRIGHT = {("brightness", s): 0.8 for s in SEVERITIES}
MODEL = {**GAUSS, **BRIGHT}
FLOAT = {(c, s): 0.9 for c in ("gaussian_noise", "brightness") for s in SEVERITIES}
# by hand: gaussian errors 0.1+0.2+0.3+0.4+0.5 = 1.5, brightness 5 x 0.2 = 1.0
CE_GAUSS = 1.5 / (5 * 0.886428)
CE_BRIGHT = 1.0 / (5 * 0.564592)


class TestMetrics:
    def test_alexnet_errors_by_name(self) -> None:
        """The 15 AlexNet errors are keyed by the corruption names."""
        assert set(metrics.ALEXNET_ERRORS) == set(corruption_names())
        assert metrics.ALEXNET_ERRORS["impulse_noise"] == 0.922640
        assert metrics.ALEXNET_ERRORS["brightness"] == 0.564592

    def test_hand_computed_example(self) -> None:
        """Per-corruption means, mNR, group means and mCE of a two-corruption example."""
        assert metrics.corruption_accuracy(MODEL) == pytest.approx(
            {"gaussian_noise": 0.7, "brightness": 0.8}
        )
        assert metrics.mnr(MODEL) == pytest.approx(0.75)
        assert metrics.group_means(MODEL) == pytest.approx({"noise": 0.7, "weather": 0.8})
        assert metrics.mce(MODEL) == pytest.approx((CE_GAUSS + CE_BRIGHT) / 2)
        assert round(CE_GAUSS, 6) == 0.338437

    def test_relative_ce(self) -> None:
        """Relative CE: the float model's summed errors (0.5 each) in the denominator."""
        assert metrics.relative_ce(MODEL, FLOAT) == pytest.approx(
            {"gaussian_noise": 3.0, "brightness": 2.0}
        )
        assert metrics.relative_ce(FLOAT, FLOAT) == pytest.approx(
            {"gaussian_noise": 1.0, "brightness": 1.0}
        )
        perfect = {k: 1.0 for k in FLOAT}
        assert metrics.relative_ce(MODEL, perfect) == {}  # no error to divide by: left out

    def test_incomplete_corruptions_do_not_count(self) -> None:
        """A corruption missing a severity is left out; nothing complete gives None."""
        partial = {**MODEL, ("snow", 1): 0.1, ("snow", 2): 0.1}
        assert metrics.mnr(partial) == pytest.approx(0.75)
        assert metrics.mnr({("snow", 1): 0.5}) is None
        assert metrics.mce({}) is None

    @given(st.lists(st.floats(0, 1), min_size=75, max_size=75), st.randoms())
    def test_order_of_entries_is_irrelevant(self, values: list[float], rnd: object) -> None:
        """Results depend on the names, not on the order the accuracies arrive in."""
        keys = [(c, s) for c in corruption_names() for s in SEVERITIES]
        acc = dict(zip(keys, values, strict=True))
        shuffled = list(acc.items())
        rnd.shuffle(shuffled)  # type: ignore[attr-defined]
        again = dict(shuffled)
        assert metrics.mnr(again) == pytest.approx(metrics.mnr(acc))
        assert metrics.mce(again) == pytest.approx(metrics.mce(acc))
        assert 0.0 <= metrics.mnr(acc) <= 1.0  # type: ignore[operator]


@pytest.fixture(scope="session")
def natural_records(make_record: MakeRecord) -> NaturalRecords:
    """``natural_records(model, {(corruption, severity): accuracy})``: natural records of
    ``model`` (``arch-fp32`` or ``arch-quantizer-<bits>bit``)."""

    def build(model: str, accuracies: dict[tuple[str, int], float]) -> list[Record]:
        arch, quantizer, *bits = model.split("-")
        return [
            make_record(
                arch,
                quantizer,
                int(bits[0].removesuffix("bit")) if bits else None,
                "natural",
                f"{corruption}-s{severity}",
                accuracy,
                params={"corruption": corruption, "severity": severity},
            )
            for (corruption, severity), accuracy in accuracies.items()
        ]

    return build


class TestSummary:
    def test_the_family_summarizes(self, natural_records: NaturalRecords) -> None:
        """The registered natural family's summary is :func:`summarize_natural`'s."""
        quant = natural_records("resnet18-lsq-4bit", MODEL)
        everything = quant + natural_records("resnet18-fp32", FLOAT)
        family = FAMILIES.get("natural").summarize(quant, everything)
        assert family == summarize_natural(quant, everything)

    def test_values_of_quantized_and_float_models(self, natural_records: NaturalRecords) -> None:
        """mNR, mCE, rel_mCE and group means; rel_mCE of the float model is 1; partial flag."""
        quant = natural_records("resnet18-lsq-4bit", MODEL)
        floats = natural_records("resnet18-fp32", FLOAT)
        other = natural_records("resnet50-fp32", {k: 0.1 for k in FLOAT})  # another arch: ignored
        everything = quant + floats + other
        summary = summarize_natural(quant, everything)
        assert summary.values == pytest.approx(
            {
                "mnr": 0.75,
                "mce": (CE_GAUSS + CE_BRIGHT) / 2,
                "rel_mce": 2.5,
                "mnr_noise": 0.7,
                "mnr_weather": 0.8,
            }
        )
        assert summary.flags == ["natural_partial"]
        assert summarize_natural(floats, everything).values["rel_mce"] == pytest.approx(1.0)
        assert "rel_mce" not in summarize_natural(quant, quant).values

    def test_full_grid_is_not_partial(self, natural_records: NaturalRecords) -> None:
        """With all 15 x 5 cells there is no partial flag; summarize() merges it by model."""
        full = {(c, s): 0.5 for c in corruption_names() for s in SEVERITIES}
        records = natural_records("resnet18-fp32", full)
        summary = summarize(records)["resnet18-fp32"]
        assert summary.flags == []
        assert summary.values["mnr"] == pytest.approx(0.5)
        assert summary.values["mce"] == pytest.approx(
            sum(0.5 / e for e in metrics.ALEXNET_ERRORS.values()) / 15
        )

    def test_no_natural_records_no_summary(self, natural_records: NaturalRecords) -> None:
        """A model without natural cells gets an empty natural summary."""
        records = natural_records("resnet18-fp32", {("snow", 1): 0.5})
        assert summarize_natural(records, []).values == {}
