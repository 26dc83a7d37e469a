"""A noise family registered from outside robustmq/ gets cells, markers, options, records, table
columns and summaries; the regression gate reads each metric's declared direction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: A toy family, registered by the test folder's conftest.py (no edit of robustmq/).
TOY_FAMILY = """
import torch

from robustmq.options import Option
from robustmq.predict import predict
from robustmq.results.family import Family, FamilyCell, Metric, Outcome, register_family
from robustmq.results.summary import ModelSummary


class ToyFamily(Family):
    name = "toy"
    description = "toy-family cells"
    markers = {"toy_odd": "odd toy cells"}
    options = (
        Option("toy_shift", 0.0, "added to every pixel (default: 0)", kind=float),
        # stand-ins for a changed model in the gate tests: neutral, or the gate would refuse a
        # baseline of other settings (it compares like with like)
        Option("toy_headline", None, "report this value instead", kind=float, neutral=True),
        Option("toy_diagnostic", 0.5, "the diagnostic's value", kind=float, neutral=True),
        Option("toy_wrong", -1, "first N samples wrong, the rest right", kind=int, neutral=True),
    )
    metrics = (
        Metric("toy_accuracy", "top-1 accuracy on shifted images"),
        Metric("toy_level", "a diagnostic", direction="lower", role="diagnostic"),
    )
    summary_metrics = (Metric("toy_mean", "mean toy accuracy over the cells"),)
    order = 50

    def cells(self, profile):
        return [FamilyCell(f"toy{i}", ("toy_odd",) if i % 2 else (), i) for i in range(3)]

    def evaluate(self, model, cell, context):
        data = context.eval_data()
        shift = context.settings.option("toy_shift") * cell.data
        images = (data.images + shift).clamp(0, 1)
        correct = predict(model.model, images, 64, context.device) == data.labels
        wrong = context.settings.option("toy_wrong")
        if wrong >= 0:
            correct = torch.arange(len(correct)) >= wrong
        headline = context.settings.option("toy_headline")
        value = float(correct.float().mean()) if headline is None else headline
        return Outcome(
            metrics={"toy_accuracy": value, "toy_level": context.settings.option("toy_diagnostic")},
            correct=correct,
            params={"index": cell.data},
        )

    def summarize(self, own, every):
        values = [r.metrics["toy_accuracy"] for r in own if r.family == "toy"]
        return ModelSummary({"toy_mean": sum(values) / len(values)}) if values else None


register_family(ToyFamily(), replace=True)
"""

TOY_TEST = """
import pytest

pytestmark = pytest.mark.toy


def test_toy(spec, cell, rmq):
    rmq.evaluate(spec, cell)
"""


@pytest.fixture
def toy(pytester: pytest.Pytester, assets: dict[str, Path], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the toy family's cells of resnet18-fp32 in a subprocess; returns (result, results)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    pytester.makeconftest(TOY_FAMILY)
    pytester.makepyfile(test_toy=TOY_TEST)

    def run(*args: str) -> tuple[pytest.RunResult, dict[str, object] | None]:
        out = pytester.path / "out"
        (out / "results.json").unlink(missing_ok=True)
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--rmq-data-root={assets['data']}",
            f"--rmq-checkpoints={assets['ckpt']}",
            "--rmq-n-samples=30",
            "--rmq-device=cpu",
            "--rmq-output=out",
            "-k",
            "resnet18-fp32",
            *args,
        )
        path = out / "results.json"
        return result, json.loads(path.read_text()) if path.is_file() else None

    return run


def test_a_toy_family_gets_cells_markers_options_records_columns_and_summaries(  # type: ignore[no-untyped-def]
    toy, pytester: pytest.Pytester
) -> None:
    """The registered family's cells run as pytest cases with its markers and options, and its
    records, table columns and summaries reach the results."""
    result, data = toy("--rmq-toy-shift=0.25")
    result.assert_outcomes(passed=3)
    assert data is not None
    records = {r["cell"]: r for r in data["results"]}  # type: ignore[index]
    assert sorted(records) == [f"resnet18-fp32-toy{i}" for i in range(3)]
    first = records["resnet18-fp32-toy0"]
    assert first["family"] == "toy"
    assert first["noise"] == "toy0"
    assert set(first["metrics"]) == {"toy_accuracy", "toy_level"}
    assert first["settings"]["toy_shift"] == 0.25  # a family option is stored in every record
    assert first["n_samples"] == 30
    summary = data["summaries"]["resnet18-fp32"]["values"]  # type: ignore[index]
    mean = sum(r["metrics"]["toy_accuracy"] for r in records.values()) / 3
    assert summary["toy_mean"] == pytest.approx(mean)
    header = (pytester.path / "out" / "table.md").read_text().splitlines()[0]
    assert header.split(" | ")[3:] == ["toy0", "toy1", "toy2", "toy_mean", "flags |"]
    odd, _ = toy("-m", "toy_odd")
    odd.assert_outcomes(passed=1)  # only toy1 carries the sub-marker
    markers = toy("--markers")[0].stdout.str()
    assert "@pytest.mark.toy: toy-family cells" in markers
    assert "@pytest.mark.toy_odd: odd toy cells" in markers


def test_the_gate_reads_directions_from_declared_metrics(toy, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    """A diagnostic moving either way passes the gate; a headline metric dropping past the margin
    fails its cell, naming the metric."""
    baseline = pytester.path / "baseline.json"
    first, _ = toy("--rmq-toy-headline=0.8", f"--rmq-save-baseline={baseline}")
    first.assert_outcomes(passed=3)
    gate = (f"--rmq-baseline={baseline}", "--rmq-tolerance=1", "--rmq-z=0")
    for diagnostic in ("0.0", "1.0"):  # far beyond the 1-point margin, both ways
        moved, _ = toy("--rmq-toy-headline=0.8", f"--rmq-toy-diagnostic={diagnostic}", *gate)
        moved.assert_outcomes(passed=3)
    kept, _ = toy("--rmq-toy-headline=0.795", *gate)  # within the margin
    kept.assert_outcomes(passed=3)
    dropped, data = toy("--rmq-toy-headline=0.7", *gate)
    dropped.assert_outcomes(failed=3)
    dropped.stdout.fnmatch_lines(["*toy_accuracy fell from 80.00 % (baseline) to 70.00 %*"])
    assert data is not None
    assert len(data["results"]) == 3


def test_the_gate_pairs_the_same_samples(toy, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    """On the same samples the gate counts flips: 3 of 30 turned wrong is within chance (sign
    test p = 0.125), 12 of 30 is not (p = 0.0002) and the message says how many flipped."""
    baseline = pytester.path / "baseline.json"
    toy("--rmq-toy-wrong=0", f"--rmq-save-baseline={baseline}")[0].assert_outcomes(passed=3)
    gate = (f"--rmq-baseline={baseline}", "--rmq-tolerance=1")
    toy("--rmq-toy-wrong=3", *gate)[0].assert_outcomes(passed=3)
    dropped, _ = toy("--rmq-toy-wrong=12", *gate)
    dropped.assert_outcomes(failed=3)
    dropped.stdout.fnmatch_lines(
        [
            "*toy_accuracy fell from 100.00 %*12 went from correct to wrong and 0 from wrong*"
            "p = 0.00024*"
        ]
    )
