"""Strided views (runtime/views.py): the transposes, slices and splits around attention launch
nothing, and the results are those of the reference semantics."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import tritium as tr
from tests.models import zoo
from tritium.ir import parse_ir

# One self-attention block as the exporters write it: a merged QKV projection split three ways,
# heads split off by reshape + transpose, attention, and the heads merged back for the output.
QKV = """
func.func @main(%x: tensor<2x5x8xf32>) -> tensor<2x5x8xf32> {
  %w = nn.constant dense_resource<qkv> : tensor<8x24xf32>
  %heads = nn.constant dense<[2, 5, 2, 4]> : tensor<4xi64>
  %rows = nn.constant dense<[2, 5, 8]> : tensor<3xi64>
  %y = nn.matmul %x, %w : (tensor<2x5x8xf32>, tensor<8x24xf32>) -> tensor<2x5x24xf32>
  %q0, %k0, %v0 = nn.split %y {axis = 2, num_outputs = 3} : (tensor<2x5x24xf32>) -> (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<2x5x8xf32>)
  %q1 = nn.reshape %q0, %heads : (tensor<2x5x8xf32>, tensor<4xi64>) -> tensor<2x5x2x4xf32>
  %k1 = nn.reshape %k0, %heads : (tensor<2x5x8xf32>, tensor<4xi64>) -> tensor<2x5x2x4xf32>
  %v1 = nn.reshape %v0, %heads : (tensor<2x5x8xf32>, tensor<4xi64>) -> tensor<2x5x2x4xf32>
  %q = nn.transpose %q1 {perm = [0, 2, 1, 3]} : (tensor<2x5x2x4xf32>) -> tensor<2x2x5x4xf32>
  %k = nn.transpose %k1 {perm = [0, 2, 1, 3]} : (tensor<2x5x2x4xf32>) -> tensor<2x2x5x4xf32>
  %v = nn.transpose %v1 {perm = [0, 2, 1, 3]} : (tensor<2x5x2x4xf32>) -> tensor<2x2x5x4xf32>
  %a, %p0, %p1, %p2 = nn.attention %q, %k, %v {is_causal = true} : (tensor<2x2x5x4xf32>, tensor<2x2x5x4xf32>, tensor<2x2x5x4xf32>) -> (tensor<2x2x5x4xf32>, tensor<2x2x5x4xf32>, tensor<2x2x5x4xf32>, tensor<2x2x5x5xf32>)
  %m = nn.transpose %a {perm = [0, 2, 1, 3]} : (tensor<2x2x5x4xf32>) -> tensor<2x5x2x4xf32>
  %o = nn.reshape %m, %rows : (tensor<2x5x2x4xf32>, tensor<3xi64>) -> tensor<2x5x8xf32>
  %r = nn.relu %o : tensor<2x5x8xf32>
  func.return %r : tensor<2x5x8xf32>
}
"""


def test_split_head_split_and_head_merge_are_views(rng: np.random.Generator) -> None:
    module = parse_ir(QKV)
    module.resources["qkv"] = rng.standard_normal((8, 24)).astype(np.float32)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    want = tr.compile(module, backend="reference")({"x": x})
    engine = tr.compile(module)
    steps = engine.program({"x": (2, 5, 8)}).steps
    modes = Counter((s.mode, s.op.kind) for s in steps)
    # the split, the three head splits and the head merge (attention writes [B, S, H, D])
    assert modes[("strided", "data_movement")] == 5, modes
    assert modes[("kernel", "data_movement")] == 0, modes
    (got,), (w,) = engine({"x": x}).values(), want.values()
    np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)


def test_a_view_read_by_a_plain_kernel_is_not_made(rng: np.random.Generator) -> None:
    """When a head split is also returned, the split before it is a kernel: a view would only be
    copied by the kernel that needs it contiguous."""
    text = QKV.replace("-> tensor<2x5x8xf32> {", "-> (tensor<2x5x8xf32>, tensor<2x2x5x4xf32>) {")
    text = text.replace(
        "func.return %r : tensor<2x5x8xf32>", "func.return %r, %q : tensor<2x5x8xf32>, tensor<2x2x5x4xf32>"
    )
    module = parse_ir(text)
    module.resources["qkv"] = rng.standard_normal((8, 24)).astype(np.float32)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    want = tr.compile(module, backend="reference")({"x": x})
    engine = tr.compile(module)
    modes = Counter((s.mode, s.op.kind) for s in engine.program({"x": (2, 5, 8)}).steps)
    assert modes[("strided", "data_movement")] == 3 and modes[("kernel", "data_movement")] == 2, modes
    got = engine({"x": x})
    assert got.keys() == want.keys()
    for name, w in want.items():
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["bert", "gpt2", "vit", "distilbert"])
@pytest.mark.parametrize("exporter", zoo.EXPORTERS)
def test_transformer_layers_launch_no_data_movement(
    name: str, exporter: str, rng: np.random.Generator
) -> None:
    """Each encoder layer launches at most 7 kernels (issue 4 asks for at most 8): LayerNorms,
    one QKV GEMM, attention, the output projection with its residual add, the MLP's two GEMMs;
    the head splits and merges launch nothing."""
    inputs = zoo.MODELS[name].inputs(rng, False)
    engine = tr.compile(str(zoo.exported(name, exporter)))
    steps = engine.program({k: v.shape for k, v in inputs.items()}).steps
    launched = [s for s in steps if s.mode not in ("view", "strided")]
    moved = [
        o.name
        for s in launched
        if s.op.kind == "data_movement"
        for o in s.op.ops
        if o.name in ("nn.transpose", "nn.slice", "nn.split")
    ]
    # ViT's patch embedding: one gather of the patches into the rows of its GEMM (the convolution
    # with stride = kernel); its NCHW output, flattened and transposed back, is a view
    expected = ["nn.transpose"] if name == "vit" else []
    if name in ("bert", "vit"):
        expected.append("nn.slice")  # the pooler's [CLS] token, hidden[:, 0] (a one-index gather)
    assert moved == expected
    attention = [s for s in launched if s.op.kind == "attention"]
    assert len(attention) == 2
    first, second = (steps.index(a) for a in attention)
    per_layer = [s for s in launched[launched.index(steps[first]) : launched.index(steps[second])]]
    assert len(per_layer) <= 7, [s.name for s in per_layer]


# GPT-2's tied LM head: logits = h @ transpose(embedding table), the table also read by the token
# gather. The table is too large to store twice, so the transpose stays in the graph.
TIED = """
func.func @main(%ids: tensor<2x5xi64>) -> tensor<2x5x1000xf32> {
  %emb = nn.constant dense_resource<wte> : tensor<1000x300xf32>
  %h = nn.gather %emb, %ids {axis = 0} : (tensor<1000x300xf32>, tensor<2x5xi64>) -> tensor<2x5x300xf32>
  %t = nn.tanh %h : tensor<2x5x300xf32>
  %wt = nn.transpose %emb {perm = [1, 0]} : (tensor<1000x300xf32>) -> tensor<300x1000xf32>
  %y = nn.matmul %t, %wt : (tensor<2x5x300xf32>, tensor<300x1000xf32>) -> tensor<2x5x1000xf32>
  func.return %y : tensor<2x5x1000xf32>
}
"""


def test_transposed_weight_is_read_in_place_by_the_gemm(rng: np.random.Generator) -> None:
    module = parse_ir(TIED)
    module.resources["wte"] = rng.standard_normal((1000, 300)).astype(np.float32)
    ids = rng.integers(0, 1000, (2, 5)).astype(np.int64)
    want = tr.compile(module, backend="reference")({"ids": ids})
    engine = tr.compile(module)
    steps = engine.program({"ids": (2, 5)}).steps
    transpose = [s for s in steps if any(o.name == "nn.transpose" for o in getattr(s.op, "ops", []))]
    assert [s.mode for s in transpose] == ["strided"]
    (got,), (w,) = engine({"ids": ids}).values(), want.values()
    np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-4)


def test_weight_with_unaligned_rows_is_held_k_major(rng: np.random.Generator) -> None:
    """A [K, N] weight whose rows are not 16-byte aligned (N = 1001) is held transposed in memory,
    so the GEMM reads aligned K-long columns; the values are unchanged."""
    text = """
func.func @main(%x: tensor<3x64xf32>) -> tensor<3x1001xf32> {
  %w = nn.constant dense_resource<head> : tensor<64x1001xf32>
  %y = nn.matmul %x, %w : (tensor<3x64xf32>, tensor<64x1001xf32>) -> tensor<3x1001xf32>
  func.return %y : tensor<3x1001xf32>
}
"""
    module = parse_ir(text)
    module.resources["head"] = rng.standard_normal((64, 1001)).astype(np.float32)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    engine = tr.compile(module)
    prog = engine.program({"x": (3, 64)})
    (w,) = [t for t in prog.constants.values() if tuple(t.shape) == (64, 1001)]
    assert w.stride() == (1, 64)
    (got,) = engine({"x": x}).values()
    np.testing.assert_allclose(got, x @ module.resources["head"], rtol=1e-4, atol=1e-4)


def test_multihead_attention_seq_first_layout(tmp_path, rng: np.random.Generator) -> None:
    """torch's nn.MultiheadAttention (torchvision's ViT) exports a seq-first layout: Q/K/V picked
    from [3, S, B, E] by one-index gathers, then the batch and heads merged ([S, B*H, D]) and split
    again after a transpose. The input's transpose to seq-first moves below the input projection,
    the gathers become slices and the merge a split of E with one transpose: Q, K and V reach
    attention as views of the input projection's output, nothing copied. After
    attention, the transpose back to batch-first moves above the output projection and into
    attention's output layout. Results as onnxruntime's."""
    import onnxruntime as ort
    import torch

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(32, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.attn(x, x, x, need_weights=False)[0]

    torch.manual_seed(0)
    block = Block().eval()
    for b in (block.attn.in_proj_bias, block.attn.out_proj.bias):  # zeros by default: folded away
        b.data.normal_()
    path = tmp_path / "mha.onnx"
    x = rng.standard_normal((2, 5, 32)).astype(np.float32)
    torch.onnx.export(
        block, (torch.from_numpy(x),), str(path), input_names=["x"], output_names=["y"], dynamo=False
    )
    engine = tr.compile(str(path))
    steps = engine.program({"x": x.shape}).steps
    launched = [s for s in steps if s.mode not in ("view", "strided")]
    kinds = [s.op.kind for s in launched]
    # Q/K/V projection (of the batch-first input: the seq-first transpose moved below it, into the
    # views), attention (writing the heads merged back batch-first), output projection with the
    # residual add in its epilogue
    assert kinds == ["matmul", "attention", "matmul"], [s.name for s in launched]
    assert not any(o.name == "nn.gather" for s in steps for o in getattr(s.op, "ops", []))
    storages: dict[str, list[int]] = {}

    def watch(step):  # the storage of what each launched kernel reads and writes
        def run(inputs, outputs, config):
            storages[step.op.kind] = [t.untyped_storage().data_ptr() for t in [*inputs, *outputs]]
            return kernel(inputs, outputs, config)

        kernel = step.kernel
        run.strided_inputs = kernel.strided_inputs  # type: ignore[attr-defined]
        return run

    for step in launched[:2]:
        step.kernel = watch(step)
    want = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(engine({"x": x})["y"], want, rtol=1e-5, atol=1e-5)
    qkv = storages["matmul"][-1]
    assert storages["attention"][:3] == [qkv] * 3  # Q, K and V: views of the projection's output
