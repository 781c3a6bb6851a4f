"""MobileNet's depthwise convolution computed inside its projection GEMM (``codegen/gemm_depthwise.py``)
on a CUDA GPU (skipped without one): blocks built in FP16, tuned, replayed from a CUDA graph against
torch in FP32, and every candidate config of the fused kernel against torch."""

from __future__ import annotations

import io

import pytest
import torch

import tritium as tr
from tests.gpu.checks import every_config_matches, matches_through_graph_replays
from tritium.codegen.gemm import MatmulKernel

pytestmark = pytest.mark.gpu


def blocks() -> torch.nn.Module:
    from torch import nn

    def cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
        conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU6())

    class Block(nn.Module):
        def __init__(self, c: int, cout: int, stride: int) -> None:
            super().__init__()
            e = 6 * c
            self.body = nn.Sequential(cbr(c, e, 1), cbr(e, e, 3, stride, e), nn.Conv2d(e, cout, 1))
            self.residual = stride == 1 and c == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x) if self.residual else self.body(x)

    torch.manual_seed(0)
    model = nn.Sequential(Block(24, 24, 1), Block(24, 40, 2), Block(40, 160, 1)).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model


def test_depthwise_gemm_on_the_gpu(monkeypatch) -> None:
    monkeypatch.setenv("TRITIUM_DEPTHWISE_GEMM", "1")  # (an opt-in)
    model = blocks()
    shape = (8, 24, 28, 28)
    f = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(shape),), f, input_names=["x"], output_names=["y"], dynamo=False)
    engine = tr.compile(f.getvalue(), fp16=True, device="cuda")
    steps = engine.program({"x": shape}).steps
    fused = [s for s in steps if isinstance(s.kernel, MatmulKernel) and s.kernel.dw is not None]
    assert len(fused) == 3
    model = model.cuda()
    matches_through_graph_replays(engine, model, shape)
    every_config_matches(engine, model, shape, [(s, s.kernel.config_space(3)) for s in fused])
