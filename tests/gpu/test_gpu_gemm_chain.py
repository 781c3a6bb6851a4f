"""Two GEMMs in one kernel (``codegen/gemm_chain.py``) on a CUDA GPU (skipped without one): three
ResNet bottlenecks in a row built in FP16 and BF16 (two chained pairs), tuned, replayed from a CUDA
graph against torch in FP32, and every candidate config of the chained kernels against torch."""

from __future__ import annotations

import io

import pytest
import torch

import tritium as tr
from tests.codegen.test_gemm_pieces import Bottleneck
from tests.gpu.checks import every_config_matches, matches_through_graph_replays
from tritium.codegen.gemm_chain import ChainKernel

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_gemm_chain_on_the_gpu(precision: str) -> None:
    torch.manual_seed(0)
    blocks = [Bottleneck(256, 64, 1, projection=False) for _ in range(3)]
    model = torch.nn.Sequential(*blocks).eval()
    shape = (4, 256, 14, 14)
    f = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(shape),), f, input_names=["x"], output_names=["y"], dynamo=False)
    engine = tr.compile(f.getvalue(), device="cuda", **{precision: True})
    chained = [s for s in engine.program({"x": shape}).steps if isinstance(s.kernel, ChainKernel)]
    assert len(chained) == 2
    model = model.cuda()
    tol = 2e-3 if precision == "fp16" else 1.5e-2  # (bfloat16 keeps 8 bits: 4e-3 a rounding)
    matches_through_graph_replays(engine, model, shape, tol)
    every_config_matches(engine, model, shape, [(s, s.kernel.config_space(3)) for s in chained], tol)
