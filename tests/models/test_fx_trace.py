"""Every architecture is traceable with torch.fx.symbolic_trace."""

from __future__ import annotations

import operator

import pytest
import torch
from torch import fx

from robustmq.models import create_model, list_models


@pytest.mark.parametrize("name", list_models())
class TestFxTrace:
    def test_traced_graph_matches_eager(self, name: str) -> None:
        """symbolic_trace succeeds and the GraphModule computes the same logits."""
        torch.manual_seed(0)
        model = create_model(name, num_classes=6, width=0.25).eval()
        traced = fx.symbolic_trace(model)
        x = torch.rand(2, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(traced(x), model(x))

    def test_normalization_is_the_first_operation(self, name: str) -> None:
        """The graph starts with (x - input_mean) / input_std before any module call."""
        graph = fx.symbolic_trace(create_model(name, width=0.25)).graph
        ops = [n for n in graph.nodes if n.op not in ("placeholder", "get_attr")]
        assert (ops[0].target, ops[1].target) == (operator.sub, operator.truediv)
        assert {n.target for n in graph.nodes if n.op == "get_attr"} >= {"input_mean", "input_std"}

    def test_full_width_model_is_traceable(self, name: str) -> None:
        """The width-1 model traces too and keeps every conv and linear as a call_module."""
        model = create_model(name)
        traced = fx.symbolic_trace(model)
        called = {n.target for n in traced.graph.nodes if n.op == "call_module"}
        layers = {
            k for k, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
        }
        assert layers <= called
