"""ResNet's projection shortcut joined to the block's last GEMM (``merge-summed-matmuls``,
``codegen/gemm_pieces.py``) on a CUDA GPU (skipped without one): tuned, the joined kernel's TMA form
among its choices, against torch in FP32."""

from __future__ import annotations

import io

import pytest
import torch

import tritium as tr
from tests.codegen.test_gemm_pieces import Bottleneck
from tests.gpu.checks import every_config_matches, matches_through_graph_replays
from tritium.codegen.gemm import MatmulKernel

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("stride", [1, 2])
def test_joined_shortcut_on_the_gpu(stride: int) -> None:
    torch.manual_seed(0)
    model = Bottleneck(128, 64, stride).eval()
    shape = (4, 128, 28, 28)
    f = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(shape),), f, input_names=["x"], output_names=["y"], dynamo=False)
    engine = tr.compile(f.getvalue(), fp16=True, device="cuda")
    gemms = [s.kernel for s in engine.program({"x": shape}).steps if isinstance(s.kernel, MatmulKernel)]
    assert [k.widths for k in gemms] == [[], [64, 128]]
    model = model.cuda()
    matches_through_graph_replays(engine, model, shape)
    step = next(s for s in engine.program({"x": shape}).steps if s.kernel is gemms[1])
    tma = [c for c in gemms[1].config_space(1) if c.get("TMA")][:2]  # each TMA tile as tuning offers it
    every_config_matches(engine, model, shape, [(step, tma)])
