"""``robustmq ptq`` and ``--import MODULE_OR_FILE`` on every command."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from robustmq.checkpoints import open_checkpoint, read_checkpoint_metadata, save_checkpoint
from robustmq.cli import build_parser, main, model_commands
from robustmq.cli.imports import FLAG, leaf_parsers
from robustmq.data import clear_cache, ensure_synthetic
from robustmq.data.cache import ENV_HOME
from robustmq.hashing import sha256_file
from robustmq.models import create_model


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary ROBUSTMQ_HOME holding a small synthetic folder and a float checkpoint."""
    home = tmp_path_factory.mktemp("ptq-cli-home")
    clear_cache()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_HOME, str(home))
        ensure_synthetic(home / "data", train_per_class=2, val_per_class=50, size=16)
        torch.manual_seed(0)
        save_checkpoint(create_model("resnet18", 10, 0.125), home / "float.safetensors")
        yield home
    clear_cache()


def _ptq_argv(home: Path, out: Path, *extra: str) -> list[str]:
    return [
        *["ptq", "--arch", "resnet18", "--init", str(home / "float.safetensors")],
        *["--quantizer", "lsq", "--bits", "4", "--data-root", str(home / "data")],
        *["--images", "10", "--device", "cpu", "--out", str(out), *extra],
    ]


class TestPtqCommand:
    def test_writes_out_and_prints_path_sha256_and_accuracy(
        self, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """One line; --out is a copy of the cached checkpoint; a second run reuses the cache."""
        out = tmp_path / "q" / "resnet18-lsq-4bit.safetensors"
        assert main(_ptq_argv(home, out)) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 1
        sha = sha256_file(out)
        assert lines[0].startswith("resnet18-lsq-4bit: PTQ from ")
        assert f"(10 calibration images, 0 fine-tune epochs) -> {out} sha256 {sha} " in lines[0]
        assert "val accuracy" in lines[0]
        assert "on 500 synthetic images" in lines[0]
        cached = list((home / "ptq" / "synthetic").glob("resnet18-lsq-4bit-*.safetensors"))
        assert [sha256_file(p) for p in cached] == [sha]
        assert read_checkpoint_metadata(out)["meta"]["method"] == "ptq"
        assert open_checkpoint(out, arch="resnet18", quantizer="lsq", bits=4).meta["bits"] == 4
        again = tmp_path / "again.safetensors"
        assert main(_ptq_argv(home, again)) == 0
        assert sha256_file(again) == sha

    def test_cache_root_and_input_size(
        self, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "small.safetensors"
        argv = _ptq_argv(home, out, "--cache-root", str(tmp_path / "c"), "--input-size", "32")
        assert main(argv) == 0
        assert len(list((tmp_path / "c").glob("*.safetensors"))) == 1
        pipeline = read_checkpoint_metadata(out)["meta"]["calibration"]["pipeline"]
        assert pipeline["crop_size"] == 32
        assert str(out) in capsys.readouterr().out

    def test_a_bad_float_checkpoint_exits_2_naming_it(
        self, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        missing = tmp_path / "nope.safetensors"
        argv = _ptq_argv(home, tmp_path / "o.safetensors")
        argv[argv.index("--init") + 1] = str(missing)
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("robustmq: error: ")
        assert str(missing) in err
        assert not (tmp_path / "o.safetensors").exists()

    def test_required_options(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["ptq", "--arch", "resnet18"])
        assert "--init" in capsys.readouterr().err


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """sys.path is restored and the modules the test imported are forgotten afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("_robustmq_import_", "rmq_test_")):
            del sys.modules[name]


@pytest.mark.usefixtures("clean_imports")
class TestImport:
    def test_every_command_takes_it(self) -> None:
        """Each leaf command (list, layers, train, zoo build, ptq, merge, ...) has --import."""
        leaves = list(leaf_parsers(build_parser()))
        names = {leaf.prog.split(" ", 1)[1] for leaf in leaves}
        assert {"list", "layers", "train", "zoo build", "ptq", "merge", "report"} <= names
        for leaf in leaves:
            assert FLAG in leaf._option_string_actions, leaf.prog
        args = build_parser().parse_args(["list", "--import", "a", "--import", "b.py"])
        assert args.imports == ["a", "b.py"]
        assert build_parser().parse_args(["list"]).imports is None

    def test_a_file_runs_before_the_command(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A .py path is run once (repeated, it is not run again) before the command."""
        monkeypatch.setenv("RMQ_TEST_IMPORTS", "")
        script = tmp_path / "my-models.py"
        script.write_text("import os\nos.environ['RMQ_TEST_IMPORTS'] += 'x'\n")
        assert main(["list", "--import", str(script), "--import", str(script)]) == 0
        assert capsys.readouterr().out.startswith("architectures:")
        assert os.environ["RMQ_TEST_IMPORTS"] == "x"

    def test_a_module_name_is_imported_from_the_current_folder(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "rmq_test_user_models.py").write_text("LOADED = True\n")
        monkeypatch.chdir(tmp_path)
        assert main(["list", "--import", "rmq_test_user_models"]) == 0
        assert sys.modules["rmq_test_user_models"].LOADED is True

    def test_a_registered_model_joins_the_commands(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The file's robustmq.register_model call takes effect: ``list`` shows the model."""
        from robustmq.models.external import unregister_model

        script = tmp_path / "tiny_models.py"
        script.write_text(
            "import robustmq\nfrom torch import nn\n\n"
            "def tiny(num_classes):\n"
            "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))\n\n"
            "robustmq.register_model('rmq_test_tiny', tiny, input_size=16)\n"
        )
        try:
            assert main(["list", "--import", str(script)]) == 0
            assert "rmq_test_tiny" in capsys.readouterr().out.splitlines()[0]
        finally:
            unregister_model("rmq_test_tiny")

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ("x = 1 / 0\n", "importing it raised ZeroDivisionError: division by zero ("),
            ("import rmq_no_such_dependency\n", "raised ModuleNotFoundError: No module named"),
            ("def broken(:\n", "raised SyntaxError"),
        ],
    )
    def test_a_failing_file_exits_2_naming_it(
        self, source: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        script = tmp_path / "bad_models.py"
        script.write_text(source)
        assert main(["list", "--import", str(script)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith(f"robustmq: error: --import {script}: ")
        assert message in captured.err

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("rmq_no_such_module", "--import rmq_no_such_module: no module named"),
            ("missing/models.py", "--import missing/models.py: no such file"),
        ],
    )
    def test_a_missing_module_or_file_exits_2(
        self, value: str, message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["list", "--import", value]) == 2
        assert capsys.readouterr().err.startswith(f"robustmq: error: {message}")

    def test_zoo_build_jobs_children_import_too(self) -> None:
        args = build_parser().parse_args(
            ["zoo", "build", "--jobs", "2", "--import", "m", "--import", "f.py"]
        )
        command = model_commands._child_command(args)
        assert command[command.index("--import") :][:4] == ["--import", "m", "--import", "f.py"]
