"""The ``robustmq`` command line: shared options, ``zoo build`` (scheduler faked), entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from robustmq._version import __version__
from robustmq.cells import ModelSpec
from robustmq.checkpoints import save_checkpoint
from robustmq.cli import build_parser, main, model_commands
from robustmq.models import create_model
from robustmq.options import DATA_ROOT, DEVICE, PROFILE, SEED, ZOO_ROOT
from robustmq.quant import describe_quantization, quantize_model
from robustmq.zoo_jobs import BuildEvent, JobPlan


@pytest.mark.parametrize(
    ("command", "required"), [(["zoo", "build"], []), (["train"], ["--arch", "a", "--out", "o"])]
)
def test_shared_options_come_from_robustmq_options(
    command: list[str], required: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--profile, --data-root, --seed and --device: defaults and help of robustmq.options."""
    args = build_parser().parse_args(command + required)
    assert (args.profile, args.data_root, args.seed, args.device) == (
        PROFILE.default,
        DATA_ROOT.default,
        SEED.default,
        DEVICE.default,
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in (PROFILE, DATA_ROOT, SEED, DEVICE):
        assert option.help in text


def test_zoo_root_is_the_root_flag(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["zoo", "build", "--root", "somewhere"])
    assert args.zoo_root == "somewhere"
    assert build_parser().parse_args(["zoo", "build"]).zoo_root is ZOO_ROOT.default
    with pytest.raises(SystemExit):
        build_parser().parse_args(["zoo", "build", "--help"])
    assert ZOO_ROOT.help in " ".join(capsys.readouterr().out.split())


def test_child_command_repeats_the_options() -> None:
    """``--jobs`` children run ``python -m robustmq.cli zoo build`` with the same options."""
    args = build_parser().parse_args(
        [
            *["zoo", "build", "--quantizer", "lsq", "--bits", "2", "4", "--root", "z"],
            *["--data-root", "d", "--seed", "1", "--device", "cpu", "--jobs", "2"],
        ]
    )
    assert model_commands._child_command(args) == [
        sys.executable,
        *["-m", "robustmq.cli", "zoo", "build", "--profile", "synthetic"],
        *["--quantizer", "lsq", "--bits", "2", "4", "--root", "z", "--data-root", "d"],
        *["--seed", "1", "--device", "cpu", "--no-progress"],
    ]
    plain = build_parser().parse_args(["zoo", "build", "--jobs", "2"])
    assert model_commands._child_command(plain)[5:] == [
        *["--profile", "synthetic", "--seed", "0", "--device", "auto", "--no-progress"]
    ]


def test_zoo_build_jobs_prints_the_split(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runs: list[tuple[list[str], JobPlan]] = []

    def run_jobs(command: list[str], plan: JobPlan) -> int:
        runs.append((command, plan))
        return 7

    monkeypatch.setattr(model_commands, "run_jobs", run_jobs)
    assert main(["zoo", "build", "--arch", "resnet18", "resnet50", "--jobs", "3"]) == 7
    assert capsys.readouterr().out == "building in 2 processes: resnet50; resnet18\n"
    assert runs[0][1].groups == [["resnet50"], ["resnet18"]]


def test_zoo_build_prints_one_line_per_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each event of the scheduler becomes one line; ``--device auto`` is resolved first."""
    seen: dict[str, Any] = {}

    def build_zoo(specs: list[ModelSpec], profile: str, **kwargs: Any) -> list[BuildEvent]:
        seen.update(kwargs, specs=[s.id for s in specs], profile=profile)
        path = Path("zoo")
        return [
            BuildEvent(1, 2, specs[0], True, 0.924, False, 1.5, path / "a.safetensors"),
            BuildEvent(2, 2, specs[1], False, 0.5, True, 12.25, path / "b.safetensors"),
        ]

    monkeypatch.setattr(model_commands, "build_zoo", build_zoo)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    argv = ["zoo", "build", "--arch", "resnet18", "--quantizer", "fp32", "lsq", "--bits", "2"]
    assert main([*argv, "--root", "r", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"[1/2] {'resnet18-fp32':28s} built val  92.4%  NC     1.5s  {Path('zoo/a.safetensors')}",
        f"[2/2] {'resnet18-lsq-2bit':28s} ok    val  50.0%    12.2s  {Path('zoo/b.safetensors')}",
    ]
    assert seen["specs"] == ["resnet18-fp32", "resnet18-lsq-2bit"]
    assert (seen["profile"], seen["root"], seen["progress"]) == ("synthetic", "r", None)
    assert seen["device"] == torch.device("cuda")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["zoo", "build", "--jobs", "0"], "--jobs=0 is invalid; expected an integer >= 1"),
        (["zoo", "build", "--profile", "imagenet"], "--profile imagenet: its checkpoints"),
        (
            ["train", "--arch", "resnet18", "--quantizer", "lsq", "--bits", "4", "--out", "x"],
            "--init is required for resnet18-lsq-4bit",
        ),
    ],
)
def test_bad_input_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"robustmq: error: {message}")


def test_python_m_robustmq_cli() -> None:
    """``python -m robustmq.cli`` is the command (``zoo build --jobs`` relies on it)."""
    result = subprocess.run(
        [sys.executable, "-m", "robustmq.cli", "--version"], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (0, f"robustmq {__version__}\n")


def test_layers_checkpoint_prints_each_quantizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``layers --checkpoint``: the definitions, then one row per weight and input quantizer."""
    torch.manual_seed(0)
    model: Any = quantize_model(create_model("resnet18", 10, 0.25), "lsq", 4)
    with torch.no_grad():
        model.conv1.input_quantizer.step.fill_(0.25)
        model.conv1.input_quantizer.initialized.fill_(True)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    assert main(["layers", "--checkpoint", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"# {path}: resnet18 lsq 4-bit, policy academic"
    assert [line.split(":")[0] for line in lines[1:4]] == [
        "# grid step",
        "# levels",
        "# image step",
    ]
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| layer |")]
    assert len(rows) == 2 * len(describe_quantization(model))
    # red: (x - 0.485) / 0.229 spans [-2.12, 2.25], codes -8..9: 18 levels; 0.25 * 0.229 = 14.6/255
    assert rows[1].startswith("| conv1 | LSQQuantizer | input | 8 | signed | step | 0.25 | yes ")
    assert rows[1].endswith("| 0.25 | 256 | 18 19 19 | 14.6 14.28 14.34 |")
    assert main(["layers", "resnet18", "pact", "--checkpoint", str(path)]) == 2
    assert "quantizer" in capsys.readouterr().err
    assert main(["layers", "resnet18"]) == 2
    assert capsys.readouterr().err.startswith("robustmq: error: layers needs ARCH QUANTIZER BITS")
