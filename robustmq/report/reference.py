"""A published CIFAR-10-C reference next to a ``cifar10`` run: RobustBench's ``Standard`` model.

RobustBench's CIFAR-10-C leaderboard lists per-corruption, per-severity accuracies of ``Standard``
(a WideResNet-28-10 with standard training) on the full CIFAR-10-C (the 10,000 test images, each
corruption and severity). :func:`compare_run` sets each float model of a ``cifar10`` run beside it:
accuracy per corruption (mean over the five severities) and Spearman's rank correlation of the
corruptions' accuracies (average ranks for ties). The run's corruptions are CIFAR-10-C's parameter
table applied to the run's own images (:mod:`robustmq.noise.natural.cifar_c`), not the released
files, on the records' ``n_samples`` images per cell.

``python -m robustmq.report.reference DIR`` prints the Markdown section that ``robustmq report
DIR`` appends to ``table.md``; :func:`reference_markdown` returns it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from robustmq.cells import FLOAT
from robustmq.report.loading import (
    CORRUPTIONS,
    RunData,
    arch_order,
    corruption_accuracy,
    load_run,
)
from robustmq.results.record import Record

__all__ = [
    "PROFILE",
    "SOURCE",
    "STANDARD",
    "STANDARD_CLEAN",
    "STANDARD_CORRUPTIONS",
    "ModelComparison",
    "ReferenceComparison",
    "average_ranks",
    "compare_records",
    "compare_run",
    "corruption_means",
    "main",
    "reference_markdown",
    "render_lines",
    "render_markdown",
    "run_profile",
    "spearman",
]

#: The profile whose runs are compared.
PROFILE = "cifar10"
#: Where :data:`STANDARD` comes from: repository, file, commit, row.
SOURCE = (
    "github.com/RobustBench/robustbench, model_info/cifar10/corruptions/unaggregated_results.csv "
    "at commit 12abb362a97fb7172c7b972a4d01506db9d1e87b, row 'Standard' (line 10)"
)

#: Accuracy (fraction) of ``Standard`` at severities 1..5 of each corruption, copied from
#: :data:`SOURCE` in its column order (header row 1: corruption, row 2: severity). The names are
#: RobustBench's, which are ours (ImageNet-C's).
STANDARD: Mapping[str, tuple[float, float, float, float, float]] = MappingProxyType(
    {
        "shot_noise": (0.8504, 0.7573, 0.5349, 0.4535, 0.3429),
        "motion_blur": (0.9029, 0.8385, 0.7440000000000001, 0.7483, 0.6525),
        "snow": (0.8991, 0.8043, 0.8365, 0.8051, 0.7493),
        "pixelate": (0.9195, 0.8604, 0.8002, 0.6035, 0.4155),
        "gaussian_noise": (0.7778, 0.5788, 0.3919, 0.3261, 0.2767),
        "defocus_blur": (0.9458, 0.9338, 0.8898, 0.7744, 0.5306),
        "brightness": (0.9475, 0.9438, 0.9378, 0.9281, 0.907),
        "fog": (0.9451, 0.9356, 0.9229, 0.8959, 0.7399),
        "zoom_blur": (0.8771, 0.8455, 0.7748, 0.7029, 0.5798),
        "frost": (0.8955, 0.835, 0.7261, 0.7086, 0.5870000000000001),
        "glass_blur": (0.5343, 0.5575, 0.5695, 0.4319, 0.4568),
        "impulse_noise": (0.8289, 0.6905, 0.5737, 0.4011, 0.2708),
        "contrast": (0.9427, 0.9216, 0.8972, 0.8359, 0.5331),
        "jpeg_compression": (0.8636, 0.7965, 0.7796, 0.7415, 0.6970000000000001),
        "elastic_transform": (0.9047, 0.9022, 0.8586, 0.7894, 0.7341),
    }
)
#: ``Standard``'s clean and CIFAR-10-C accuracy (%), fields ``clean_acc`` and ``corruptions_acc``
#: of ``model_info/cifar10/corruptions/Standard.json`` in the same repository and commit.
STANDARD_CLEAN = 94.78
STANDARD_CORRUPTIONS = 73.46


def corruption_means(
    table: Mapping[str, Sequence[float]] = STANDARD,
) -> dict[str, float]:
    """Mean over the severities of each corruption (fractions), in our corruption order."""
    order = [c for c in CORRUPTIONS if c in table] + sorted(set(table) - set(CORRUPTIONS))
    return {c: float(np.mean(table[c])) for c in order}


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``values``, ties given the mean of the ranks they span."""
    a = np.asarray(values, dtype=float)
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(a)]
    ranks = np.empty(len(a))
    ranks[order] = ((starts + ends + 1) / 2)[np.cumsum(first) - 1]
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson's on average ranks); NaN when either side is constant.

    ValueError unless ``x`` and ``y`` have the same length, at least 2.
    """
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"spearman needs two sequences of one length >= 2, got {len(x)}, {len(y)}")
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = float(np.sqrt((rx**2).sum() * (ry**2).sum()))
    if denominator == 0.0:
        return float("nan")
    return float(np.clip((rx * ry).sum() / denominator, -1.0, 1.0))


@dataclass(frozen=True)
class ModelComparison:
    """One float model: accuracy per corruption (fractions; complete corruptions only) and its
    Spearman correlation with the reference over the ``n`` corruptions both have."""

    model_id: str
    accuracy: dict[str, float]
    rho: float
    n: int


@dataclass(frozen=True)
class ReferenceComparison:
    """The reference's per-corruption means, the float models beside it, and the run's natural
    cells: their distinct sample counts and corruption scales."""

    reference: dict[str, float]
    models: list[ModelComparison]
    n_images: list[int]
    scales: list[str]


def run_profile(run: RunData) -> str | None:
    """The run's profile: ``run.settings``, else the one its records agree on (else None)."""
    profile = run.settings.get("profile")
    if profile is not None:
        return str(profile)
    found = {str(r.settings["profile"]) for r in run.records if "profile" in r.settings}
    return found.pop() if len(found) == 1 else None


def compare_records(records: Sequence[Record]) -> ReferenceComparison | None:
    """The float models' natural records against :data:`STANDARD` (models in the grid's order);
    None without a float model that has a complete corruption (all five severities)."""
    reference = corruption_means()
    natural = [r for r in records if r.quantizer == FLOAT and r.family == "natural"]
    order = arch_order({r.arch for r in natural})
    by_model: dict[str, list[Record]] = {}
    for r in sorted(natural, key=lambda r: (order.index(r.arch), r.model_id)):
        by_model.setdefault(r.model_id, []).append(r)
    models = []
    for model_id, own in by_model.items():
        accuracy = corruption_accuracy(own)
        paired = [c for c in reference if c in accuracy]
        if not paired:
            continue
        rho = (
            spearman([accuracy[c] for c in paired], [reference[c] for c in paired])
            if len(paired) >= 2
            else float("nan")
        )
        models.append(ModelComparison(model_id, accuracy, rho, len(paired)))
    if not models:
        return None
    shown = {m.model_id for m in models}
    cells = [r for r in natural if r.model_id in shown]
    return ReferenceComparison(
        reference,
        models,
        sorted({r.n_samples for r in cells}),
        sorted({str(r.params.get("scale", "unrecorded")) for r in cells}),
    )


def compare_run(run: RunData) -> ReferenceComparison | None:
    """:func:`compare_records` of a ``cifar10`` run; None for another profile."""
    return compare_records(run.records) if run_profile(run) == PROFILE else None


def _mean(values: Iterable[float]) -> float:
    return float(np.mean(list(values)))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _rho(m: ModelComparison, with_n: bool = False) -> str:
    text = "-" if np.isnan(m.rho) else f"{m.rho:+.3f}"
    return f"{text} (n = {m.n})" if with_n else text


def _images(comparison: ReferenceComparison) -> str:
    counts = " or ".join(f"{n:,}" for n in comparison.n_images)
    return f"{counts} image{'s' * (comparison.n_images != [1])}"


def _scale_text(comparison: ReferenceComparison) -> str:
    if comparison.scales == [PROFILE]:
        return (
            "generated with CIFAR-10-C's own parameter table (hendrycks/robustness "
            "`make_cifar_c.py`, `robustmq/noise/natural/cifar_c.py`) on our 32 px images, "
            "not read from the released CIFAR-10-C files, then fed through the profile's resize "
            "and crop as the models were trained, which softens pixel-level corruptions (noises, "
            "pixelate, JPEG; `python -m robustmq.noise.natural.perf native` evaluates the "
            "corrupted 32 px images without it)"
        )
    return (
        f"generated at corruption scale {', '.join(comparison.scales)}, not CIFAR-10-C's "
        "parameter table: the comparison is loose"
    )


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown(comparison: ReferenceComparison) -> str:
    """The comparison as a Markdown section (heading, note, table), ending in a newline."""
    models = comparison.models
    full = len(comparison.reference)
    ns = {m.n for m in models}
    n_each = len(ns) > 1
    n_text = f"n = {ns.pop()}" if not n_each else "n = the corruptions both have"
    note = (
        "Accuracy (%) per corruption, mean over severities 1-5. Reference: RobustBench's "
        f"`Standard` (WideResNet-28-10, standard training; clean {STANDARD_CLEAN:.2f} %, "
        f"CIFAR-10-C {STANDARD_CORRUPTIONS:.2f} %, from `Standard.json` in the same folder) on "
        f"the full CIFAR-10-C, 10,000 images per corruption and severity ({SOURCE}). This run: "
        f"{_images(comparison)} per corruption cell (corruption x severity), a sample of the "
        "CIFAR-10 test images, "
        f"{_scale_text(comparison)}. Spearman's rho: rank correlation of a model's "
        f"per-corruption accuracies with `Standard`'s (average ranks for ties; {n_text})."
    )
    means = [_pct(_mean(m.accuracy.values())) if m.n == full else "-" for m in models]
    return "\n".join(
        [
            "## CIFAR-10-C: float models next to RobustBench's `Standard`",
            "",
            note,
            "",
            _row(["corruption", "RobustBench Standard", *(m.model_id for m in models)]),
            "|---|" + "---:|" * (len(models) + 1),
            *(
                _row([c, _pct(mean), *(_pct(m.accuracy.get(c)) for m in models)])
                for c, mean in comparison.reference.items()
            ),
            _row(["mean", _pct(_mean(comparison.reference.values())), *means]),
            _row([f"Spearman's rho ({n_text})", "", *(_rho(m, n_each) for m in models)]),
            "",
        ]
    )


def render_lines(comparison: ReferenceComparison) -> list[str]:
    """A short terminal summary: one line per float model."""
    head = (
        f"CIFAR-10-C next to RobustBench's Standard (mean {STANDARD_CORRUPTIONS:.2f} % on "
        f"10,000 images per cell; here {_images(comparison)} per cell, scale "
        f"{', '.join(comparison.scales)}; table in table.md):"
    )
    lines = [head]
    for m in comparison.models:
        lines.append(
            f"  {m.model_id}: mean {_pct(_mean(m.accuracy.values()))} % over {m.n} corruptions, "
            f"Spearman's rho {_rho(m, with_n=True)}"
        )
    return lines


def reference_markdown(folder: str | Path) -> str:
    """The Markdown section of the run in ``folder``; empty unless it is a ``cifar10`` run with
    natural cells of a float model."""
    comparison = compare_run(load_run(folder))
    return "" if comparison is None else render_markdown(comparison)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m robustmq.report.reference DIR``: print the section (1 when there is none)."""
    parser = argparse.ArgumentParser(
        prog="python -m robustmq.report.reference",
        description="print the CIFAR-10-C section that robustmq report adds to a cifar10 run",
    )
    parser.add_argument("folder", metavar="DIR", help="output folder of a run")
    args = parser.parse_args(argv)
    run = load_run(args.folder)
    comparison = compare_run(run)
    if comparison is None:
        print(
            f"no CIFAR-10-C comparison: profile {run_profile(run)!r} (needs {PROFILE!r}) or no "
            "natural cell of a float model",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(render_markdown(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())
