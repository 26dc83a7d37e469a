"""RegNetX-600MF has pycls's complexity: ~0.6 GMACs and ~6.2 M parameters at 224 px."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from robustmq.models import create_model


class TestRegNetX600MComplexity:
    def test_multiply_accumulates_at_224px(self) -> None:
        """One 224x224 image costs 0.6 GMACs (FLOPs / 2) within 5 %."""
        model = create_model("regnetx_600m").eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.rand(1, 3, 224, 224))
        gmacs = counter.get_total_flops() / 2 / 1e9
        assert abs(gmacs - 0.6) <= 0.05 * 0.6

    def test_parameter_count(self) -> None:
        """The 1000-class model has 6.2 M parameters within 5 %."""
        params = sum(p.numel() for p in create_model("regnetx_600m").parameters())
        assert abs(params / 1e6 - 6.2) <= 0.05 * 6.2
