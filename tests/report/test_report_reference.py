"""The RobustBench CIFAR-10-C reference: the embedded table, Spearman's rho, the report section."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustmq.cli import main
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names
from robustmq.report import load_run, reference
from robustmq.report.reference import (
    STANDARD,
    average_ranks,
    compare_run,
    corruption_means,
    reference_markdown,
    spearman,
)

#: RobustBench/robustbench model_info/cifar10/corruptions/unaggregated_results.csv at commit
#: 12abb362a97fb7172c7b972a4d01506db9d1e87b: header row 1 (corruption names, 5 columns each) and
#: the row 'Standard', as published.
HEADER = [
    "shot_noise",
    "motion_blur",
    "snow",
    "pixelate",
    "gaussian_noise",
    "defocus_blur",
    "brightness",
    "fog",
    "zoom_blur",
    "frost",
    "glass_blur",
    "impulse_noise",
    "contrast",
    "jpeg_compression",
    "elastic_transform",
]
ROW = (
    "Standard,0.8504,0.7573,0.5349,0.4535,0.3429,0.9029,0.8385,0.7440000000000001,0.7483,0.6525,"
    "0.8991,0.8043,0.8365,0.8051,0.7493,0.9195,0.8604,0.8002,0.6035,0.4155,0.7778,0.5788,0.3919,"
    "0.3261,0.2767,0.9458,0.9338,0.8898,0.7744,0.5306,0.9475,0.9438,0.9378,0.9281,0.907,0.9451,"
    "0.9356,0.9229,0.8959,0.7399,0.8771,0.8455,0.7748,0.7029,0.5798,0.8955,0.835,0.7261,0.7086,"
    "0.5870000000000001,0.5343,0.5575,0.5695,0.4319,0.4568,0.8289,0.6905,0.5737,0.4011,0.2708,"
    "0.9427,0.9216,0.8972,0.8359,0.5331,0.8636,0.7965,0.7796,0.7415,0.6970000000000001,0.9047,"
    "0.9022,0.8586,0.7894,0.7341"
)


class TestTable:
    def test_every_value_and_the_order(self) -> None:
        """The 75 embedded values are the published row, corruption by corruption in its order."""
        name, *values = ROW.split(",")
        assert name == "Standard"
        assert len(values) == 75
        assert list(STANDARD) == HEADER
        for i, corruption in enumerate(HEADER):
            published = tuple(float(v) for v in values[5 * i : 5 * i + 5])
            assert STANDARD[corruption] == published, corruption

    def test_names_are_ours(self) -> None:
        """The 15 names are the natural family's; the means come in our corruption order."""
        assert sorted(STANDARD) == sorted(corruption_names())
        assert list(corruption_means()) == corruption_names()

    def test_mean_is_the_published_corruptions_accuracy(self) -> None:
        """The mean of the 75 values rounds to Standard.json's corruptions_acc (73.46 %)."""
        mean = float(np.mean(list(corruption_means().values())))
        assert round(100 * mean, 2) == reference.STANDARD_CORRUPTIONS == 73.46
        assert math.isclose(corruption_means()["gaussian_noise"], 0.47026)


class TestSpearman:
    def test_ranks_with_ties(self) -> None:
        """Tied values share the mean of the ranks they span."""
        assert average_ranks([10, 20, 20, 30, 20]).tolist() == [1, 3, 3, 5, 3]
        assert average_ranks([0.5, 0.5]).tolist() == [1.5, 1.5]

    def test_hand_computed(self) -> None:
        """No ties: 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 24 / 120 = 0.8. Ties: y's ranks
        1, 2, 3.5, 5, 3.5 against 1..5 give 8 / sqrt(10 * 9.5)."""
        assert math.isclose(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 0.8)
        assert math.isclose(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 8 / math.sqrt(95))

    def test_perfect_orders(self) -> None:
        """The same order gives +1, the reversed order -1."""
        x = [0.3, 0.9, 0.1, 0.5]
        assert spearman(x, [v**2 for v in x]) == pytest.approx(1.0)
        assert spearman(x, [1 - v for v in x]) == pytest.approx(-1.0)

    def test_undefined(self) -> None:
        """A constant side has no rank correlation (NaN); lengths must match and be >= 2."""
        assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))
        with pytest.raises(ValueError, match="one length >= 2, got 2, 3"):
            spearman([1, 2], [1, 2, 3])
        with pytest.raises(ValueError, match="got 1, 1"):
            spearman([1], [1])

    @given(st.lists(st.tuples(st.integers(-20, 20), st.integers(-20, 20)), min_size=2, max_size=30))
    def test_bounded_symmetric_and_rank_invariant(self, pairs: list[tuple[int, int]]) -> None:
        """rho is in [-1, 1], symmetric, unchanged by increasing maps, negated by decreasing."""
        x, y = [p[0] for p in pairs], [p[1] for p in pairs]
        rho = spearman(x, y)
        if math.isnan(rho):
            assert len(set(x)) == 1 or len(set(y)) == 1
            return
        assert -1.0 <= rho <= 1.0
        assert spearman(y, x) == pytest.approx(rho)
        assert spearman([3 * v + 7 for v in x], [v**3 for v in y]) == pytest.approx(rho)
        assert spearman([float(np.exp(v / 10)) for v in x], y) == pytest.approx(rho)
        assert spearman([-v for v in x], y) == pytest.approx(-rho)

    @given(st.permutations(list(range(12))))
    def test_matches_the_formula_without_ties(self, order: list[int]) -> None:
        """Without ties rho is 1 - 6 sum d^2 / (n (n^2 - 1))."""
        n = len(order)
        d2 = sum((i - v) ** 2 for i, v in enumerate(order))
        assert spearman(list(range(n)), order) == pytest.approx(1 - 6 * d2 / (n * (n * n - 1)))


# The reference's corruptions from its lowest mean accuracy to its highest.
BY_REFERENCE = sorted(corruption_means(), key=corruption_means().__getitem__)
SWAPPED = ("zoom_blur", "frost")  # neighbours in BY_REFERENCE (75.60 % and 75.04 %)


def _model_accuracy(arch: str) -> dict[str, float]:
    """Per-corruption accuracy of the fake float models: resnet18 follows the reference's order
    except that two neighbours swap; resnet50 reverses it."""
    rank = {c: i for i, c in enumerate(BY_REFERENCE)}
    if arch == "resnet18":
        a, b = SWAPPED
        rank[a], rank[b] = rank[b], rank[a]
        return {c: round(0.30 + 0.04 * r, 2) for c, r in rank.items()}
    return {c: round(0.90 - 0.04 * r, 2) for c, r in rank.items()}


def _fake_run(tmp_path, make_record, make_run, profile: str, natural: bool = True):  # type: ignore[no-untyped-def]
    """Clean cells of resnet18/resnet50 fp32 and resnet18-lsq-4bit, and (``natural``) their 75
    natural cells of 100 images: severity s at the model's accuracy + (3 - s) * 2 points."""
    settings = {"profile": profile}
    records = []
    models = (("resnet18", "fp32", None), ("resnet50", "fp32", None), ("resnet18", "lsq", 4))
    for arch, quantizer, bits in models:
        records.append(make_record(arch, quantizer, bits, accuracy=0.9, n=100, settings=settings))
        if not natural:
            continue
        for corruption, value in _model_accuracy(arch).items():
            for s in SEVERITIES:
                records.append(
                    make_record(
                        arch,
                        quantizer,
                        bits,
                        "natural",
                        f"{corruption}-s{s}",
                        round(value + (3 - s) * 0.02, 2) if bits is None else 0.1,
                        n=100,
                        params={"corruption": corruption, "severity": s, "scale": profile},
                        settings=settings,
                    )
                )
    return make_run(tmp_path / profile, records, profile=profile)


class TestReport:
    def test_section_numbers(self, tmp_path, make_record, make_run) -> None:  # type: ignore[no-untyped-def]
        """Float models only, accuracy per corruption next to the reference's, and rho: one swap
        of neighbours gives 1 - 6 * 2 / (15 * 224); the reversed order -1."""
        folder = _fake_run(tmp_path, make_record, make_run, "cifar10")
        comparison = compare_run(load_run(folder))
        assert comparison is not None
        assert [m.model_id for m in comparison.models] == ["resnet18-fp32", "resnet50-fp32"]
        r18, r50 = comparison.models
        assert r18.n == r50.n == 15
        assert r18.rho == pytest.approx(1 - 12 / 3360)
        assert r50.rho == pytest.approx(-1.0)
        for corruption, value in _model_accuracy("resnet18").items():
            assert r18.accuracy[corruption] == pytest.approx(value)
        assert comparison.n_images == [100]
        assert comparison.scales == ["cifar10"]

        text = reference_markdown(folder)
        lowest = BY_REFERENCE[0]  # gaussian_noise: 47.03 %, resnet18 30 %, resnet50 90 %
        assert f"| {lowest} | 47.03 | 30.00 | 90.00 |" in text
        assert "| zoom_blur | 75.60 | 50.00 | 66.00 |" in text  # swapped with frost for resnet18
        assert "| frost | 75.04 | 54.00 | 70.00 |" in text
        assert "| mean | 73.46 | 58.00 | 62.00 |" in text
        assert "| Spearman's rho (n = 15) |  | +0.996 | -1.000 |" in text
        assert "lsq" not in text
        assert "100 images per corruption cell" in text
        assert "10,000 images per corruption and severity" in text
        assert "CIFAR-10-C's own parameter table" in text
        assert "python -m robustmq.noise.natural.perf native" in text  # the resize's caveat
        assert "12abb362a97fb7172c7b972a4d01506db9d1e87b" in text

    def test_command_writes_and_prints_it(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys
    ) -> None:
        """``robustmq report`` appends the section to table.md and prints one line per model;
        ``python -m robustmq.report.reference`` prints the same section."""
        folder = _fake_run(tmp_path, make_record, make_run, "cifar10")
        assert main(["report", str(folder), "--no-plots"]) == 0
        out = capsys.readouterr().out
        assert "resnet18-fp32: mean 58.00 % over 15 corruptions, Spearman's rho +0.996" in out
        assert "resnet50-fp32: mean 62.00 % over 15 corruptions, Spearman's rho -1.000" in out
        table = (folder / "table.md").read_text()
        section = reference_markdown(folder)
        assert table.endswith("\n\n" + section)
        assert reference.main([str(folder)]) == 0
        assert capsys.readouterr().out == section

    @pytest.mark.parametrize(("profile", "natural"), [("synthetic", True), ("cifar10", False)])
    def test_absent_elsewhere(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys, profile, natural
    ) -> None:
        """No section for a synthetic run, nor for a cifar10 run without natural cells."""
        folder = _fake_run(tmp_path, make_record, make_run, profile, natural)
        assert compare_run(load_run(folder)) is None
        assert reference_markdown(folder) == ""
        assert main(["report", str(folder), "--no-plots"]) == 0
        assert "RobustBench" not in capsys.readouterr().out
        assert "RobustBench" not in (folder / "table.md").read_text()
        assert reference.main([str(folder)]) == 1
        assert "no CIFAR-10-C comparison" in capsys.readouterr().err
