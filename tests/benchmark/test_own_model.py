"""Issue 17: your own model in the grid, its checkpoints, PTQ rows, the cells run from anywhere.

The end-to-end test runs the README's "Benchmark your own model" example as it is written (its
``conftest.py``, ``save_float.py`` and command) in a pytester folder outside the repository, with
a small data set; the other tests pin the grid options, the checkpoint lookup and the package's
cell modules that the repository's ``benchmarks/`` re-exports.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

import robustmq.benchmarks
from robustmq.benchmark.context import BenchContext
from robustmq.benchmark.options import PTQ_IMAGES
from robustmq.benchmark.settings import BenchSettings
from robustmq.cells import ModelSpec
from robustmq.data import ensure_synthetic

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "## Benchmark your own model"
#: The keys of a record in results.json, as tests/test_plugin.py lists them for built-in models.
# fmt: off
RECORD_KEYS = {
    "cell", "arch", "quantizer", "bits", "family", "noise", "params", "metrics", "n_samples",
    "correct", "seed", "settings", "checkpoint_sha256", "versions", "device", "duration_s", "flags",
    "intervals", "schema",
}
# fmt: on
N = 20  # evaluation images (2 per class)
PTQ = 20  # calibration images


def readme_example() -> dict[str, str]:
    """The section's code blocks: ``conftest.py``, ``save_float.py`` (by their first comment
    line), ``command`` (the bash block, continuation lines joined) and ``table`` (the plain
    block)."""
    text = README.read_text()
    section = text[text.index(SECTION) : text.index("\n## ", text.index(SECTION) + 1)]
    blocks: dict[str, str] = {}
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", section, re.S):
        if lang == "python":
            first = body.splitlines()[0]
            name = re.match(r"# (\S+\.py)", first)
            assert name, f"a python block of the README section starts {first!r}"
            blocks[name[1].rstrip(":")] = body
        elif lang == "bash":
            blocks["command"] = body.replace("\\\n", " ").strip()
        else:
            blocks["table"] = body
    return blocks


class TestReadmeExample:
    def test_the_section_has_every_part(self) -> None:
        """conftest.py, save_float.py, one pytest --pyargs command and the table."""
        blocks = readme_example()
        assert set(blocks) == {"conftest.py", "save_float.py", "command", "table"}
        assert blocks["command"].startswith("pytest --pyargs robustmq.benchmarks ")
        assert 'register_model("tinynet", TinyNet, input_size=32)' in blocks["conftest.py"]


@pytest.fixture(scope="module")
def ptq_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic folder with as many images as PTQ reads (the recipe's 500 training images per
    class, the zoo's 50 validation images), at 40 px."""
    root = tmp_path_factory.mktemp("own-model-data")
    return ensure_synthetic(root / "data", train_per_class=500, val_per_class=50, size=40)


@pytest.mark.slow
def test_readme_example_runs_from_a_folder_of_its_own(
    pytester: pytest.Pytester, ptq_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's example outside the repository: the conftest's TinyNet (32 px, no
    normalization), its float .pth, PTQ LSQ 8-bit; clean, natural and adversarial cells of both
    rows pass, with records, ids, summaries and table rows as for built-in models."""
    assert not pytester.path.is_relative_to(ROOT)
    monkeypatch.setenv("ROBUSTMQ_HOME", str(pytester.path / "home"))  # PTQ and natural caches
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    blocks = readme_example()
    pytester.makeconftest(blocks["conftest.py"])
    pytester.path.joinpath("save_float.py").write_text(blocks["save_float.py"])
    saved = pytester.run(sys.executable, "save_float.py")
    assert saved.ret == 0, saved.errlines
    assert (pytester.path / "ckpt" / "tinynet-fp32.pth").is_file()

    command = shlex.split(blocks["command"])
    assert command[0] == "pytest"
    result = pytester.runpytest_subprocess(
        *command[1:],
        "-p",
        "no:cacheprovider",
        "-rA",
        f"--rmq-data-root={ptq_data}",
        f"--rmq-n-samples={N}",
        f"--rmq-ptq-images={PTQ}",
        "--rmq-device=cpu",
        "--rmq-output=out",
    )
    result.assert_outcomes(passed=6)
    models = {"tinynet-fp32": ("fp32", None), "tinynet-lsq-8bit": ("lsq", 8)}
    cells = {
        f"{m}{suffix}" for m in models for suffix in ("", "-gaussian_noise-s3", "-fgsm_linf-eps2")
    }
    for cell in cells:  # the ids of built-in models' cells, in the package's modules
        family = "clean" if cell in models else "natural" if "noise" in cell else "adversarial"
        result.stdout.fnmatch_lines([f"PASSED *test_{family}.py::test_{family}[[]{cell}[]]"])

    data = json.loads((pytester.path / "out" / "results.json").read_text())
    records = {r["cell"]: r for r in data["results"]}
    assert set(records) == cells
    for cell, r in records.items():
        model = cell if cell in models else cell.rsplit("-", 2)[0]
        assert set(r) == RECORD_KEYS
        assert (r["arch"], r["quantizer"], r["bits"]) == ("tinynet", *models[model])
        settings = r["settings"]
        assert settings["input_size"] == 32
        assert settings["eval_pipeline"]["crop_size"] == 32
        assert settings["eval_pipeline"]["resize_size"] == 37  # 32 x 73 / 64, rounded
        assert settings["archs"] == "tinynet"
        assert settings["ptq"] is True
        if model == "tinynet-fp32":
            assert settings["checkpoint"].endswith("ckpt/tinynet-fp32.pth")
            assert settings["checkpoint_meta"] == {}
        else:
            meta = settings["checkpoint_meta"]
            assert meta["method"] == "ptq"
            assert meta["calibration"]["images"] == PTQ
            assert meta["float_sha256"] == records["tinynet-fp32"]["checkpoint_sha256"]
            assert "/home/ptq/synthetic/tinynet-lsq-8bit-" in settings["checkpoint"]
    assert records["tinynet-fp32"]["family"] == "clean"
    assert records["tinynet-fp32"]["n_samples"] == N
    natural = records["tinynet-lsq-8bit-gaussian_noise-s3"]
    assert (natural["family"], natural["params"]["severity"]) == ("natural", 3)
    adversarial = records["tinynet-lsq-8bit-fgsm_linf-eps2"]
    assert adversarial["family"] == "adversarial"
    assert adversarial["params"]["eps"] == pytest.approx(2 / 255)
    assert set(data["summaries"]) == set(models)

    # the table: the README's header, one row per model, the float row first
    table = blocks["table"].splitlines()
    lines = result.stdout.lines
    start = lines.index(next(line for line in lines if line.startswith("arch ")))
    assert lines[start].split() == table[0].split()
    assert [line.split()[:3] for line in lines[start + 2 : start + 4]] == [
        row.split()[:3] for row in table[2:4]
    ]
    markdown = (pytester.path / "out" / "table.md").read_text()
    assert "| tinynet | fp32 | - |" in markdown
    assert "| tinynet | lsq | 8 |" in markdown


class TestGridOptions:
    @pytest.mark.parametrize(
        ("args", "cells"),
        [
            (
                ("--rmq-archs=resnet18", "--rmq-quantizers=fp32,lsq", "--rmq-bits=4"),
                ["resnet18-fp32", "resnet18-lsq-4bit"],
            ),
            (
                ("--rmq-archs=mobilenet_v2,resnet18", "--rmq-quantizers=pact", "--rmq-bits=8,2"),
                [
                    "mobilenet_v2-pact-2bit",
                    "mobilenet_v2-pact-8bit",
                    "resnet18-pact-2bit",
                    "resnet18-pact-8bit",
                ],
            ),
        ],
    )
    def test_archs_quantizers_and_bits_restrict_the_grid(
        self, pytester: pytest.Pytester, args: tuple[str, ...], cells: list[str]
    ) -> None:
        """The package's clean cells, collected with --pyargs, are the restricted grid's."""
        result = pytester.runpytest(
            "--pyargs", "robustmq.benchmarks", "--collect-only", "-q", "-k", "test_clean", *args
        )
        ids = [line.split("[", 1)[1].rstrip("]") for line in result.outlines if "::" in line]
        assert ids == cells

    @pytest.mark.parametrize(
        ("option", "message"),
        [
            (
                "--rmq-archs=resnet18,resnet19",
                "--rmq-archs='resnet18,resnet19': unknown architecture 'resnet19' (str); "
                "expected one of mobilenet_v2, regnetx_600m, resnet18, resnet50. Did you mean "
                "'resnet18'",
            ),
            ("--rmq-quantizers=fp32,lsqq", "unknown quantizer 'lsqq'*Did you mean 'lsq'"),
            ("--rmq-bits=4,9", "--rmq-bits='4,9': '9' is invalid; expected integers in 2..8"),
            ("--rmq-bits=32", "the float row is fp32 in --rmq-quantizers"),
            ("--rmq-archs=,", "--rmq-archs=',' names nothing"),
            ("--rmq-ptq-images=0", "--rmq-ptq-images=0 is invalid; expected an integer >= 1"),
        ],
    )
    def test_bad_values_stop_the_run_naming_the_option(
        self, pytester: pytest.Pytester, option: str, message: str
    ) -> None:
        """A usage error before any cell, with the registry's suggestion where there is one."""
        result = pytester.runpytest("--pyargs", "robustmq.benchmarks", "--collect-only", option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"*{message}*"])

    def test_the_ptq_images_default_is_ptq_s(self, pytester: pytest.Pytester) -> None:
        """--rmq-ptq-images defaults to robustmq.ptq.DEFAULT_PTQ_IMAGES, as its help and the
        README say."""
        from robustmq.ptq import DEFAULT_PTQ_IMAGES

        assert PTQ_IMAGES == DEFAULT_PTQ_IMAGES == BenchSettings().ptq_images
        assert f"default {DEFAULT_PTQ_IMAGES}, no training" in README.read_text()
        result = pytester.runpytest("--help")
        assert f"(default: {DEFAULT_PTQ_IMAGES})" in " ".join(" ".join(result.outlines).split())


class TestCheckpointLookup:
    def test_a_float_pth_is_found_when_no_safetensors_is(self, tmp_path: Path) -> None:
        """In a --rmq-checkpoints folder: <id>.safetensors first, <arch>-fp32.pth for the float
        model; quantized rows are .safetensors only."""
        context = BenchContext(BenchSettings(checkpoints=str(tmp_path)), lambda _: None)
        fp32, lsq = ModelSpec("resnet18"), ModelSpec("resnet18", "lsq", 4)
        assert context.checkpoint_for(fp32) == tmp_path / "resnet18-fp32.safetensors"
        (tmp_path / "resnet18-fp32.pth").write_bytes(b"")
        (tmp_path / "resnet18-lsq-4bit.pth").write_bytes(b"")
        assert context.checkpoint_for(fp32) == tmp_path / "resnet18-fp32.pth"
        assert context.checkpoint_for(lsq) == tmp_path / "resnet18-lsq-4bit.safetensors"
        (tmp_path / "resnet18-fp32.safetensors").write_bytes(b"")
        assert context.checkpoint_for(fp32) == tmp_path / "resnet18-fp32.safetensors"

    def test_ptq_applies_to_quantized_rows_without_a_file(self, tmp_path: Path) -> None:
        """--rmq-ptq: a quantized row without its file is PTQ'd (its journal key follows the
        float checkpoint); one with its file, and every float row, is read as it is."""
        settings = BenchSettings(checkpoints=str(tmp_path), ptq=True)
        context = BenchContext(settings, lambda _: None)
        lsq4, lsq8 = ModelSpec("resnet18", "lsq", 4), ModelSpec("resnet18", "lsq", 8)
        (tmp_path / "resnet18-lsq-8bit.safetensors").write_bytes(b"x")
        assert context.uses_ptq(lsq4)
        assert not context.uses_ptq(lsq8)
        assert not context.uses_ptq(ModelSpec("resnet18"))
        plain = BenchContext(BenchSettings(checkpoints=str(tmp_path)), lambda _: None)
        assert not plain.uses_ptq(lsq4)
        (tmp_path / "resnet18-fp32.pth").write_bytes(b"float")
        key = context.journal_key("test_clean", "resnet18-lsq-4bit", lsq4)
        (tmp_path / "resnet18-fp32.pth").write_bytes(b"other float")
        assert context.journal_key("test_clean", "resnet18-lsq-4bit", lsq4) != key


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"repo_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("family", ["clean", "adversarial", "natural", "systematic"])
def test_the_repository_benchmarks_reexport_the_package_s(family: str) -> None:
    """benchmarks/test_<family>.py holds the package's test function and marker, no copy."""
    package = importlib.import_module(f"robustmq.benchmarks.test_{family}")
    repo = _load(ROOT / "benchmarks" / f"test_{family}.py")
    assert getattr(repo, f"test_{family}") is getattr(package, f"test_{family}")
    assert repo.pytestmark is package.pytestmark
    assert Path(robustmq.benchmarks.__file__).parent == Path(package.__file__).parent
