"""robustmq findings: paired tests of the paper's four findings on fabricated per-sample records.

Outcomes are nested ("the first k images right"), so effects, discordant counts and verdicts can
be worked out by hand: a model right on the first 120 of 200 images and one right on the first
180 differ by 30 points on 60 discordant images, all one way.
"""

from __future__ import annotations

import json

import pytest
import torch

from robustmq.cli import main
from robustmq.report.findings import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_ENOUGH,
    REFERENCE_RESIZE,
    SUPPORTED,
    FindingRules,
    assess_findings,
)
from robustmq.results.paired import holm, mcnemar
from robustmq.results.record import pack_correct

N = 200
RULES = FindingRules(n_boot=500)


def _right(k: int, n: int = N) -> list[bool]:
    return [i < k for i in range(n)]


def _packed(k: int) -> str:
    """``_right(k)`` packed as a record's per-sample bits."""
    return pack_correct(torch.tensor(_right(k)))


def _systematic(
    make_record, quantizer, bits, accuracy, variants=("decoder_pil", "decoder_opencv"), **kw
):  # type: ignore[no-untyped-def]
    """One record per variant, right on the first ``accuracy * N`` images (or per variant)."""
    if isinstance(accuracy, float):
        accuracy = dict.fromkeys(variants, accuracy)
    return [
        make_record(
            "resnet18", quantizer, bits, "systematic", v, a, correct=_right(round(a * N)), **kw
        )
        for v, a in accuracy.items()
    ]


def _adversarial(make_record, quantizer, bits, clean, survived):  # type: ignore[no-untyped-def]
    """FGSM and PGD cells on images 0..N-1: the first ``clean`` clean-correct, the first
    ``survived`` right under both attacks (WCAR = survived / clean)."""
    details = {"sample_indices": list(range(N)), "clean_correct": _packed(clean)}
    return [
        make_record(
            "resnet18",
            quantizer,
            bits,
            "adversarial",
            f"{attack}-eps1",
            survived / N,
            correct=_right(survived),
            params={"attack": attack, "eps": 1 / 255, "diagnostic": False},
            settings={"adversarial": details},
        )
        for attack in ("fgsm_linf", "pgd_linf")
    ]


def _natural(make_record, quantizer, bits, accuracy):  # type: ignore[no-untyped-def]
    """Five severities per corruption, each right on the first ``accuracy * N`` images."""
    return [
        make_record(
            "resnet18",
            quantizer,
            bits,
            "natural",
            f"{name}-s{s}",
            a,
            correct=_right(round(a * N)),
            params={"corruption": name, "severity": s},
        )
        for name, a in accuracy.items()
        for s in range(1, 6)
    ]


def _part(records, finding, part, rules=RULES):  # type: ignore[no-untyped-def]
    return assess_findings(records, rules=rules).findings[finding - 1].parts[part]


class TestFinding1:
    def test_lower_accs_supported_effects_hand_computed(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """ACCs fp 90 % vs 60, 70, 80 %: unit effects +30, +20, +10 pp, pooled +20 pp."""
        records = _systematic(make_record, "fp32", None, 0.9)
        for bits, acc in ((2, 0.6), (4, 0.7), (8, 0.8)):
            records += _systematic(make_record, "lsq", bits, acc)
        part = _part(records, 1, 2)
        assert [round(u.effect, 6) for u in part.units] == [0.3, 0.2, 0.1]
        assert part.units[0].detail == "ACCs 60.0% vs 90.0%"
        assert part.test is not None
        assert part.test.effect.value == pytest.approx(0.2)
        assert part.test.effect.low > 0
        assert part.test.p_adjusted <= 0.05
        assert part.verdict == SUPPORTED
        assert part.summary == "3 of 3 quantized/float pairs in the claim's direction"

    def test_higher_accs_contradicts(self, make_record) -> None:  # type: ignore[no-untyped-def]
        records = _systematic(make_record, "fp32", None, 0.5)
        for bits in (2, 4, 8):
            records += _systematic(make_record, "lsq", bits, 0.8)
        assert _part(records, 1, 2).verdict == CONTRADICTED

    def test_equal_models_are_inconclusive(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """No difference at all: p = 1, inconclusive (never a tie band's vote)."""
        records = _systematic(make_record, "fp32", None, 0.7)
        for bits in (2, 4, 8):
            records += _systematic(make_record, "lsq", bits, 0.7)
        part = _part(records, 1, 2)
        assert part.verdict == INCONCLUSIVE
        assert part.test is not None
        assert part.test.effect.p_value == 1.0

    def test_one_image_apart_is_inconclusive(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """A difference of one image per model (0.5 pp) is no evidence at 200 images."""
        records = _systematic(make_record, "fp32", None, 0.7)
        for bits in (2, 4, 8):
            records += _systematic(make_record, "lsq", bits, 0.695)
        assert _part(records, 1, 2).verdict == INCONCLUSIVE

    def test_two_accuracies_use_exact_mcnemar(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """One pair, one variant: the exact McNemar test on 12 discordant images, all one way."""
        records = _systematic(make_record, "fp32", None, 0.7, variants=("decoder_pil",))
        records += _systematic(make_record, "lsq", 4, 0.64, variants=("decoder_pil",))
        part = _part(records, 1, 2, FindingRules(min_checks=1, n_boot=500))
        assert part.test is not None
        assert part.test.effect.test == "McNemar"
        assert part.test.effect.p_value == pytest.approx(mcnemar(12, 0))
        assert part.verdict == SUPPORTED

    def test_wcar_hand_computed(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """WCAR = survived / clean-correct: fp 20/160 = 12.5 %, q 60/150 = 40 %, 90/180 = 50 %,
        30/120 = 25 %: effects +27.5, +37.5, +12.5 pp."""
        records = _adversarial(make_record, "fp32", None, 160, 20)
        for bits, clean, survived in ((2, 150, 60), (4, 180, 90), (8, 120, 30)):
            records += _adversarial(make_record, "dorefa", bits, clean, survived)
        part = _part(records, 1, 0)
        assert [round(u.effect, 6) for u in part.units] == [0.275, 0.375, 0.125]
        assert part.units[0].detail == "WCAR 40.0% vs 12.5%"
        assert part.verdict == SUPPORTED

    def test_too_few_pairs_is_not_enough(self, make_record) -> None:  # type: ignore[no-untyped-def]
        records = _systematic(make_record, "fp32", None, 0.9)
        records += _systematic(make_record, "lsq", 4, 0.5)
        part = _part(records, 1, 2)
        assert part.verdict == NOT_ENOUGH
        assert part.summary == "1 quantized/float pairs; needs at least 3"

    def test_not_converged_models_are_left_out(self, make_record) -> None:  # type: ignore[no-untyped-def]
        records = _systematic(make_record, "fp32", None, 0.9)
        for bits in (2, 4, 8):
            records += _systematic(make_record, "lsq", bits, 0.6)
        records += _systematic(make_record, "pact", 2, 0.1, flags=["not_converged"])
        report = assess_findings(records, rules=RULES)
        assert report.excluded == ["resnet18-pact-2bit"]
        assert len(report.findings[0].parts[2].units) == 3
        rules = FindingRules(include_not_converged=True, n_boot=500)
        assert len(assess_findings(records, rules=rules).findings[0].parts[2].units) == 4

    def test_a_model_on_other_images_is_left_out(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """Never compared on different images: the model is named as unpaired."""
        records = _systematic(make_record, "fp32", None, 0.9)
        for bits in (2, 4, 8):
            records += _systematic(make_record, "lsq", bits, 0.6)
        records += _systematic(
            make_record, "pact", 4, 0.6, settings={"sample_ids_sha256": "other-set"}
        )
        report = assess_findings(records, rules=RULES)
        assert report.unpaired == {"systematic": ["resnet18-pact-4bit"]}
        assert [u.label for u in report.findings[0].parts[2].units] == [
            f"resnet18-lsq-{b}bit vs resnet18-fp32" for b in (2, 4, 8)
        ]


class TestFinding2:
    def test_steps_hand_computed(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """ACCs 50 -> 70 -> 85 -> 90 % over 2, 4, 6, 8 bits: +20, +15, +5 pp, supported."""
        records = []
        for bits, acc in ((2, 0.5), (4, 0.7), (6, 0.85), (8, 0.9)):
            records += _systematic(make_record, "pact", bits, acc)
        part = _part(records, 2, 2)
        assert [u.label for u in part.units] == [
            "resnet18-pact 2 -> 4 bit",
            "resnet18-pact 4 -> 6 bit",
            "resnet18-pact 6 -> 8 bit",
        ]
        assert [round(u.effect, 6) for u in part.units] == [0.2, 0.15, 0.05]
        assert part.units[0].detail == "ACCs 50.0% vs 70.0%"
        assert part.verdict == SUPPORTED


class TestFinding3:
    @staticmethod
    def _records(make_record, impulse, glass, brightness):  # type: ignore[no-untyped-def]
        others = {"fog": 0.5, "snow": 0.55, "frost": 0.6, "contrast": 0.65, "zoom_blur": 0.7}
        records = []
        for bits in (2, 4, 8):
            acc = {
                **others,
                "impulse_noise": impulse,
                "glass_blur": glass,
                "brightness": brightness,
            }
            records += _natural(make_record, "lsq", bits, acc)
        return records

    def test_clear_ranks(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """Impulse the worst (10 %), glass in the middle (60 %), brightness the best (95 %) of
        8 corruptions: impulse and brightness supported, glass contradicted (4 corruptions are
        clearly below it, top-k 3)."""
        records = self._records(make_record, 0.1, 0.6, 0.95)
        impulse, glass, brightness = assess_findings(records, rules=RULES).findings[2].parts
        assert impulse.verdict == SUPPORTED
        assert glass.verdict == CONTRADICTED
        assert brightness.verdict == SUPPORTED
        assert impulse.test is not None
        assert impulse.test.effect.test.startswith("rank test, 5 of 7 comparisons")
        assert impulse.units[0].detail.startswith("impulse_noise 10.0%, rank 1 of 8 from the worst")
        assert round(impulse.units[0].effect, 6) == 0.5  # the 3rd worst other (60 %) - 10 %

    def test_too_few_corruptions_is_not_enough(self, make_record) -> None:  # type: ignore[no-untyped-def]
        records = _natural(make_record, "lsq", 4, {"impulse_noise": 0.1, "fog": 0.5})
        part = _part(records, 3, 0)
        assert part.verdict == NOT_ENOUGH
        assert part.summary.startswith("0 quantized models with >= 7 complete corruptions")


class TestFinding4:
    VARIANTS = (
        "decoder_pil",
        "resize_pil_nearest",
        REFERENCE_RESIZE,
        "resize_opencv_area",
        "resize_pil_bicubic",
        "resize_pil_box",
        "resize_opencv_lanczos4",
    )

    def _records(self, make_record, values):  # type: ignore[no-untyped-def]
        records = []
        for q, b in (("fp32", None), ("lsq", 2), ("lsq", 4)):
            records += _systematic(make_record, q, b, dict(zip(self.VARIANTS, values, strict=True)))
        return records

    def test_nearest_lowest_and_smooth_highest(self, make_record) -> None:  # type: ignore[no-untyped-def]
        records = self._records(make_record, (0.8, 0.4, 0.9, 0.9, 0.9, 0.7, 0.75))
        nearest, smooth = assess_findings(records, rules=RULES).findings[3].parts
        assert nearest.verdict == SUPPORTED
        assert smooth.verdict == SUPPORTED
        assert nearest.units[0].detail == "nearest 40.0%, worst other resize_pil_box 70.0%"

    def test_the_reference_resize_is_in_no_group(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """The reference resize scores best, the other smooth resizes worse than box and
        lanczos: the smooth part is contradicted (the reference would have carried it)."""
        records = self._records(make_record, (0.8, 0.4, 0.99, 0.6, 0.6, 0.8, 0.8))
        part = _part(records, 4, 1)
        assert part.verdict == CONTRADICTED
        assert part.units[0].detail == "smooth 60.0% vs other 80.0%"


class TestHolm:
    def test_part_p_values_are_holm_adjusted_over_the_run(self, make_record) -> None:  # type: ignore[no-untyped-def]
        records = []
        for q, b, acc in (
            ("fp32", None, 0.9),
            ("lsq", 2, 0.8),
            ("lsq", 4, 0.85),
            ("lsq", 6, 0.87),
            ("lsq", 8, 0.88),
        ):
            records += _systematic(make_record, q, b, acc)
        parts = [p for f in assess_findings(records, rules=RULES).findings for p in f.parts]
        tests = [p.test for p in parts if p.test is not None]
        assert len(tests) == 2  # finding 1 and 2, systematic
        adjusted = holm([t.effect.p_value for t in tests])
        assert [t.p_adjusted for t in tests] == adjusted


class TestFindingsCommand:
    def test_prints_effect_interval_p_and_detectable(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys
    ) -> None:
        records = _systematic(make_record, "fp32", None, 0.9)
        for bits, acc in ((2, 0.6), (4, 0.7), (8, 0.8)):
            records += _systematic(make_record, "lsq", bits, acc)
        folder = make_run(tmp_path / "run", records)
        assert main(["findings", str(folder), "--n-boot", "500", "--units"]) == 0
        out = capsys.readouterr().out
        assert "- systematic: supported (quantized models have lower ACCs" in out
        assert "all: +20.0 pp [" in out
        for word in ("(Holm ", "detectable ", "images/class"):
            assert word in out
        assert "resnet18-lsq-2bit vs resnet18-fp32: ACCs 60.0% vs 90.0% (effect +30.0 pp)" in out
        assert "verdict: NOT ENOUGH CELLS" in out  # no adversarial or natural cells
        assert main(["findings", str(folder), "--json", "--n-boot", "500"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["findings"][0]["parts"][2]["verdict"] == SUPPORTED

    @pytest.mark.parametrize("option", [["--alpha", "1.5"], ["--top-k", "0"], ["--n-boot", "5"]])
    def test_bad_rule_is_a_clear_error(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys, option
    ) -> None:
        folder = make_run(tmp_path / "run", [make_record()])
        assert main(["findings", str(folder), *option]) == 2
        assert "expected" in capsys.readouterr().err
