"""The benchmark's options (``--rmq-*``): the harness's own and those the noise families add.

Defined once as :class:`~robustmq.options.Option` s: the plugin registers them with pytest,
:class:`~robustmq.benchmark.settings.BenchSettings` holds their values (stored in every record)
and the journal leaves the ``neutral`` ones (they never change a number) out of its cell keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from robustmq.options import DATA_ROOT, DEVICE, PROFILE, SEED, ZOO_ROOT, Option
from robustmq.ptq import DEFAULT_PTQ_IMAGES
from robustmq.results.family import family_order

__all__ = ["HARNESS_OPTIONS", "PTQ_IMAGES", "family_options", "neutral_settings"]

#: ``--rmq-ptq-images``' default: :data:`robustmq.ptq.DEFAULT_PTQ_IMAGES`.
PTQ_IMAGES = DEFAULT_PTQ_IMAGES

#: The harness's own options, in ``pytest --help`` order.
HARNESS_OPTIONS: Sequence[Option] = (
    PROFILE,
    DATA_ROOT,
    Option(
        "checkpoints",
        None,
        "checkpoint folder (holding <model id>.safetensors: resnet18-fp32.safetensors, "
        "resnet18-lsq-4bit.safetensors, ...; a float model's may be <arch>-fp32.pth, a plain "
        "state_dict), or a pattern with the fields {arch}, {quantizer}, "
        "{bits} (32 for the float model) and {id} (the model id), such as "
        "'/ckpts/{id}.safetensors' (default: the profile's zoo in the cache, built on demand "
        "where the profile allows)",
    ),
    Option(
        "archs",
        None,
        "architectures of the grid, comma-separated, e.g. resnet18,mynet (default: the paper's "
        "four, then every model registered with robustmq.register_model)",
        neutral=True,
        metavar="A,B",
    ),
    Option(
        "quantizers",
        None,
        "quantizers of the grid's rows, comma-separated, fp32 naming the float row, e.g. "
        "fp32,lsq (default: fp32,dorefa,pact,lsq)",
        neutral=True,
        metavar="Q,R",
    ),
    Option(
        "bits",
        None,
        "bit-widths of the grid's quantized rows, comma-separated, each in 2..8 (default: 2,4,6,8)",
        neutral=True,
        metavar="B,C",
    ),
    Option(
        "ptq",
        False,
        "post-training quantization: a quantized row without a checkpoint file in "
        "--rmq-checkpoints is made from its float checkpoint (that folder's, or the zoo's) by "
        "quantize_model and calibration on --rmq-ptq-images training images, no training (QAT), "
        "and cached by content (default: off)",
        kind=bool,
    ),
    Option(
        "ptq_images",
        PTQ_IMAGES,
        f"--rmq-ptq: calibration images, class-balanced from the profile's training set "
        f"(default: {PTQ_IMAGES})",
        kind=int,
    ),
    Option(
        "ptq_epochs",
        0,
        "--rmq-ptq: epochs of fine-tuning after calibration, with the profile's QAT recipe "
        "(default: 0, none)",
        kind=int,
    ),
    ZOO_ROOT,
    DEVICE,
    Option(
        "n_samples",
        None,
        "evaluation images in all, spread evenly over the classes: rounded down to a multiple "
        "of the class count, at least one per class (fewer is refused) "
        "(default: the profile's: synthetic 500, cifar10 1000, imagenet 5000)",
        kind=int,
    ),
    Option("batch_size", 128, "evaluation batch size (default: 128)", kind=int),
    SEED,
    Option(
        "output",
        "benchmark-results",
        "folder for results.json, results.csv, table.md (default: benchmark-results)",
        neutral=True,
    ),
    Option(
        "strict",
        False,
        "a missing checkpoint fails its cell instead of skipping it (default: off)",
        kind=bool,
        neutral=True,
    ),
    Option(
        "resume",
        False,
        "skip cells already in the output folder's journal.jsonl with the same settings and "
        "checkpoint (their journaled records are reported); default: rerun everything",
        kind=bool,
        neutral=True,
    ),
    Option(
        "baseline",
        None,
        "regression gate: a results.json of an earlier run of the same profile, samples and "
        "settings (another is refused); a cell fails when a metric fell by more than "
        "max(--rmq-tolerance, z x standard error); cells it cannot check are listed at the end",
        neutral=True,
    ),
    Option(
        "tolerance",
        1.0,
        "regression gate: allowed drop in percentage points (default: 1.0)",
        kind=float,
        neutral=True,
    ),
    Option(
        "z",
        3.0,
        "regression gate: allowed drop in binomial standard errors (default: 3.0)",
        kind=float,
        neutral=True,
    ),
    Option(
        "save_baseline",
        None,
        "also write this run's results.json to this path, for later --rmq-baseline runs",
        neutral=True,
    ),
)


def family_options() -> list[Option]:
    """The options of every registered family, in family order (a name declared twice once)."""
    seen: dict[str, Option] = {}
    for family in family_order():
        for option in family.options:
            seen.setdefault(option.name, option)
    return list(seen.values())


def neutral_settings() -> frozenset[str]:
    """Names of the settings that never change a number (left out of journal keys)."""
    return frozenset(o.name for o in (*HARNESS_OPTIONS, *family_options()) if o.neutral)
