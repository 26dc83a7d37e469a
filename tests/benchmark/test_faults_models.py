"""Issue 17, part 5: a model of your own that is not what it should be fails only its own cells.

Each fault (a factory that raises or returns something other than a module, logits that are not
``N x num_classes``, a state_dict that does not fit the factory's model, an ``input_size`` the
pipeline cannot deliver, a layer the quantizer cannot convert) is a typed error naming the model
and what was expected; in a run, every cell of that model fails with it and the other models'
cells pass and are recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import robustmq.noise  # noqa: F401  (registers the built-in families)
from robustmq.benchmark.context import BenchContext
from robustmq.benchmark.harness import FamilyContractError, _input_size_guard
from robustmq.benchmark.settings import BenchSettings
from robustmq.cells import ModelSpec
from robustmq.exceptions import ModelDefinitionError, UnsupportedLayerError
from robustmq.models import create_model
from robustmq.models.external import unregister_model
from robustmq.quant import quantize_model
from robustmq.results.family import FAMILIES

#: A conftest registering one good model and one model per fault (the run's and this module's).
CONFTEST = '''
import torch
from torch import nn

import robustmq


class GoodNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class Conv1dNet(GoodNet):
    """Image features mixed by a Conv1d: fine in float, not convertible by the quantizers."""

    def __init__(self, num_classes=10):
        super().__init__(num_classes)
        self.mix = nn.Conv1d(8, 8, 1)

    def forward(self, x):
        x = torch.relu(self.conv(x)).flatten(2)
        return self.fc(self.mix(x).mean(-1))


def raise_net(num_classes=10):
    raise RuntimeError("simulated: no such weights on this machine")


def not_a_module(num_classes=10):
    return {"num_classes": num_classes}


def five_logits(num_classes=10):
    return GoodNet(5)


robustmq.register_model("goodnet", GoodNet)
robustmq.register_model("conv1dnet", Conv1dNet, input_size=32, mean=(0.5,) * 3, std=(0.25,) * 3)
robustmq.register_model("raisenet", raise_net, input_size=32)
robustmq.register_model("notmodule", not_a_module)
robustmq.register_model("shapenet", five_logits, input_size=32)
robustmq.register_model("misfit", GoodNet, input_size=32)
robustmq.register_model("hugenet", GoodNet, input_size=5000)
'''
FAULTY = ("raisenet", "notmodule", "shapenet", "misfit", "hugenet")
RunBench = Any  # the ``run_bench`` fixture of tests/conftest.py


@pytest.fixture
def bench_files() -> tuple[str, ...]:
    """``run_bench`` works on the clean and systematic cells."""
    return ("test_clean", "test_systematic")


@pytest.fixture
def faults() -> Iterator[dict[str, Any]]:
    """The conftest's models registered in this process (unregistered afterwards)."""
    namespace: dict[str, Any] = {"__name__": "faults_conftest"}
    exec(compile(CONFTEST, "faults_conftest.py", "exec"), namespace)
    yield namespace
    for name in ("goodnet", "conv1dnet", *FAULTY):
        unregister_model(name)


class TestErrors:
    def test_a_factory_that_raises_names_the_model_and_the_call(
        self, faults: dict[str, Any]
    ) -> None:
        """The factory's exception becomes a ModelDefinitionError naming model and factory."""
        with pytest.raises(ModelDefinitionError) as info:
            create_model("raisenet", num_classes=10)
        assert str(info.value) == (
            "model 'raisenet': its factory faults_conftest.raise_net(num_classes=10) raised "
            "RuntimeError: simulated: no such weights on this machine; expected it to return a "
            "torch.nn.Module"
        )
        assert isinstance(info.value.__cause__, RuntimeError)

    def test_a_factory_returning_no_module_names_what_it_returned(
        self, faults: dict[str, Any]
    ) -> None:
        """A dict instead of a module: ModelDefinitionError naming the type returned."""
        with pytest.raises(ModelDefinitionError, match=r"returned dict \(.*expected a torch"):
            create_model("notmodule", num_classes=10)

    def test_a_layer_the_quantizer_cannot_convert_is_named(self, faults: dict[str, Any]) -> None:
        """Conv1d (and a Conv2d subclass) are refused by quantize_model, naming model and layers."""
        model = create_model("conv1dnet", num_classes=10)
        with pytest.raises(UnsupportedLayerError) as info:
            quantize_model(model, "lsq", 8)
        assert str(info.value) == (
            "model 'conv1dnet' (InputNormalization): quantizer 'lsq' cannot convert 1 layer(s): "
            "net.mix (Conv1d); expected every layer with weights to be exactly nn.Conv2d or "
            "nn.Linear (not a subclass), the layer types RobustMQ's quantizers convert"
        )

        class MyConv(nn.Conv2d):
            pass

        with pytest.raises(UnsupportedLayerError, match=r"0 \(MyConv\), 2 \(Conv3d\)"):
            quantize_model(nn.Sequential(MyConv(3, 3, 1), nn.ReLU(), nn.Conv3d(3, 3, 1)), "pact", 4)

    def test_an_input_size_the_pipeline_cannot_deliver(self, faults: dict[str, Any]) -> None:
        """input_size=5000: the context refuses that model's pipeline, naming model and size."""
        context = BenchContext(BenchSettings(device="cpu"), lambda _: None)
        assert context.pipeline_for(ModelSpec("goodnet")) == context.pipeline
        assert context.pipeline_for(ModelSpec("misfit")).crop_size == 32
        with pytest.raises(ModelDefinitionError) as info:
            context.pipeline_for(ModelSpec("hugenet"))
        assert str(info.value).startswith(
            "model 'hugenet': the synthetic profile's pipeline cannot deliver its registered "
            "input_size=5000 (input_size=5000 (int) is invalid; expected an integer from 8 to "
        )

    def test_a_family_feeding_another_size_fails_instead_of_evaluating(
        self, faults: dict[str, Any]
    ) -> None:
        """While a family evaluates a model registered with input_size=32, a 64 px batch is a
        FamilyContractError naming the family, the model and both sizes; 32 px pass."""
        model = create_model("misfit", num_classes=10).eval()
        family = FAMILIES.get("natural")
        with _input_size_guard(model, ModelSpec("misfit"), family):
            model(torch.zeros(1, 3, 32, 32))
            with pytest.raises(FamilyContractError) as info:
                model(torch.zeros(1, 3, 64, 64))
        assert str(info.value).startswith(
            "family 'natural' fed misfit-fp32 images of 64 x 64 px; the model was registered "
            "with input_size=32, so expected 32 x 32"
        )
        model(torch.zeros(1, 3, 64, 64))  # the guard is gone with the cell


def _checkpoints(folder: Path, faults: dict[str, Any]) -> Path:
    """Float .pth files of every model (a Linear's state_dict for misfit, nothing usable for the
    factories that fail) and conv1dnet's LSQ 8-bit row as a plain state_dict."""
    folder.mkdir()
    torch.manual_seed(0)
    good, conv1d = faults["GoodNet"](10), faults["Conv1dNet"](10)
    states = {
        "goodnet": good.state_dict(),
        "conv1dnet": conv1d.state_dict(),
        "raisenet": {},
        "notmodule": {},
        "shapenet": faults["GoodNet"](5).state_dict(),
        "misfit": nn.Linear(3, 3).state_dict(),
        "hugenet": good.state_dict(),
    }
    for name, state in states.items():
        torch.save(state, folder / f"{name}-fp32.pth")
    plain = {k: v.contiguous() for k, v in conv1d.state_dict().items()}
    save_file(plain, str(folder / "conv1dnet-lsq-8bit.safetensors"))
    return folder


@pytest.mark.slow
def test_each_faulty_model_fails_only_its_own_cells(
    run_bench: RunBench, pytester: pytest.Pytester, faults: dict[str, Any], tmp_path: Path
) -> None:
    """Clean and decoder_pil cells of 8 rows: the good rows pass and are recorded; each faulty
    model's two cells fail with its error (raised once, reused for its second cell)."""
    pytester.makeconftest(CONFTEST)
    ckpt = _checkpoints(tmp_path / "ckpt", faults)
    archs = ",".join(("goodnet", "conv1dnet", *FAULTY))
    run = run_bench(
        f"--rmq-archs={archs}",
        "--rmq-quantizers=fp32,lsq",
        "--rmq-bits=8",
        "-k",
        "(fp32 or conv1dnet-lsq-8bit) and (test_clean or decoder_pil)",
        checkpoints=ckpt,
    )
    run.result.assert_outcomes(passed=4, failed=12)
    sizes = {cell: r["settings"]["input_size"] for cell, r in run.records.items()}
    assert sizes == {
        "goodnet-fp32": 64,
        "goodnet-fp32-decoder_pil": 64,
        "conv1dnet-fp32": 32,
        "conv1dnet-fp32-decoder_pil": 32,
    }
    out = run.result.stdout
    for cell in ("conv1dnet-lsq-8bit", "conv1dnet-lsq-8bit-decoder_pil"):
        out.fnmatch_lines(
            [f"*{cell}]*", "*conv1dnet-lsq-8bit: UnsupportedLayerError: model 'conv1dnet'*"]
        )
    expected = {
        "raisenet": "ModelDefinitionError: model 'raisenet': its factory conftest.raise_net("
        "num_classes=10) raised RuntimeError: simulated*",
        "notmodule": "ModelDefinitionError: model 'notmodule': its factory "
        "conftest.not_a_module(num_classes=10) returned dict*",
        "shapenet": "ModelDefinitionError: model 'shapenet': its output for a batch of 2 images "
        "of 3 x 32 x 32 is shape (2, 5); expected logits of shape (2, 10)*",
        "misfit": "StateDictKeysError: *misfit-fp32.pth: state_dict does not fit misfit (fp32, "
        "bits=32): missing 4: conv.weight*expected the state_dict of the model its factory "
        "conftest.GoodNet(num_classes=10) builds*",
        "hugenet": "ModelDefinitionError: model 'hugenet': the synthetic profile's pipeline "
        "cannot deliver its registered input_size=5000*",
    }
    for name, message in expected.items():
        for cell in (f"{name}-fp32", f"{name}-fp32-decoder_pil"):
            out.fnmatch_lines([f"*test_*[[]{cell}[]]*", f"*{name}-fp32: {message}"])
    results = json.loads((run.out / "results.json").read_text())
    assert {r["arch"] for r in results["results"]} == {"goodnet", "conv1dnet"}
