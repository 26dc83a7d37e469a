"""quantize_model, describe_quantization and calibrate."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from robustmq.checkpoints import load_checkpoint
from robustmq.exceptions import InvalidBitsError, InvalidOptionError, UnknownQuantizerError
from robustmq.models import create_model, list_models
from robustmq.quant import (
    QuantConv2d,
    QuantLinear,
    calibrate,
    describe_quantization,
    quantize_model,
    rounding_disabled,
)

FAMILIES = ["dorefa", "lsq", "pact"]
#: The architectures, each but resnet18 marked slow (the quick loop keeps one small model).
ARCHS = [a if a == "resnet18" else pytest.param(a, marks=pytest.mark.slow) for a in list_models()]


def _small_cnn() -> nn.Module:
    """A shallow, well-conditioned CNN with settled BatchNorm statistics, in eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.rand(64, 3, 16, 16))
    return model.eval()


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _rounding_errors(
    model: nn.Module, name: str, x: torch.Tensor, **options: str
) -> dict[int, float]:
    """Relative logit error of ``model`` quantized by ``name`` (8 and 2 bits, calibrated on
    ``x``) against the same quantized model with rounding disabled, by bit-width."""
    errors = {}
    for bits in (8, 2):
        q = quantize_model(model, name, bits, **options).eval()
        calibrate(q, [x])
        with torch.no_grad():
            y = q(x)
            with rounding_disabled():
                ref = q(x)
        errors[bits] = _rel_err(y, ref)
    return errors


class TestConversion:
    @pytest.mark.parametrize("arch", list_models())
    @pytest.mark.parametrize("name", FAMILIES)
    def test_every_layer_replaced_and_runs(self, arch: str, name: str) -> None:
        """Every Conv2d/Linear (depthwise and grouped included) is quantized and the model runs."""
        model = create_model(arch, num_classes=10, width=0.25)
        n_float = sum(type(m) in (nn.Conv2d, nn.Linear) for m in model.modules())
        q = quantize_model(model, name, 4).eval()
        assert sum(type(m) in (nn.Conv2d, nn.Linear) for m in q.modules()) == 0
        assert sum(isinstance(m, (QuantConv2d, QuantLinear)) for m in q.modules()) == n_float
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert q(torch.rand(2, 3, 32, 32)).shape == (2, 10)

    def test_academic_policy_keeps_first_and_last_at_8_bits(self) -> None:
        """academic: first conv and last linear at 8 bits, all others at the requested bits."""
        layers = describe_quantization(quantize_model(create_model("resnet18"), "lsq", 2))
        assert (layers[0].name, layers[0].weight_bits, layers[0].input_bits) == ("conv1", 8, 8)
        assert (layers[-1].name, layers[-1].weight_bits, layers[-1].input_bits) == ("fc", 8, 8)
        assert {(m.weight_bits, m.input_bits) for m in layers[1:-1]} == {(2, 2)}

    def test_all_policy_quantizes_every_layer(self) -> None:
        """all: every layer at the requested bits."""
        layers = describe_quantization(
            quantize_model(create_model("mobilenet_v2"), "pact", 4, policy="all")
        )
        assert {(m.weight_bits, m.input_bits) for m in layers} == {(4, 4)}

    def test_signedness_resnet(self) -> None:
        """ResNet: only the first conv sees a signed (normalized image) input."""
        layers = describe_quantization(quantize_model(create_model("resnet18"), "lsq", 4))
        assert [m.name for m in layers if m.input_signed] == ["conv1"]

    def test_signedness_mobilenet(self) -> None:
        """MobileNetV2: linear-bottleneck outputs feed signed inputs, post-ReLU6 ones unsigned."""
        layers = {
            m.name: m.input_signed
            for m in describe_quantization(quantize_model(create_model("mobilenet_v2"), "lsq", 4))
        }
        assert layers["features.0.0"]  # the normalized image
        assert layers["features.2.conv.0.0"]  # expand conv after a linear bottleneck
        assert layers["features.18.0"]  # last 1x1 conv after a linear bottleneck
        assert not layers["features.1.conv.1"]  # projection after depthwise + ReLU6
        assert not layers["classifier.1"]  # linear after ReLU6 + pool + dropout

    def test_input_model_untouched_and_config_recorded(self) -> None:
        """The float model is left as it was; the copy records quantizer, bits and policy."""
        model = create_model("resnet18", num_classes=10, width=0.25)
        before = copy.deepcopy(model.state_dict())
        q = quantize_model(model, "dorefa", 6)
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        assert not any(isinstance(m, QuantConv2d) for m in model.modules())
        assert q.robustmq_config["quantizer"] == "dorefa"
        assert q.robustmq_config["bits"] == 6
        assert q.robustmq_config["policy"] == "academic"
        assert q.robustmq_config["arch"] == "resnet18"

    def test_bad_options(self) -> None:
        """Unknown quantizer, bad bits, bad policy and double quantization are typed errors."""
        model = create_model("resnet18", num_classes=10, width=0.25)
        with pytest.raises(UnknownQuantizerError, match="lsq"):
            quantize_model(model, "lsqq", 4)
        with pytest.raises(InvalidBitsError, match="bits=9"):
            quantize_model(model, "lsq", 9)
        with pytest.raises(InvalidOptionError, match="policy='mixed'"):
            quantize_model(model, "lsq", 4, policy="mixed")
        with pytest.raises(InvalidOptionError, match="already quantized"):
            quantize_model(quantize_model(model, "lsq", 4), "lsq", 4)


class TestEvalPurity:
    @pytest.mark.slow
    @pytest.mark.parametrize("name", FAMILIES)
    def test_eval_forward_and_backward_change_nothing(self, name: str) -> None:
        """Eval-mode forward (and an input-gradient backward) leaves every parameter and buffer."""
        q = quantize_model(create_model("mobilenet_v2", num_classes=10, width=0.25), name, 4)
        calibrate(q, [torch.rand(4, 3, 32, 32)])
        q.eval()
        before = {k: v.clone() for k, v in q.state_dict().items()}
        x = torch.rand(2, 3, 32, 32, requires_grad=True)
        q(x).sum().backward()
        with torch.no_grad():
            q(x)
        assert all(torch.equal(before[k], v) for k, v in q.state_dict().items())

    @pytest.mark.parametrize("name", FAMILIES)
    def test_input_gradient_after_an_inference_mode_forward(self, name: str) -> None:
        """The eval-mode weight cache made under inference_mode does not break a later backward."""
        q = quantize_model(_small_cnn(), name, 4)
        calibrate(q, [torch.rand(4, 3, 16, 16)])
        q.eval()
        x = torch.rand(2, 3, 16, 16)
        with torch.inference_mode():
            expected = q(x)
        xg = x.clone().requires_grad_(True)
        out = q(xg)
        out.sum().backward()
        assert xg.grad is not None
        assert xg.grad.abs().sum() > 0
        assert torch.equal(out.detach(), expected)


def _logits_three_ways(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Logits under no_grad, under inference_mode, and with an input gradient (as attacks do)."""
    with torch.no_grad():
        plain = model(x)
    with torch.inference_mode():
        inference = model(x)
    xg = x.clone().requires_grad_(True)
    tracked = model(xg)
    tracked.sum().backward()
    assert xg.grad is not None  # (a random 2-bit model may pass no gradient: all clipped)
    return [plain, inference.clone(), tracked.detach()]


class TestOneArithmeticPerModel:
    """Attacks optimise exactly the function that is evaluated: bit-identical logits."""

    @pytest.mark.parametrize("bits", [2, 4, 6, 8])
    @pytest.mark.parametrize("name", FAMILIES)
    @pytest.mark.parametrize("arch", ARCHS)
    def test_random_calibrated_models(self, arch: str, name: str, bits: int) -> None:
        """A random calibrated model's logits are bit-identical under no_grad, inference_mode
        and with an input gradient."""
        torch.manual_seed(bits)
        q = quantize_model(create_model(arch, num_classes=10, width=0.25), name, bits)
        calibrate(q, [torch.rand(8, 3, 32, 32)])
        q.eval().to(memory_format=torch.channels_last)  # as the benchmark runs its models
        x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        plain, inference, tracked = _logits_three_ways(q, x)
        assert torch.equal(plain, inference)
        assert torch.equal(plain, tracked)

    @pytest.mark.slow
    def test_trained_synthetic_zoo(self) -> None:
        """The same for every quantized model of the synthetic zoo in the cache, when built."""
        from robustmq.data import get_eval_data
        from robustmq.data.loading import load_tensors
        from robustmq.zoo import zoo_dir

        folder = zoo_dir("synthetic")
        paths = sorted(folder.glob("*bit.safetensors"))
        if not paths:
            pytest.skip(f"no quantized checkpoints in {folder} (robustmq zoo build makes them)")
        dataset, _ = get_eval_data("synthetic", n_per_class=1)
        x = load_tensors(dataset).images
        for path in paths:
            model = load_checkpoint(path).to(memory_format=torch.channels_last)
            plain, inference, tracked = _logits_three_ways(model, x)
            assert torch.equal(plain, inference), path.name
            assert torch.equal(plain, tracked), path.name


class TestQuantizationError:
    # LSQ's initial step 2 E|v| / sqrt(Q_P) spans 2 sqrt(Q_P) E|v| (about 32 E|v| at 8 bits): coarse
    # until training shrinks it, hence its larger bound before fine-tuning.
    @pytest.mark.parametrize(("name", "bound"), [("dorefa", 0.05), ("pact", 0.05), ("lsq", 0.15)])
    def test_8_bit_close_2_bit_far(self, name: str, bound: float) -> None:
        """8-bit logits are close to the unrounded model's; 2-bit logits are much further away."""
        errors = _rounding_errors(_small_cnn(), name, torch.rand(32, 3, 16, 16), policy="all")
        assert errors[8] < bound
        assert errors[2] > 5 * errors[8]

    def test_lsq_8_bit_close_to_float(self) -> None:
        """A calibrated 8-bit LSQ model's logits are close to the float model's."""
        float_model = _small_cnn()
        x = torch.rand(32, 3, 16, 16)
        q = quantize_model(float_model, "lsq", 8, policy="all").eval()
        calibrate(q, [x])
        with torch.no_grad():
            assert _rel_err(q(x), float_model(x)) < 0.15

    @pytest.mark.parametrize("arch", ARCHS)
    def test_error_shrinks_with_bits_on_architectures(self, arch: str) -> None:
        """On every architecture, rounding error at 8 bits is below that at 2 bits."""
        model = create_model(arch, num_classes=10, width=0.25).eval()
        errors = _rounding_errors(model, "pact", torch.rand(8, 3, 32, 32))
        assert errors[8] < errors[2]


class TestWeightCache:
    def test_cache_follows_weight_changes(self) -> None:
        """In eval mode a changed weight (in place or by load_state_dict) changes the output."""
        q = quantize_model(_small_cnn(), "dorefa", 4).eval()
        x = torch.rand(4, 3, 16, 16)
        with torch.no_grad():
            y0 = q(x)
            assert torch.equal(q(x), y0)
            q[3].weight.mul_(-1)
            y1 = q(x)
        assert not torch.equal(y0, y1)
        state = q.state_dict()
        state["3.weight"] = -state["3.weight"]
        q.load_state_dict(state)
        with torch.no_grad():
            assert torch.equal(q(x), y0)


class TestCalibrate:
    def test_sets_data_dependent_parameters(self) -> None:
        """calibrate initialises LSQ steps and PACT alphas from data and restores the mode."""
        model = create_model("resnet18", num_classes=10, width=0.25)
        lsq = quantize_model(model, "lsq", 4).train()
        assert calibrate(lsq, [torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)]) == 8
        assert lsq.training
        assert all(
            bool(m.input_quantizer.initialized) for m in lsq.modules() if isinstance(m, QuantConv2d)
        )
        pact = quantize_model(model, "pact", 4)
        x = torch.rand(4, 3, 32, 32)
        calibrate(pact, [x])
        normalized = (x - pact.input_mean) / pact.input_std
        expected = torch.quantile(normalized.abs().flatten(), 0.999)
        assert torch.isclose(pact.conv1.input_quantizer.alpha.detach(), expected)
