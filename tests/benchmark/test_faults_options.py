"""Issue 15, defects 2 and 3 (the pytest side): every option is checked when the run starts.

Each test injects one bad option value; before, the run failed with a raw traceback after work
was done (or skipped every cell and exited 0); now it stops with a usage error naming the option,
the value and what was expected, before any cell runs and before anything is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from robustmq.benchmark.context import BenchContext
from robustmq.benchmark.settings import BenchSettings
from robustmq.benchmark.validation import check_checkpoints, check_device
from robustmq.cells import ModelSpec
from robustmq.exceptions import InvalidOptionError

RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py
README = Path(__file__).resolve().parents[2] / "README.md"


def _stops(pytester: pytest.Pytester, *args: str) -> str:
    """Run the (in-process) benchmark with ``args``; assert a usage error before any cell, return
    the error text."""
    result = pytester.runpytest("--rmq-output=out", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.outlines
    assert not (pytester.path / "out" / "journal.jsonl").exists()
    return "\n".join(result.errlines)


def test_an_output_that_is_a_file_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench
) -> None:
    """Defect 2 (--rmq-output a file: INTERNALERROR after the first cell): a usage error names the
    option, its value and that a folder was expected."""
    (pytester.path / "taken").write_text("")
    for value in ("taken", "taken/sub"):
        text = _stops(pytester, f"--rmq-output={value}")
        assert f"--rmq-output={value}: " in text
        assert "is a file" in text


def test_a_save_baseline_that_is_a_folder_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench
) -> None:
    """Defect 2 (--rmq-save-baseline a folder: traceback after the whole run): refused at once."""
    (pytester.path / "folder").mkdir()
    text = _stops(pytester, "--rmq-save-baseline=folder")
    assert "--rmq-save-baseline=folder: is a folder; expected the path of a file" in text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2]", "got a JSON list"),
        ('{"results": "abc"}', "got an object with {'results': str}"),
        ('{"results": [{"cell": 1}]}', "results[0]: record 1: fields ['arch'"),
        ("{not json", "cannot be read as JSON"),
    ],
    ids=["list", "results-string", "bad-record", "not-json"],
)
def test_a_baseline_of_the_wrong_shape_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench, content: str, expected: str
) -> None:
    """Defect 2 (a baseline of the wrong JSON shape: INTERNALERROR AttributeError): a usage error
    names --rmq-baseline, the file and what is wrong with it."""
    (pytester.path / "base.json").write_text(content)
    text = _stops(pytester, "--rmq-baseline=base.json")
    assert "--rmq-baseline=base.json: " in text
    assert expected in text


def test_a_baseline_with_a_string_metric_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench, make_record: Any
) -> None:
    """Defect 2 (a string metric left its cell silently unchecked): the baseline is refused,
    naming the record and the field."""
    record = make_record().to_json()
    record["metrics"]["accuracy"] = "abc"
    (pytester.path / "base.json").write_text(json.dumps({"run": {}, "results": [record]}))
    text = _stops(pytester, "--rmq-baseline=base.json")
    assert "field 'metrics.accuracy' is 'abc' (str); expected a number" in text


def test_a_device_that_is_not_there_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench
) -> None:
    """Defect 2 (--rmq-device cuda without a GPU, or cuda:7 with fewer: every cell failed with a
    RuntimeError): refused at once, naming the device."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    values = [f"cuda:{count + 7}", "gpu"] + ([] if count else ["cuda"])
    for value in values:
        text = _stops(pytester, f"--rmq-device={value}")
        assert f"--rmq-device={value!r}" in text


def test_an_imagenet_c_folder_that_is_not_there_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench
) -> None:
    """--rmq-imagenet-c naming no folder (once found only when the first natural cell ran): a
    usage error at the start, naming the option, its value and the layout."""
    text = _stops(pytester, "--rmq-imagenet-c=missing")
    assert "--rmq-imagenet-c=missing: no such folder" in text


def test_a_gpu_index_beyond_the_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 2 (cuda:7 on a machine with fewer GPUs), with one GPU simulated: cuda and cuda:0
    pass, cuda:7 is refused naming the GPUs there are."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    check_device("cuda")
    check_device("cuda:0")
    with pytest.raises(
        InvalidOptionError, match=r"has 1 CUDA GPU\(s\); expected cuda:0 \.\. cuda:0"
    ):
        check_device("cuda:7")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "{model}.safetensors",
            "unknown field {model}; expected {arch}, {quantizer}, {bits}, {id}",
        ),
        ("{id.safetensors", "is not a valid pattern (expected '}' before end of string)"),
        ("{id}}.safetensors", "is not a valid pattern (Single '}' encountered"),
        ("{arch:d}.safetensors", "cannot be filled in (ValueError: Unknown format code 'd'"),
        ("missing/{id}.safetensors", "no such folder missing"),
    ],
    ids=["unknown-field", "unbalanced", "single-brace", "bad-format", "missing-folder"],
)
def test_a_bad_checkpoint_pattern_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench, pattern: str, expected: str
) -> None:
    """Defect 2 (a {model} or unbalanced brace failed every cell with a raw KeyError or
    ValueError): the pattern's fields are checked against those the harness fills."""
    text = _stops(pytester, f"--rmq-checkpoints={pattern}")
    assert f"--rmq-checkpoints={pattern!r}" in text
    assert expected in text


def test_checkpoints_that_are_a_file_or_missing_stop_the_run(
    pytester: pytest.Pytester, run_bench: RunBench
) -> None:
    """Defect 2 (--rmq-checkpoints a file or a missing folder: every cell skipped, exit 0)."""
    (pytester.path / "model.safetensors").write_text("")
    assert "model.safetensors: is a file; expected a folder" in _stops(
        pytester, "--rmq-checkpoints=model.safetensors"
    )
    assert "--rmq-checkpoints=nowhere: no such folder" in _stops(
        pytester, "--rmq-checkpoints=nowhere"
    )


def test_fewer_samples_than_classes_stops_the_run(
    pytester: pytest.Pytester, run_bench: RunBench
) -> None:
    """Defect 2 (--rmq-n-samples 3 silently evaluated one image per class, 10): refused, naming
    the minimum for the profile."""
    text = _stops(pytester, "--rmq-n-samples=3")
    assert "--rmq-n-samples=3 is too small" in text
    assert "an integer >= 10 for the synthetic profile" in text


def test_good_options_pass_the_checks(assets: dict[str, Path]) -> None:
    """The patterns and folders that work are accepted (the checks refuse only what would fail)."""
    check_checkpoints(str(assets["ckpt"]))
    check_checkpoints(str(assets["ckpt"] / "{id}.safetensors"))
    check_checkpoints(str(assets["ckpt"] / "{arch}-{quantizer}-{bits:d}bit.safetensors"))
    with pytest.raises(InvalidOptionError, match="no field"):
        check_checkpoints(str(assets["ckpt"] / "{{id}}.safetensors"))


def test_the_readme_pattern_finds_the_checkpoints_its_train_commands_write() -> None:
    """Defect 3 (README's pattern {arch}-{quantizer}-{bits}bit expected resnet18-fp32-32bit, but
    its own `robustmq train` wrote resnet18-fp32): the example pattern resolves, for each model,
    to the path the README's train commands write."""
    text = README.read_text(encoding="utf-8")
    pattern = re.search(r"--rmq-checkpoints '([^']+)'", text)
    assert pattern is not None
    written = re.findall(r"robustmq train [^`]*?--out (\S+\.safetensors)", text)
    assert len(written) == 2
    settings = BenchSettings(profile="imagenet", checkpoints=pattern[1])
    context = BenchContext(settings, lambda _: None)
    for path in written:
        spec = ModelSpec.parse(Path(path).stem)
        assert context.checkpoint_for(spec) == Path(path)
