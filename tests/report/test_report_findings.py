"""robustmq findings: hand-computed verdicts of the paper's four findings on fabricated runs."""

from __future__ import annotations

import json

import pytest

from robustmq.cli import main
from robustmq.report.findings import (
    CONTRADICTED,
    NOT_ENOUGH,
    SUPPORTED,
    FindingRules,
    assess_findings,
)
from robustmq.results.summary import ModelSummary


def _models(make_record, table, flags=None):  # type: ignore[no-untyped-def]
    """Clean records and summaries from ``{(quantizer, bits): {value: ...}}`` (resnet18);
    ``flags`` maps a model's (quantizer, bits) to a flag of its clean record."""
    records, summaries = [], {}
    for (quantizer, bits), values in table.items():
        flag = (flags or {}).get((quantizer, bits))
        r = make_record("resnet18", quantizer, bits, accuracy=0.9, flags=[flag] if flag else [])
        records.append(r)
        summaries[r.model_id] = ModelSummary(dict(values))
    return records, summaries


#: WCAR, mNR, ACCs per model; differences worked out in the tests' docstrings.
TABLE = {
    ("fp32", None): {"wcar": 0.10, "mnr": 0.50, "accs": 0.80},
    ("dorefa", 2): {"wcar": 0.30, "mnr": 0.30, "accs": 0.60},
    ("dorefa", 4): {"wcar": 0.20, "mnr": 0.40, "accs": 0.70},
    ("dorefa", 8): {"wcar": 0.15, "mnr": 0.45, "accs": 0.80},
    ("lsq", 2): {"wcar": 0.10, "mnr": 0.45},
    ("lsq", 4): {"wcar": 0.30, "mnr": 0.40},
    ("lsq", 8): {"wcar": 0.20, "mnr": 0.30},
}


class TestFinding1:
    def test_pairs_hand_computed(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """Adversarial d = WCAR(q) - WCAR(fp): +.2 +.1 +.05 0 +.2 +.1 -> 5 of 6 agree, 1 tie."""
        records, summaries = _models(make_record, TABLE)
        finding = assess_findings(records, summaries).findings[0]
        adversarial, natural, systematic = finding.parts
        assert [round(c.value, 6) for c in adversarial.checks] == [0.2, 0.1, 0.05, 0.0, 0.2, 0.1]
        assert [c.outcome for c in adversarial.checks].count("ties") == 1
        assert adversarial.verdict == SUPPORTED
        assert adversarial.summary.startswith("5 of 6 quantized/float pairs agree, 1 tie")
        # natural d = mNR(fp) - mNR(q): .2 .1 .05 .05 .1 .2 -> supported
        assert natural.verdict == SUPPORTED
        # systematic d = ACCs(fp) - ACCs(q): .2 .1 0 (lsq has no ACCs) -> 2 of 3 agree
        assert [round(c.value, 6) for c in systematic.checks] == [0.2, 0.1, 0.0]
        assert systematic.verdict == SUPPORTED
        assert finding.verdict == SUPPORTED

    def test_majority_against_is_contradicted(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """Quantized WCAR below the float model's in 2 of 3 pairs contradicts the claim."""
        table = {
            ("fp32", None): {"wcar": 0.30},
            ("pact", 2): {"wcar": 0.40},
            ("pact", 4): {"wcar": 0.20},
            ("pact", 8): {"wcar": 0.10},
        }
        records, summaries = _models(make_record, table)
        finding = assess_findings(records, summaries).findings[0]
        assert finding.parts[0].verdict == CONTRADICTED
        assert finding.parts[1].verdict == NOT_ENOUGH  # no mNR: 0 pairs
        assert finding.verdict == CONTRADICTED  # a contradicted part outweighs a missing one

    def test_tolerance_makes_small_differences_ties(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """With a 6 pp tolerance only the 10 and 20 pp differences agree: 4 of 6 still agree."""
        records, summaries = _models(make_record, TABLE)
        rules = FindingRules(tolerance=0.06)
        part = assess_findings(records, summaries, rules).findings[0].parts[0]
        assert [c.outcome for c in part.checks].count("agrees") == 4

    def test_not_converged_models_are_left_out(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """A not-converged model is excluded unless include_not_converged."""
        table = {**TABLE, ("pact", 2): {"wcar": 0.0}}
        records, summaries = _models(make_record, table, flags={("pact", 2): "not_converged"})
        report = assess_findings(records, summaries)
        assert report.excluded == ["resnet18-pact-2bit"]
        assert len(report.findings[0].parts[0].checks) == 6
        rules = FindingRules(include_not_converged=True)
        assert len(assess_findings(records, summaries, rules).findings[0].parts[0].checks) == 7


class TestFinding2:
    def test_steps_hand_computed(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """WCAR steps d = low - high: dorefa +.1 +.05, lsq -.2 +.1 -> 3 of 4 agree (supported);
        mNR steps d = high - low: dorefa +.1 +.05, lsq -.05 -.1 -> 2 of 4 (contradicted)."""
        records, summaries = _models(make_record, TABLE)
        finding = assess_findings(records, summaries).findings[1]
        adversarial, natural, systematic = finding.parts
        assert [c.unit for c in adversarial.checks] == [
            "resnet18-dorefa 2 -> 4 bit",
            "resnet18-dorefa 4 -> 8 bit",
            "resnet18-lsq 2 -> 4 bit",
            "resnet18-lsq 4 -> 8 bit",
        ]
        assert [round(c.value, 6) for c in adversarial.checks] == [0.1, 0.05, -0.2, 0.1]
        assert adversarial.verdict == SUPPORTED
        assert [round(c.value, 6) for c in natural.checks] == [0.1, 0.05, -0.05, -0.1]
        assert natural.verdict == CONTRADICTED
        assert systematic.verdict == NOT_ENOUGH  # two dorefa steps only
        assert finding.verdict == CONTRADICTED


def _natural(make_record, quantizer, bits, accuracy):  # type: ignore[no-untyped-def]
    """Natural records: ``{corruption: [accuracy per severity]}`` (fewer than 5: incomplete)."""
    return [
        make_record(
            "resnet18",
            quantizer,
            bits,
            "natural",
            f"{name}-s{s}",
            value,
            params={"corruption": name, "severity": s},
        )
        for name, values in accuracy.items()
        for s, value in enumerate(values, 1)
    ]


class TestFinding3:
    def test_ranks_hand_computed(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """top_k=1 over 4 complete corruptions: impulse worst in 2 of 3 models (supported), glass
        in 1 of 3 (contradicted), brightness best in 3 of 3; incomplete snow and the float
        model do not count."""
        rules = FindingRules(top_k=1)
        models = {
            ("dorefa", 2): (0.1, 0.2, 0.5, 0.9),
            ("dorefa", 4): (0.2, 0.1, 0.5, 0.9),
            ("dorefa", 8): (0.1, 0.3, 0.2, 0.4),
        }
        records = []
        for (q, b), (impulse, glass, fog, bright) in models.items():
            accuracy = {
                "impulse_noise": [impulse - 0.1, impulse, impulse, impulse, impulse + 0.1],
                "glass_blur": [glass] * 5,
                "fog": [fog] * 5,
                "brightness": [bright] * 5,
                "snow": [0.0] * 4,
            }
            records += _natural(make_record, q, b, accuracy)
        records += _natural(make_record, "fp32", None, {"impulse_noise": [0.99] * 5})
        finding = assess_findings(records, {}, rules).findings[2]
        impulse, glass, brightness = finding.parts
        assert [c.value for c in impulse.checks] == [1.0, 2.0, 1.0]
        assert impulse.verdict == SUPPORTED
        assert [c.value for c in glass.checks] == [2.0, 1.0, 3.0]
        assert glass.verdict == CONTRADICTED
        assert brightness.verdict == SUPPORTED
        assert "rank 1 of 4" in brightness.checks[0].detail
        assert finding.verdict == CONTRADICTED

    def test_too_few_corruptions_is_not_enough(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """With top_k=3 a model needs 7 complete corruptions to be ranked."""
        records = _natural(make_record, "lsq", 4, {"impulse_noise": [0.1] * 5, "fog": [0.5] * 5})
        finding = assess_findings(records, {}).findings[2]
        assert finding.verdict == NOT_ENOUGH
        assert "0 quantized models with >= 7 complete corruptions" in finding.parts[0].summary


def _systematic(make_record, quantizer, bits, accuracy):  # type: ignore[no-untyped-def]
    return [
        make_record("resnet18", quantizer, bits, "systematic", variant, value)
        for variant, value in accuracy.items()
    ]


class TestFinding4:
    def test_variants_hand_computed(self, make_record) -> None:  # type: ignore[no-untyped-def]
        """nearest d = worst other - worst nearest: +.2, -.1, +.1 -> supported;
        smooth d = mean(bilinear, area) - best other group: +.1, +.1, -.009 -> supported."""
        names = (
            "resize_pil_nearest",
            "resize_pil_bilinear",
            "resize_opencv_area",
            "resize_pil_box",
            "decoder_ffmpeg",
        )
        models = {
            ("fp32", None): (0.5, 0.8, 0.8, 0.7, 0.75),
            ("lsq", 2): (0.7, 0.8, 0.8, 0.7, 0.6),
            ("lsq", 4): (0.6, 0.7, 0.702, 0.71, 0.8),
        }
        records = []
        for (q, b), values in models.items():
            records += _systematic(make_record, q, b, dict(zip(names, values, strict=True)))
        finding = assess_findings(records, {}).findings[3]
        nearest, smooth = finding.parts
        assert [round(c.value, 6) for c in nearest.checks] == [0.2, -0.1, 0.1]
        assert nearest.verdict == SUPPORTED
        assert [round(c.value, 6) for c in smooth.checks] == [0.1, 0.1, -0.009]
        assert [c.outcome for c in smooth.checks] == ["agrees", "agrees", "disagrees"]
        assert finding.verdict == SUPPORTED


class TestFindingsCommand:
    def test_prints_verdicts_and_numbers(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys
    ) -> None:
        """On a run with clean and systematic cells: finding 1's systematic part is measured
        (ACCs from the real summarizer), the others say not enough cells."""
        records = []
        for q, b, acc in (("fp32", None, 0.8), ("lsq", 2, 0.5), ("lsq", 4, 0.6), ("lsq", 8, 0.7)):
            records.append(make_record("resnet18", q, b, accuracy=acc))
            for variant in ("resize_pil_nearest", "resize_pil_bilinear"):
                records.append(make_record("resnet18", q, b, "systematic", variant, acc))
        folder = make_run(tmp_path / "run", records)
        assert main(["findings", str(folder)]) == 0
        out = capsys.readouterr().out
        assert "Finding 1:" in out
        assert "verdict: NOT ENOUGH CELLS" in out
        assert "- systematic: supported" in out
        assert "3 of 3 quantized/float pairs agree" in out
        assert "resnet18-lsq-2bit vs resnet18-fp32: ACCs 50.0% vs 80.0% (d +30.0 pp)" in out
        assert main(["findings", str(folder), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["findings"][0]["verdict"] == NOT_ENOUGH

    @pytest.mark.parametrize("option", [["--tolerance", "-1"], ["--top-k", "0"]])
    def test_bad_rule_is_a_clear_error(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys, option
    ) -> None:
        """An invalid rule knob exits 2 naming it."""
        folder = make_run(tmp_path / "run", [make_record()])
        assert main(["findings", str(folder), *option]) == 2
        assert "expected" in capsys.readouterr().err
