"""Accuracy on source-corrupted images with and without the profile's resize: what it softens.

A corruption scale whose stage is ``source`` (``cifar10``: CIFAR-10-C's table on the 32 px
originals) corrupts the image before the profile's resize and crop, as if the released files were
fed through the pipeline; the natural cells see that. Published CIFAR-10-C results feed the
corrupted 32 px images as they are. :func:`native_accuracies` evaluates models both ways on the
same corrupted images (the natural cells' samples and seeds, so the ``through`` numbers are the
run's own), and :func:`format_native` sets them beside a reference (RobustBench's ``Standard``)
with Spearman's rank correlation. The native images are off the models' training distribution
when the profile trains through a resize: read the clean row first.

``python -m robustmq.noise.natural.perf native --profile cifar10 --data-root DIR`` prints it for
the zoo's float models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from robustmq.data.pipeline import Pipeline, to_tensor
from robustmq.exceptions import InvalidOptionError
from robustmq.noise.natural.corruptions import SEVERITIES, corruption_names, image_seed
from robustmq.noise.natural.scales import CorruptionScale
from robustmq.predict import predict

__all__ = ["NativeAccuracies", "format_native", "native_accuracies"]


@dataclass(frozen=True)
class NativeAccuracies:
    """Accuracies (fractions) per model: ``clean[model]`` and ``corrupted[corruption][model]``
    are ``(through the pipeline, native)``; corrupted ones are means over ``severities``."""

    models: tuple[str, ...]
    clean: Mapping[str, tuple[float, float]]
    corrupted: Mapping[str, Mapping[str, tuple[float, float]]]
    severities: tuple[int, ...]
    n_images: int


def _accuracy(model: nn.Module, images: Sequence[np.ndarray], labels: Tensor) -> float:
    x = torch.stack([to_tensor(image) for image in images])
    return int((predict(model, x) == labels).sum()) / len(labels)  # exact count, not float32


def native_accuracies(
    models: Mapping[str, nn.Module],
    sources: np.ndarray,
    labels: Tensor,
    sample_ids: Sequence[str],
    pipeline: Pipeline,
    scale: CorruptionScale,
    *,
    seed: int,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
) -> NativeAccuracies:
    """Each model's accuracy on ``sources`` (uint8 ``N x S x S x 3``, ``S`` = the crop size)
    corrupted under ``scale`` with the natural cells' per-image seeds, through ``pipeline``'s
    resize and crop and as they are; InvalidOptionError unless ``scale`` corrupts sources of the
    crop's size."""
    crop = pipeline.crop_size
    if scale.stage != "source":
        raise InvalidOptionError(
            f"corruption scale {scale.name!r} corrupts the crop, not the source image; the "
            "native comparison needs a scale that corrupts before the resize (e.g. 'cifar10')"
        )
    if sources.ndim != 4 or sources.shape[1:] != (crop, crop, 3):
        raise InvalidOptionError(
            f"source images of shape {sources.shape}; expected N x {crop} x {crop} x 3 (the "
            "pipeline's crop size, so that they can be fed without the resize)"
        )
    if not len(sources) == len(labels) == len(sample_ids):
        raise InvalidOptionError(
            f"{len(sources)} images, {len(labels)} labels and {len(sample_ids)} sample ids; "
            "expected as many of each"
        )
    names = list(corruption_names() if corruptions is None else corruptions)
    clean_through = [pipeline.resize_crop(image) for image in sources]
    clean = {
        m: (_accuracy(model, clean_through, labels), _accuracy(model, list(sources), labels))
        for m, model in models.items()
    }
    corrupted: dict[str, dict[str, tuple[float, float]]] = {}
    for name in names:
        per_model: dict[str, list[tuple[float, float]]] = {m: [] for m in models}
        for severity in severities:
            native = [
                scale.corrupt_source(image, name, severity, image_seed(seed, sid, name, severity))
                for image, sid in zip(sources, sample_ids, strict=True)
            ]
            through = [pipeline.resize_crop(image) for image in native]
            for m, model in models.items():
                per_model[m].append(
                    (_accuracy(model, through, labels), _accuracy(model, native, labels))
                )
        corrupted[name] = {
            m: (float(np.mean([t for t, _ in v])), float(np.mean([n for _, n in v])))
            for m, v in per_model.items()
        }
    return NativeAccuracies(
        models=tuple(models),
        clean=clean,
        corrupted=corrupted,
        severities=tuple(severities),
        n_images=len(sources),
    )


def format_native(
    result: NativeAccuracies,
    reference: Mapping[str, float] | None = None,
    reference_name: str = "reference",
) -> str:
    """A Markdown table (accuracy %, through the pipeline / native) with the means and, given a
    ``reference`` accuracy (%) per corruption, Spearman's rho of each column against it."""
    from robustmq.report.reference import spearman

    names = list(result.corrupted)
    ref = reference if reference is not None else {}
    head = ["corruption"] + ([reference_name] if ref else [])
    for m in result.models:
        head += [f"{m} through", f"{m} native"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]

    def row(label: str, ref_text: str, values: Mapping[str, tuple[float, float]]) -> str:
        cells = [label] + ([ref_text] if ref else [])
        for m in result.models:
            cells += [f"{100 * values[m][0]:.1f}", f"{100 * values[m][1]:.1f}"]
        return "| " + " | ".join(cells) + " |"

    for name in names:
        lines.append(row(name, f"{ref[name]:.2f}" if name in ref else "-", result.corrupted[name]))
    means = {
        m: (
            float(np.mean([result.corrupted[c][m][0] for c in names])),
            float(np.mean([result.corrupted[c][m][1] for c in names])),
        )
        for m in result.models
    }
    ref_mean = f"{np.mean([ref[c] for c in names]):.2f}" if ref and set(names) <= set(ref) else "-"
    lines.append(row("mean", ref_mean, means))
    lines.append(row("clean", "-", result.clean))
    if ref and len([c for c in names if c in ref]) >= 2:
        shared = [c for c in names if c in ref]
        cells = ["Spearman's rho", ""]
        for m in result.models:
            for side in (0, 1):
                # rounded: equal accuracies (counts over the same images) tie as in the report
                column = [round(result.corrupted[c][m][side], 9) for c in shared]
                rho = spearman(column, [ref[c] for c in shared])
                cells.append(f"{rho:+.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    severities = ", ".join(str(s) for s in result.severities)
    lines.append("")
    lines.append(
        f"{result.n_images} images; corrupted accuracies are means over severities {severities}; "
        "'through': the profile's resize and crop after the corruption (the natural cells' "
        "input), 'native': the corrupted images as they are"
    )
    return "\n".join(lines) + "\n"
