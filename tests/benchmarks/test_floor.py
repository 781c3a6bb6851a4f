"""The roofline floor of benchmarks/bench_models.py counts the FLOPs that a model really does.

Its first version counted none of nn.MultiheadAttention's work in inference mode (the fused fast
path is one op the flop counter does not see), which made ViT-B/16's floor about a third too low.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_models.py"


def _bench_models():
    spec = importlib.util.spec_from_file_location("bench_models", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_multihead_attention_projections_are_counted() -> None:
    torch.manual_seed(0)
    d, heads, batch, seq = 64, 4, 2, 9
    layer = torch.nn.TransformerEncoderLayer(d, heads, dim_feedforward=128, batch_first=True).eval()
    x = torch.randn(batch, seq, d)
    flops, y = _bench_models().count_flops(layer, [x])
    tokens = batch * seq
    linear = 2 * tokens * d * (4 * d + 2 * 128)  # Q, K, V, out-projection and the two FFN layers
    attention = 2 * 2 * batch * seq * seq * d  # scores and the weighted sum
    # The CPU's attention kernel may or may not be counted; the projections must be.
    assert linear <= flops <= linear + attention, (flops, linear, attention)
    with torch.inference_mode():
        assert torch.allclose(y, layer(x), atol=1e-5)
    assert torch.backends.mha.get_fastpath_enabled()  # restored after counting


def test_layer_roofline_counts_each_kernels_products() -> None:
    """benchmarks/layer_roofline.py's FLOPs per kernel: a convolution with its epilogue, a GEMM, a
    transposed convolution (each input pixel's taps), and nothing for an elementwise kernel."""
    import sys

    import tritium.ir as ir
    from tritium.passes import PassManager

    sys.path.insert(0, str(_PATH.parent))
    import layer_roofline

    def kernels(text: str) -> list:
        module = ir.parse_ir(text)
        PassManager("fuse-kernels,dce").run(module)
        return [op for op in module.main.block.ops if op.name == "kernel.fused"]

    conv = kernels("""func.func @main(%x: tensor<2x8x9x9xf32>, %w: tensor<6x8x3x3xf32>, %b: tensor<6xf32>) -> tensor<2x6x9x9xf32> {
  %y = nn.conv %x, %w, %b {strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1]} : (tensor<2x8x9x9xf32>, tensor<6x8x3x3xf32>, tensor<6xf32>) -> tensor<2x6x9x9xf32>
  %r = nn.relu %y : tensor<2x6x9x9xf32>
  func.return %r : tensor<2x6x9x9xf32>
}""")
    assert [layer_roofline.layer_flops(op) for op in conv] == [2 * (2 * 6 * 9 * 9) * (8 * 3 * 3)]
    gemm = kernels("""func.func @main(%a: tensor<5x7xf32>, %b: tensor<7x3xf32>) -> tensor<5x3xf32> {
  %y = nn.matmul %a, %b : (tensor<5x7xf32>, tensor<7x3xf32>) -> tensor<5x3xf32>
  %t = nn.tanh %y : tensor<5x3xf32>
  func.return %t : tensor<5x3xf32>
}""")
    assert [layer_roofline.layer_flops(op) for op in gemm] == [2 * 5 * 3 * 7]
    deconv = kernels("""func.func @main(%x: tensor<1x4x5x5xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x3x7x7xf32> {
  %y = nn.conv_transpose %x, %w {strides = [1, 1], pads = [0, 0, 0, 0], dilations = [1, 1], group = 1, output_padding = [0, 0]} : (tensor<1x4x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<1x3x7x7xf32>
  func.return %y : tensor<1x3x7x7xf32>
}""")
    assert [layer_roofline.layer_flops(op) for op in deconv] == [2 * (4 * 5 * 5) * (3 * 3 * 3)]
    add = kernels("""func.func @main(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %y = nn.add %a, %b : tensor<4x4xf32>
  func.return %y : tensor<4x4xf32>
}""")
    assert [layer_roofline.layer_flops(op) for op in add] == [0]
