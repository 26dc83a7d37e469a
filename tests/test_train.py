"""Trainer: option checks, seeded augmentation, deterministic training, residual zero-init."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import safetensors.torch
import torch
from torch import Tensor, nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.regnet import ResBottleneckBlock
from torchvision.models.resnet import BasicBlock, Bottleneck

from robustmq.exceptions import InvalidOptionError
from robustmq.models import create_model
from robustmq.quant import quantize_model
from robustmq.train import (
    TensorTrainData,
    TrainSettings,
    _param_groups,
    calibrate_on,
    train,
    zero_init_residual,
)

# -- TrainSettings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("epochs", 0),
        ("epochs", -1),
        ("epochs", 2.0),
        ("batch_size", 0),
        ("batch_size", "8"),
        ("lr", 0.0),
        ("lr", -0.1),
        ("lr", math.nan),
        ("optimizer", "adam"),
        ("optimizer", "SGD"),
    ],
)
def test_settings_reject_a_bad_option_by_name(option: str, value: Any) -> None:
    kwargs: dict[str, Any] = {"epochs": 1, "batch_size": 4, "lr": 0.1, option: value}
    with pytest.raises(InvalidOptionError, match=rf"^{option}="):
        TrainSettings(**kwargs)


def test_settings_accept_the_documented_values() -> None:
    for optimizer in ("sgd", "adamw"):
        s = TrainSettings(epochs=1, batch_size=1, lr=1e-9, optimizer=optimizer)
        assert s.to_dict()["optimizer"] == optimizer
    assert TrainSettings(epochs=3, batch_size=8, lr=0.1).to_dict() == {
        "epochs": 3,
        "batch_size": 8,
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "label_smoothing": 0.1,
        "warmup_epochs": 0.0,
        "optimizer": "sgd",
        "seed": 0,
        "calibration_batches": 4,
        "channels_last": True,
    }


# -- TensorTrainData ---------------------------------------------------------------------------

N_IMAGES, SIZE, CROP = 16, 12, 8


def _ramp_images() -> tuple[Tensor, Tensor]:
    """uint8 images whose pixel (c, y, x) is 10 * index + x: a crop tells its image and window."""
    x = torch.arange(SIZE).expand(3, SIZE, SIZE)
    images = torch.stack([10 * i + x for i in range(N_IMAGES)]).to(torch.uint8)
    return images, torch.arange(N_IMAGES) % 4


def _epoch(data: TensorTrainData, epoch: int, seed: int) -> list[tuple[Tensor, Tensor]]:
    return list(data.batches(epoch, seed))


def test_batches_have_the_crop_size_and_cover_every_image_once() -> None:
    images, labels = _ramp_images()
    data = TensorTrainData(images, labels, crop_size=CROP, batch_size=5)
    batches = _epoch(data, 0, 0)
    assert len(data) == len(batches) == 4
    assert [x.shape for x, _ in batches] == [(5, 3, CROP, CROP)] * 3 + [(1, 3, CROP, CROP)]
    x = torch.cat([b for b, _ in batches])
    y = torch.cat([b for _, b in batches])
    assert x.dtype == torch.float32
    assert float(x.min()) >= 0.0
    assert float(x.max()) <= 1.0
    index = (x * 255).round().long()[:, 0, 0, :].min(1).values // 10  # which image each crop is
    assert sorted(index.tolist()) == list(range(N_IMAGES))
    assert torch.equal(y, labels[index])


def test_crops_are_windows_of_their_image_flipped_or_not() -> None:
    images, labels = _ramp_images()
    for flip in (True, False):
        data = TensorTrainData(images, labels, CROP, batch_size=4, flip=flip)
        rows = (torch.cat([x for x, _ in _epoch(data, 1, 3)]) * 255).round().long()[:, 0, 0, :]
        steps = (rows[:, 1:] - rows[:, :-1]).unique(dim=0)
        offsets = {int(r.min()) % 10 for r in rows}
        if flip:  # some crops run right to left, some left to right
            assert {tuple(s.tolist()) for s in steps} == {(1,) * (CROP - 1), (-1,) * (CROP - 1)}
        else:
            assert steps.tolist() == [[1] * (CROP - 1)]
        assert offsets <= set(range(SIZE - CROP + 1))
        assert len(offsets) > 1  # random crops, not always the same window


def test_float_images_are_cropped_unscaled() -> None:
    images = torch.rand(3, 3, SIZE, SIZE) * 7
    data = TensorTrainData(images, torch.zeros(3, dtype=torch.long), CROP, 3, flip=False)
    (x, _), *_ = _epoch(data, 0, 0)
    for crop in x:
        found = any(
            torch.equal(crop, img[:, dy : dy + CROP, dx : dx + CROP])
            for img in images
            for dy in range(SIZE - CROP + 1)
            for dx in range(SIZE - CROP + 1)
        )
        assert found


def test_batches_are_seeded_by_seed_and_epoch() -> None:
    images, labels = _ramp_images()
    data = TensorTrainData(images, labels, CROP, batch_size=4)

    def flat(epoch: int, seed: int) -> tuple[Tensor, Tensor]:
        batches = _epoch(data, epoch, seed)
        return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])

    x0, y0 = flat(2, 7)
    x0_again, y0_again = flat(2, 7)
    assert torch.equal(x0, x0_again)
    assert torch.equal(y0, y0_again)
    for other in (flat(3, 7), flat(2, 8)):
        assert not torch.equal(x0, other[0])
    order = (x0 * 255).round().long()[:, 0, 0, :].min(1).values // 10
    order_next = (flat(3, 7)[0] * 255).round().long()[:, 0, 0, :].min(1).values // 10
    assert order.tolist() != order_next.tolist()  # reshuffled each epoch


# -- train -------------------------------------------------------------------------------------


class _TinyNet(nn.Module):
    """conv-bn-relu, pooled, linear: small enough to train in a fraction of a second."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 2)
        self.seen_channels_last: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.seen_channels_last.append(x.is_contiguous(memory_format=torch.channels_last))
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def _separable(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """Two classes told apart by which of the red or blue channel is brighter (uint8, 12 px)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.rand(n, 3, SIZE, SIZE, generator=g) * 0.5
    images[labels == 0, 0] += 0.5
    images[labels == 1, 2] += 0.5
    return (images * 255).round().to(torch.uint8), labels


def _tiny_run(
    seed: int = 0, **overrides: Any
) -> tuple[_TinyNet, Any, list[dict[str, Any]], TrainSettings]:
    images, labels = _separable(32, 0)
    val_images, val_labels = _separable(16, 1)
    data = TensorTrainData(images, labels, CROP, batch_size=8)
    options: dict[str, Any] = {"epochs": 4, "batch_size": 8, "lr": 0.05, "seed": seed}
    settings = TrainSettings(**{**options, **overrides})
    torch.manual_seed(123)
    model = _TinyNet()
    events: list[dict[str, Any]] = []
    val = val_images[..., :CROP, :CROP].float() / 255
    result = train(
        model, data, settings, val_images=val, val_labels=val_labels, progress=events.append
    )
    return model, result, events, settings


def test_train_lowers_the_loss_and_learns_separable_data() -> None:
    model, result, _, _ = _tiny_run()
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 4
    assert losses[-1] < 0.8 * losses[0]
    assert result.train_loss == losses[-1]
    assert result.val_accuracy >= 0.9
    assert not model.training


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_train_is_deterministic_for_a_seed(optimizer: str) -> None:
    a = _tiny_run(seed=1, optimizer=optimizer, epochs=2)[0].state_dict()
    b = _tiny_run(seed=1, optimizer=optimizer, epochs=2)[0].state_dict()
    c = _tiny_run(seed=2, optimizer=optimizer, epochs=2)[0].state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("channels_last", [True, False])
def test_train_memory_format_and_contiguous_weights(channels_last: bool) -> None:
    model, result, _, _ = _tiny_run(epochs=1, channels_last=channels_last)
    assert model.seen_channels_last == [channels_last] * 4
    state = model.state_dict()
    assert not model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(t.is_contiguous() for t in state.values())
    safetensors.torch.save(state)  # raises on a non-contiguous tensor
    assert 0.0 <= result.val_accuracy <= 1.0


def test_train_reports_progress_and_follows_the_schedule() -> None:
    _, _, events, settings = _tiny_run(warmup_epochs=1.0)
    total = 4 * 4
    assert [e["step"] for e in events] == list(range(1, total + 1))
    assert {e["steps"] for e in events} == {total}
    assert [e["epoch"] for e in events] == [i // 4 for i in range(total)]
    lrs = [e["lr"] for e in events]
    assert lrs[:4] == pytest.approx([settings.lr * k / 4 for k in (1, 2, 3, 4)])  # warm-up
    assert all(a >= b for a, b in itertools.pairwise(lrs[3:]))  # cosine decay
    assert lrs[-1] < 0.05 * settings.lr
    assert all(math.isfinite(e["loss"]) for e in events)


def test_train_without_validation_data_reports_nan() -> None:
    images, labels = _separable(8, 0)
    data = TensorTrainData(images, labels, CROP, batch_size=8)
    model = _TinyNet()
    result = train(model, data, TrainSettings(epochs=1, batch_size=8, lr=0.01))
    assert not model.training  # returned in eval mode
    assert math.isnan(result.val_accuracy)
    assert math.isfinite(result.train_loss)


def test_weight_decay_groups() -> None:
    net = _TinyNet()
    decay, no_decay = _param_groups(net, 0.1)
    assert decay["weight_decay"] == 0.1
    assert no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(net.conv.weight), id(net.fc.weight)}
    model = create_model("resnet18", num_classes=10, width=0.25)
    for quantizer, name in (("pact", "alpha"), ("lsq", "step")):
        q = quantize_model(model, quantizer, 4)
        decayed = {id(p) for p in _param_groups(q, 0.1)[0]["params"]}
        extra = [p for n, p in q.named_parameters() if n.endswith("." + name)]
        assert extra
        # PACT clipping levels are decayed, LSQ step sizes are not
        assert all((id(p) in decayed) == (quantizer == "pact") for p in extra)


def test_calibrate_on_uses_the_first_batches_seeded() -> None:
    images = torch.rand(12, 3, 40, 40)
    data = TensorTrainData(images, torch.zeros(12, dtype=torch.long), 32, batch_size=4)
    model = create_model("resnet18", num_classes=10, width=0.25)
    settings = TrainSettings(epochs=1, batch_size=4, lr=0.1, calibration_batches=2)
    steps = []
    for _ in range(2):
        q = quantize_model(model, "lsq", 4)
        assert calibrate_on(q, data, settings, "cpu") == 8  # 2 of the 3 batches of 4
        steps.append([p.detach().clone() for n, p in q.named_parameters() if n.endswith(".step")])
        q.eval()
        assert torch.isfinite(q(torch.rand(2, 3, 32, 32))).all()
    assert all(torch.equal(a, b) for a, b in zip(*steps, strict=True))


# -- zero_init_residual ------------------------------------------------------------------------

#: blocks with a zero-initialised last BatchNorm at width 0.25 (MobileNetV2: the 11 of its 17
#: inverted residuals with a skip connection; at width 0.25 the first block has one too).
ZEROED = {"resnet18": 8, "resnet50": 16, "regnetx_600m": 16, "mobilenet_v2": 11}


def _last_bn(block: nn.Module) -> nn.BatchNorm2d:
    if isinstance(block, Bottleneck):
        bn = block.bn3
    elif isinstance(block, BasicBlock):
        bn = block.bn2
    elif isinstance(block, ResBottleneckBlock):
        bn = block.f.c[1]
    else:
        assert isinstance(block, InvertedResidual)
        bn = block.conv[-1]
    assert isinstance(bn, nn.BatchNorm2d)
    return bn


@pytest.mark.parametrize("arch", sorted(ZEROED))
def test_zero_init_residual_zeroes_exactly_the_last_bn_of_residual_branches(arch: str) -> None:
    torch.manual_seed(0)
    model = create_model(arch, num_classes=10, width=0.25)
    before = {n: m.weight.detach().clone() for n, m in model.named_modules() if _is_bn(m)}
    blocks = [
        m
        for m in model.modules()
        if isinstance(m, (BasicBlock, Bottleneck, ResBottleneckBlock, InvertedResidual))
    ]
    expected = {id(_last_bn(b)) for b in blocks if getattr(b, "use_res_connect", True)}
    assert len(expected) == ZEROED[arch]

    assert zero_init_residual(model) == ZEROED[arch]

    for name, module in model.named_modules():
        if not _is_bn(module):
            continue
        if id(module) in expected:
            assert torch.count_nonzero(module.weight) == 0, name
        else:
            assert torch.equal(module.weight, before[name]), name
            assert torch.count_nonzero(module.weight) > 0, name
    if arch == "mobilenet_v2":  # the inverted residuals without a skip are left alone
        plain = [b for b in blocks if not b.use_res_connect]
        assert len(plain) == 6
        assert all(bool((_last_bn(b).weight == 1).all()) for b in plain)


def _is_bn(module: nn.Module) -> bool:
    return isinstance(module, nn.BatchNorm2d)


@pytest.mark.parametrize("arch", sorted(ZEROED))
def test_zero_initialised_blocks_start_as_the_identity(arch: str) -> None:
    torch.manual_seed(0)
    model = create_model(arch, num_classes=10, width=0.25)
    zero_init_residual(model)
    model.eval()
    seen: list[tuple[nn.Module, Tensor, Tensor]] = []

    def record(block: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        seen.append((block, args[0], out))

    for m in model.modules():
        if isinstance(m, (BasicBlock, Bottleneck, ResBottleneckBlock, InvertedResidual)):
            m.register_forward_hook(record)
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits).all()
    identities = 0
    for block, x, out in seen:
        if isinstance(block, InvertedResidual):
            if block.use_res_connect:  # x + 0
                assert torch.equal(out, x)
                identities += 1
        elif getattr(block, "downsample", None) is None and getattr(block, "proj", None) is None:
            assert torch.equal(out, torch.relu(x))  # relu(x + 0)
            identities += 1
    assert identities == {"resnet18": 5, "resnet50": 12, "regnetx_600m": 12}.get(arch, 11)


def test_zero_init_residual_leaves_other_models_alone() -> None:
    net = _TinyNet()
    assert zero_init_residual(net) == 0
    assert bool((net.bn.weight == 1).all())


def test_max_images_visits_a_seeded_subset_of_distinct_images_each_epoch() -> None:
    """``max_images``: an epoch is the first ``max_images`` images of the epoch's seeded order."""
    images, labels = _ramp_images()
    full = TensorTrainData(images, labels, CROP, batch_size=4)
    part = TensorTrainData(images, labels, CROP, batch_size=4, max_images=7)
    assert len(part) == 2
    seen = []
    for epoch in (0, 1):
        x = torch.cat([b for b, _ in _epoch(part, epoch, 5)])
        index = (x * 255).round().long()[:, 0, 0, :].min(1).values // 10
        assert x.shape[0] == 7
        assert len(set(index.tolist())) == 7
        whole = torch.cat([b for b, _ in _epoch(full, epoch, 5)])
        whole_index = (whole * 255).round().long()[:, 0, 0, :].min(1).values // 10
        assert torch.equal(index, whole_index[:7])  # the full epoch's order, cut short
        seen.append(set(index.tolist()))
    assert seen[0] != seen[1]
    assert len(TensorTrainData(images, labels, CROP, 4, max_images=10**6)) == len(full)
    with pytest.raises(InvalidOptionError, match="max_images=0"):
        TensorTrainData(images, labels, CROP, 4, max_images=0)
