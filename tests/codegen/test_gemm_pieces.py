"""The GEMM template's joined left operand (``codegen/gemm_pieces.py``): ``concat(a1, a2) @ W`` read
piece by piece, through pointers and through tensor descriptors (under Triton's interpreter),
with widths that are not multiples of the K tile; and whole ResNet bottlenecks whose projection
shortcut ``merge-summed-matmuls`` joins to the last 1x1 convolution, against torch."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import tritium as tr
import tritium.ir as ir
from tritium.codegen import kernel_for
from tritium.codegen.gemm import MatmulKernel
from tritium.codegen.gemm_pieces import piece_descriptors
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def joined_case(rows: tuple[int, ...], k1: int, k2: int, n: int, dt: str) -> str:
    a1, a2, a = (ty((*rows, k), dt) for k in (k1, k2, k1 + k2))
    w, o = ty((k1 + k2, n), dt), ty((*rows, n), dt)
    return f"""func.func @main(%a1: {a1}, %a2: {a2}, %w: {w}, %b: {ty((n,), dt)}) -> {o} {{
  %a = nn.concat %a1, %a2 {{axis = -1}} : ({a1}, {a2}) -> {a}
  %y = nn.matmul %a, %w : ({a}, {w}) -> {o}
  %s = nn.add %y, %b : ({o}, {ty((n,), dt)}) -> {o}
  %r = nn.relu %s : {o}
  func.return %r : {o}
}}"""


FORMS = {
    "pointers": {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16, "GROUP_M": 4, "num_warps": 4, "num_stages": 1},
    "tma": {
        "BLOCK_M": 16,
        "BLOCK_N": 16,
        "BLOCK_K": 16,
        "GROUP_M": 4,
        "num_warps": 4,
        "num_stages": 1,
        "TMA": 1,
    },
}


@pytest.mark.parametrize(
    "form,dt", [("pointers", "f32"), ("pointers", "f16"), ("tma", "f16")]
)  # (TMA: 16-bit)
@pytest.mark.parametrize("rows,k1,k2,n", [((37,), 24, 40, 24), ((2, 3, 5), 8, 56, 40), ((19,), 20, 13, 18)])
def test_joined_operand_matches_the_reference(
    form: str, dt: str, rows, k1: int, k2: int, n: int, rng
) -> None:
    text = joined_case(rows, k1, k2, n, dt)
    module, ref = ir.parse_ir(text), ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    (fused,) = [op for op in module.main.block.ops if op.name == "kernel.fused"]
    kernel = kernel_for(fused)
    assert isinstance(kernel, MatmulKernel) and kernel.widths == [k1, k2] and kernel.library is None
    assert "_persistent(" not in kernel.source and "_streamk(" not in kernel.source
    assert all(
        not (c.keys() & {"PERSISTENT", "STREAMK", "SPLIT", "SPLIT_K", "LIBRARY"})
        for c in kernel.config_space(3)
    )
    npdt = np.float16 if dt == "f16" else np.float32
    inputs = [(rng.standard_normal(a.type.shape) / 4).astype(npdt) for a in module.main.args]
    want = ir.run_reference(ref, inputs)[0].astype(np.float32)
    ins = [torch.from_numpy(v) for v in inputs]
    cfg = FORMS[form]
    addressable = all((k * np.dtype(npdt).itemsize) % 16 == 0 for k in (k1, k2))
    if form == "tma":  # rows TMA cannot address (not 16-byte multiples) load through pointers instead
        assert (piece_descriptors(ins[:2], ins[2], cfg) is not None) == addressable
    out = torch.full(want.shape, float("nan"), dtype=ins[0].dtype)
    kernel(ins, [out], cfg)
    tol = 2e-3 if dt == "f16" else 1e-5
    np.testing.assert_allclose(out.float().numpy(), want, rtol=tol, atol=tol * np.abs(want).max())


class Bottleneck(torch.nn.Module):
    """torchvision's ResNet bottleneck, with its projection shortcut, or without one (``projection``
    False: the block's input, of 4 * ``mid`` channels, is its residual; stride 1)."""

    def __init__(self, cin: int, mid: int, stride: int, projection: bool = True) -> None:
        super().__init__()

        def bn(c: int) -> torch.nn.BatchNorm2d:
            b = torch.nn.BatchNorm2d(c)
            b.running_mean.uniform_(-0.5, 0.5), b.running_var.uniform_(0.5, 2.0)
            b.weight.data.uniform_(0.5, 1.5), b.bias.data.uniform_(-0.3, 0.3)
            return b

        conv = torch.nn.Conv2d
        self.c1, self.b1 = conv(cin, mid, 1, bias=False), bn(mid)
        self.c2, self.b2 = conv(mid, mid, 3, stride=stride, padding=1, bias=False), bn(mid)
        self.c3, self.b3 = conv(mid, 4 * mid, 1, bias=False), bn(4 * mid)
        self.projection = projection
        if projection:
            self.down, self.bd = conv(cin, 4 * mid, 1, stride=stride, bias=False), bn(4 * mid)
        else:
            assert cin == 4 * mid and stride == 1, "a block without a projection keeps its input's shape"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))
        return torch.relu(self.b3(self.c3(y)) + (self.bd(self.down(x)) if self.projection else x))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("fp16", [False, True])
def test_bottleneck_shortcut_joins_the_last_gemm(stride: int, fp16: bool, rng: np.random.Generator) -> None:
    """The shortcut's GEMM is gone: the last kernel reads the 3x3 convolution's output and the block's
    input (strided: its slice) in turn; the block computes what torch does."""
    torch.manual_seed(0)
    model = Bottleneck(16, 8, stride).eval()
    f = io.BytesIO()
    torch.onnx.export(
        model, (torch.zeros(2, 16, 8, 8),), f, input_names=["x"], output_names=["y"], dynamo=False
    )
    engine = tr.compile(f.getvalue(), fp16=fp16)
    gemms = [
        s.kernel for s in engine.program({"x": (2, 16, 8, 8)}).steps if isinstance(s.kernel, MatmulKernel)
    ]
    assert [k.widths for k in gemms] == [[], [8, 16]]  # the first 1x1 convolution; the joined last one
    x = rng.standard_normal((2, 16, 8, 8)).astype(np.float32)
    want = model(torch.from_numpy(x)).detach().numpy()
    got = np.asarray(engine({"x": x})["y"], dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=0, atol=(4e-3 if fp16 else 1e-5) * np.abs(want).max())


def test_a_sum_of_bare_products_joins_too(rng: np.random.Generator) -> None:
    """Two linear layers without biases, summed: one joined GEMM with no epilogue at all."""

    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(16, 32, bias=False), torch.nn.Linear(24, 32, bias=False)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.a(x) + self.b(y)

    torch.manual_seed(0)
    model = Two().eval()
    f = io.BytesIO()
    example = (torch.zeros(5, 16), torch.zeros(5, 24))
    torch.onnx.export(model, example, f, input_names=["x", "y"], output_names=["z"], dynamo=False)
    engine = tr.compile(f.getvalue())
    shapes = {"x": (5, 16), "y": (5, 24)}
    (step,) = [s for s in engine.program(shapes).steps if s.mode == "kernel"]
    assert isinstance(step.kernel, MatmulKernel) and step.kernel.widths == [16, 24]
    x, y = rng.standard_normal((5, 16)).astype(np.float32), rng.standard_normal((5, 24)).astype(np.float32)
    want = model(torch.from_numpy(x), torch.from_numpy(y)).detach().numpy()
    np.testing.assert_allclose(np.asarray(engine({"x": x, "y": y})["z"]), want, rtol=1e-5, atol=1e-5)


def test_refit_through_the_joined_weights(rng: np.random.Generator) -> None:
    """The joined weight records the source weights it was made of: setting the shortcut's
    convolution asks for the last convolution's weight too (they share one constant); refitted with
    new weights, the engine matches onnxruntime on the model with those weights."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from tests.api.test_builder_api import build_from_onnx

    torch.manual_seed(0)
    f = io.BytesIO()
    torch.onnx.export(
        Bottleneck(16, 8, 2).eval(),
        (torch.zeros(2, 16, 8, 8),),
        f,
        input_names=["x"],
        output_names=["y"],
        dynamo=False,
    )
    proto = onnx.load_from_string(f.getvalue())  # (the exporter folds each BatchNorm into its conv)
    engine, _ = build_from_onnx(proto, refit=True)
    refitter = tr.Refitter(engine, tr.Logger())
    names = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    down = next(n for n, a in names.items() if a.shape == (32, 16, 1, 1))  # the shortcut's weight
    refitter.set_named_weights(down, names[down])
    assert [names[n].shape for n in refitter.get_missing_weights()] == [(32, 8, 1, 1)]
    new = {n: (rng.standard_normal(a.shape) * 0.3).astype(np.float32) for n, a in names.items()}
    for n, a in new.items():
        refitter.set_named_weights(n, a)
    assert refitter.refit_cuda_engine()
    for init in proto.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(new[init.name], init.name))
    x = rng.standard_normal((2, 16, 8, 8)).astype(np.float32)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})[0]
    got = np.asarray(engine.create_execution_context().run({"x": x})["y"])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
