"""PNG plots of a run, per architecture (matplotlib, Agg canvas, imported only when plotting).

- ``<arch>-heatmaps.png``: quantizer x bit-width heatmaps of clean accuracy, WCAR, mNR and ACCs
  (values in %, ``NC`` marks a model that did not converge, blank = not measured);
- ``<arch>-vs-bits.png``: each of these metrics against the bit-width, one line per quantizer,
  the float model as a dashed horizontal line;
- ``<arch>-corruptions.png``: per-corruption accuracy (mean over the five severities), bars for
  the float model and for each bit-width (mean over the quantizers);
- ``<arch>-systematic.png``: the same per systematic variant.

A plot without any value to show is not written; :class:`PlotResult` says which and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from robustmq._fs import atomic_path
from robustmq.cells import FLOAT
from robustmq.report.loading import (
    CORRUPTIONS,
    VARIANTS,
    ModelValues,
    arch_order,
    corruption_accuracy,
    model_values,
    variant_accuracy,
)
from robustmq.results.record import Record
from robustmq.results.summary import ModelSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["METRICS", "PlotResult", "write_plots"]

#: (value name, label) of the heatmaps and the metric-vs-bit-width panels.
METRICS = (("clean", "clean accuracy"), ("wcar", "WCAR"), ("mnr", "mNR"), ("accs", "ACCs"))
QUANTIZER_ORDER = ("dorefa", "pact", "lsq")


@dataclass(frozen=True)
class PlotResult:
    """Paths written, and ``(plot, reason)`` of each plot left out."""

    paths: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def _not_measured(ax: Axes, label: str) -> None:
    ax.set_axis_off()
    ax.set_title(label, fontsize=9)
    ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)


def _quantizers(models: Sequence[ModelValues]) -> list[str]:
    found = {m.quantizer for m in models if m.quantizer != FLOAT}
    return [q for q in QUANTIZER_ORDER if q in found] + sorted(found - set(QUANTIZER_ORDER))


def _bits(models: Sequence[ModelValues]) -> list[int]:
    return sorted({m.bits for m in models if m.bits is not None})


def _heatmaps(arch: str, models: Sequence[ModelValues], path: Path) -> Path | None:
    import numpy as np

    quantizers, bits = _quantizers(models), _bits(models)
    if not quantizers or not any(m.get(k) is not None for m in models for k, _ in METRICS):
        return None
    cell = {(m.quantizer, m.bits): m for m in models}
    floats = [m for m in models if m.quantizer == FLOAT]
    fig = _figure(3.2 * len(METRICS), 0.6 * len(quantizers) + 1.6)
    axes = fig.subplots(1, len(METRICS), squeeze=False)[0]
    image = None
    for ax, (key, label) in zip(axes, METRICS, strict=True):
        grid = np.full((len(quantizers), len(bits)), np.nan)
        for i, q in enumerate(quantizers):
            for j, b in enumerate(bits):
                m = cell.get((q, b))
                value = m.get(key) if m else None
                if value is None or m is None:
                    continue
                grid[i, j] = 100 * value
                text = f"{100 * value:.1f}" + ("" if m.converged else "\nNC")
                color = "black" if value > 0.6 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
        image = ax.imshow(np.ma.masked_invalid(grid), vmin=0, vmax=100, cmap="viridis")
        ax.set_facecolor("0.85")
        reference = floats[0].get(key) if floats else None
        title = label if reference is None else f"{label} (fp32 {100 * reference:.1f})"
        if np.isnan(grid).all():
            _not_measured(ax, label)
            continue
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(len(bits)), [f"{b}-bit" for b in bits], fontsize=8)
        ax.set_yticks(range(len(quantizers)), quantizers, fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="%", shrink=0.8)
    fig.suptitle(f"{arch}: quantizer x bit-width (%)")
    return _save(fig, path)


def _vs_bits(arch: str, models: Sequence[ModelValues], path: Path) -> Path | None:
    quantizers = _quantizers(models)
    if not any(m.get(k) is not None for m in models for k, _ in METRICS):
        return None
    floats = [m for m in models if m.quantizer == FLOAT]
    fig = _figure(3.2 * len(METRICS), 3.0)
    axes = fig.subplots(1, len(METRICS), squeeze=False)[0]
    for ax, (key, label) in zip(axes, METRICS, strict=True):
        shown = False
        for q in quantizers:
            points = sorted(
                (m.bits, 100 * v, m.converged)
                for m in models
                if m.quantizer == q and m.bits is not None and (v := m.get(key)) is not None
            )
            if not points:
                continue
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=q)
            nc = [p for p in points if not p[2]]
            if nc:
                ax.scatter([p[0] for p in nc], [p[1] for p in nc], marker="x", color="red", s=60)
            shown = True
        reference = floats[0].get(key) if floats else None
        if reference is not None:
            ax.axhline(100 * reference, color="black", linestyle="--", label="fp32")
            shown = True
        if not shown:
            _not_measured(ax, label)
            continue
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("bit-width", fontsize=8)
        ax.set_ylabel("%", fontsize=8)
        ax.set_xticks(_bits(models) or [2, 4, 6, 8])
        ax.legend(fontsize=7)
    fig.suptitle(f"{arch}: metrics against bit-width (red x: not converged)")
    return _save(fig, path)


def _bars(
    arch: str,
    models: Sequence[ModelValues],
    per_model: dict[str, dict[str, float]],
    what: str,
    order: Sequence[str],
    path: Path,
) -> Path | None:
    import numpy as np

    found = {n for accuracy in per_model.values() for n in accuracy}
    names = [n for n in order if n in found] + sorted(found - set(order))
    if not names:
        return None
    groups: dict[str, list[dict[str, float]]] = {}
    for m in models:
        if per_model.get(m.model_id):
            label = FLOAT if m.quantizer == FLOAT else f"{m.bits}-bit"
            groups.setdefault(label, []).append(per_model[m.model_id])
    labels = [g for g in [FLOAT, *(f"{b}-bit" for b in _bits(models))] if g in groups]
    fig = _figure(max(6.0, 0.12 * len(names) * len(labels) + 2), 4.2)
    ax = fig.subplots()
    width = 0.8 / len(labels)
    x = np.arange(len(names))
    for i, group in enumerate(labels):
        heights = []
        for name in names:
            values = [v[name] for v in groups[group] if name in v]
            heights.append(100 * sum(values) / len(values) if values else np.nan)
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, heights, width, label=group)
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncols=len(labels))
    ax.set_title(f"{arch}: accuracy per {what} (quantized: mean over quantizers)", fontsize=10)
    return _save(fig, path)


def write_plots(
    folder: str | Path,
    records: Sequence[Record],
    summaries: dict[str, ModelSummary] | None = None,
) -> PlotResult:
    """Write the plots of ``records`` into ``folder`` (created); returns what was written."""
    folder = Path(folder)
    values = model_values(records, summaries)
    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model_id, []).append(r)
    result = PlotResult()
    for arch in arch_order({m.arch for m in values.values()}):
        models = [m for m in values.values() if m.arch == arch]
        corruptions = {m.model_id: corruption_accuracy(by_model[m.model_id]) for m in models}
        variants = {m.model_id: variant_accuracy(by_model[m.model_id]) for m in models}
        plots: list[tuple[str, Path | None, str]] = []
        for name, draw, reason in (
            ("heatmaps", _heatmaps, "no quantized model measured"),
            ("vs-bits", _vs_bits, "no metric measured"),
        ):
            plots.append((name, draw(arch, models, folder / f"{arch}-{name}.png"), reason))
        path = folder / f"{arch}-corruptions.png"
        plots.append(
            (
                "corruptions",
                _bars(arch, models, corruptions, "corruption", CORRUPTIONS, path),
                "no natural corruption with all five severities",
            )
        )
        path = folder / f"{arch}-systematic.png"
        plots.append(
            (
                "systematic",
                _bars(arch, models, variants, "variant", VARIANTS, path),
                "no systematic cell",
            )
        )
        for name, written, reason in plots:
            if written is None:
                result.skipped.append((f"{arch}-{name}", reason))
            else:
                result.paths.append(written)
    return result
