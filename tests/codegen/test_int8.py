"""INT8: explicit quantization (Q/DQ) lowered by lower-quant, i8 x i8 GEMMs accumulating exactly in
int32 with a dequantize / requantize epilogue, and Q/DQ fused as elementwise ops. Oracles: integer
numpy products, the reference interpreter, and onnx's reference evaluator on models quantized by
onnxruntime (``spec_outputs``; onnxruntime itself where no integer product is involved)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tritium as tr
import tritium.ir as ir
from tests.codegen import fused_kernels
from tritium.codegen import MatmulKernel, kernel_for
from tritium.passes import PassManager


def ty(shape: tuple[int, ...], dt: str) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def spec_outputs(model: bytes | str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The outputs of an int8 ONNX model as the operators' spec defines them: onnx's reference
    evaluator (exact integer products). Not onnxruntime: on x86 CPUs without VNNI (this AMD EPYC's
    AVX2) its u8 x s8 products add pairs of products in saturating int16 (``vpmaddubsw``; its
    quantizer's ``reduce_range`` exists for that), and a MatMulInteger of full-range operands came
    out 40923 off (onnxruntime 1.32), the dynamically quantized MLP below 0.08 off the float model
    where the spec's output is 0.009 off."""
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, feeds)


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [((37, 70), (70, 33)), ((2, 3, 40), (40, 24)), ((2, 19, 64), (2, 64, 9)), ((17, 32), (32, 8))],
    ids=["odd", "folded-batch", "batched", "small"],
)
def test_integer_gemm_is_exact(a_shape, b_shape, rng: np.random.Generator) -> None:
    """matmul_integer of i8 operands (K not a multiple of the block, batched or folded) with its
    epilogue in one kernel: the cast product is exact (|products| < 2^24 here), and the dequantizing
    scale and a ReLU apply to it."""
    out = (*np.broadcast_shapes(a_shape[:-2], b_shape[:-2]), a_shape[-2], b_shape[-1])
    a, b, o, oi = ty(a_shape, "i8"), ty(b_shape, "i8"), ty(out, "f32"), ty(out, "i32")
    x = rng.integers(-128, 128, a_shape).astype(np.int8)
    w = rng.integers(-128, 128, b_shape).astype(np.int8)
    exact = np.matmul(x.astype(np.int64), w.astype(np.int64))
    for result, want in (("%f", exact), ("%r", np.maximum(exact * np.float32(0.001), 0))):
        text = f"""func.func @main(%a: {a}, %b: {b}) -> {o} {{
  %p = nn.matmul_integer %a, %b : ({a}, {b}) -> {oi}
  %f = nn.cast %p {{to = f32}} : ({oi}) -> {o}
  %s = nn.constant dense<0.001> : tensor<f32>
  %y = nn.mul %f, %s : ({o}, tensor<f32>) -> {o}
  %r = nn.relu %y : {o}
  func.return {result} : {o}
}}"""
        fused = fused_kernels(text, "dce,fuse-kernels,dce")
        assert len(fused) == 1
        kernel = kernel_for(fused[0])
        assert isinstance(kernel, MatmulKernel) and kernel.integer and "dtype=tl.int32" in kernel.source
        got = torch.empty(out, dtype=torch.float32)
        kernel([torch.from_numpy(x), torch.from_numpy(w)], [got])
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=0)


def test_lowered_qdq_matmul_runs_on_the_integers(rng: np.random.Generator) -> None:
    """lower-quant turns matmul(DQ(Q(x)), transpose(DQ(W))) (ONNX Gemm with transB and per-channel
    weight scales) into an integer GEMM; the engine agrees with the reference interpreter."""
    text = """func.func @main(%x: tensor<6x48xf32>) -> tensor<6x20xf32> {
  %sx = nn.constant dense<0.02> : tensor<f32>
  %zx = nn.constant dense<0> : tensor<i8>
  %q = quant.quantize_linear %x, %sx, %zx {output_dtype = i8} : (tensor<6x48xf32>, tensor<f32>, tensor<i8>) -> tensor<6x48xi8>
  %a = quant.dequantize_linear %q, %sx, %zx : (tensor<6x48xi8>, tensor<f32>, tensor<i8>) -> tensor<6x48xf32>
  %wq = nn.constant dense_resource<wq> : tensor<20x48xi8>
  %sw = nn.constant dense_resource<sw> : tensor<20xf32>
  %w = quant.dequantize_linear %wq, %sw {axis = 0} : (tensor<20x48xi8>, tensor<20xf32>) -> tensor<20x48xf32>
  %wt = nn.transpose %w {perm = [1, 0]} : (tensor<20x48xf32>) -> tensor<48x20xf32>
  %y = nn.matmul %a, %wt : (tensor<6x48xf32>, tensor<48x20xf32>) -> tensor<6x20xf32>
  func.return %y : tensor<6x20xf32>
}"""
    weights = {
        "wq": rng.integers(-127, 128, (20, 48)).astype(np.int8),
        "sw": (rng.random(20) * 0.01 + 0.001).astype(np.float32),
    }
    lowered = ir.parse_ir(text)
    lowered.resources.update(weights)
    PassManager("lower-quant,canonicalize,dce").run(lowered)
    names = [op.name for op in lowered.main.block.ops]
    assert "nn.matmul_integer" in names and "nn.matmul" not in names
    assert not any(n.startswith("quant.") for n in names)
    module = ir.parse_ir(text)
    module.resources.update(weights)
    x = rng.standard_normal((6, 48)).astype(np.float32)
    want = ir.run_reference(module, [x])[0]
    engine = tr.compile(module)
    assert engine.host_steps({"x": x.shape}) == []
    np.testing.assert_allclose(engine({"x": x})["output_0"], want, rtol=1e-5, atol=1e-5)


def test_per_axis_uint8_qdq_with_zero_points(rng: np.random.Generator) -> None:
    """Q/DQ per channel of NCHW with u8 zero points (asymmetric): elementwise, fused, as the reference."""
    t, tq = ty((2, 3, 4, 5), "f32"), ty((2, 3, 4, 5), "ui8")
    text = f"""func.func @main(%x: {t}) -> {t} {{
  %s = nn.constant dense<[0.01, 0.02, 0.05]> : tensor<3xf32>
  %z = nn.constant dense<[0, 128, 250]> : tensor<3xui8>
  %q = quant.quantize_linear %x, %s, %z {{axis = 1}} : ({t}, tensor<3xf32>, tensor<3xui8>) -> {tq}
  %y = quant.dequantize_linear %q, %s, %z {{axis = 1}} : ({tq}, tensor<3xf32>, tensor<3xui8>) -> {t}
  func.return %y : {t}
}}"""
    x = (rng.standard_normal((2, 3, 4, 5)) * 2).astype(np.float32)
    x[0, 0, 0, :3] = [0.005, 0.015, -0.025]  # channel 0 (scale 0.01): ties, half to even decides
    x[0, 2, 0, :2] = [0.125, -0.075]  # channel 2 (scale 0.05): 2.5 and -1.5
    want = ir.run_reference(ir.parse_ir(text), [x])[0]
    engine = tr.compile(ir.parse_ir(text))
    assert engine.host_steps({"x": x.shape}) == []
    np.testing.assert_array_equal(engine({"x": x})["output_0"], want)


def quantized_with_onnxruntime(
    model: torch.nn.Module, shape: tuple[int, ...], tmp_path, rng, activations: str = "i8"
) -> str:
    """``model`` exported to ONNX and quantized by onnxruntime's quantize_static (QDQ, symmetric
    per-channel int8 weights; four random calibration batches): the path of the int8 model. The
    activations: symmetric int8 ("i8"), or onnxruntime's default, asymmetric uint8 ("u8")."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    fp32, int8 = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    torch.onnx.export(
        model.eval(), (torch.zeros(shape),), str(fp32), input_names=["x"], output_names=["y"], dynamo=False
    )
    quantize_static(
        str(fp32),
        str(int8),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8 if activations == "i8" else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"ActivationSymmetric": activations == "i8", "WeightSymmetric": True},
    )
    return str(int8)


def onnxruntime_int8_case(
    model: torch.nn.Module, shape: tuple[int, ...], tmp_path, rng, activations: str = "i8"
) -> tuple:
    """``model`` with seeded random weights (scale 0.3), quantized by onnxruntime, a random input
    and the spec's output for it (``spec_outputs``): (path of the int8 model, x, want)."""

    torch.manual_seed(0)
    for p in model.parameters():
        p.data = torch.randn_like(p) * 0.3
    int8 = quantized_with_onnxruntime(model, shape, tmp_path, rng, activations)
    x = rng.standard_normal(shape).astype(np.float32)
    want = spec_outputs(int8, {"x": x})[0]
    return int8, x, want


def test_quantized_residual_dequantizes_in_the_epilogue(tmp_path, rng: np.random.Generator) -> None:
    """ResNet-style blocks quantized by onnxruntime: each block's int8 output is dequantized for the
    next block's residual add. That dequantize runs in the consuming GEMM's or convolution's epilogue
    (which reads the int8 tensor), not as a kernel of its own; the output equals the spec's."""

    class Block(torch.nn.Module):
        def __init__(self, c: int, k: int) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(c, c, k, padding=k // 2)
            self.b = torch.nn.Conv2d(c, c, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.b(torch.relu(self.a(x))) + x)

    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), Block(16, 1), Block(16, 3), Block(16, 1)
    )
    int8, x, want = onnxruntime_int8_case(model, (2, 3, 8, 8), tmp_path, rng)
    engine = tr.compile(int8)
    steps = [s for s in engine.program({"x": x.shape}).steps if s.mode == "kernel"]
    assert engine.host_steps({"x": x.shape}) == []
    kinds = [s.op.kind for s in steps]
    # the input's quantize and layout change, 7 convolutions, the output's layout change
    assert kinds.count("elementwise") == 1 and kinds.count("conv") + kinds.count("matmul") == 7, kinds
    _equal_but_for_ties(np.asarray(engine({"x": x})["y"]), want)


def _equal_but_for_ties(got: np.ndarray, want: np.ndarray) -> None:
    """``got`` equals the spec's int8-dequantized output ``want`` but where a value lay next to the
    midpoint of two steps: the spec sums dequantized float32 products (in its order), Tritium exact
    int32 ones, so such a value may round either way (about one element in a thousand for some
    seeds), never by more than one step."""
    step = np.diff(np.unique(want)).min()
    off = ~np.isclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.abs(got - want).max() <= step * 1.01 and off.mean() <= 0.005, (off.sum(), step)


def test_onnxruntime_quantized_mlp(tmp_path, rng: np.random.Generator) -> None:
    """A model quantized by onnxruntime (QDQ, int8, symmetric, per-channel weights): both GEMMs run
    as int8 GEMMs with the next layer's quantize in their epilogue; the output equals the spec's
    (``spec_outputs``) but for ties (seed 3246540916: one output 4e-6 of a step from a midpoint)."""

    class MLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1, self.l2 = torch.nn.Linear(64, 96), torch.nn.Linear(96, 40)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.l2(torch.relu(self.l1(x)))

    torch.manual_seed(0)
    int8 = quantized_with_onnxruntime(MLP(), (8, 64), tmp_path, rng)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    want = spec_outputs(int8, {"x": x})[0]
    engine = tr.compile(int8)
    prog = engine.program({"x": x.shape})
    gemms = [s for s in prog.steps if s.mode == "kernel" and s.op.kind == "matmul"]
    assert len(gemms) == 2 and all(any(o.name == "nn.matmul_integer" for o in s.op.ops) for s in gemms)
    assert str(gemms[1].inputs[0].type).endswith("xi8>")  # the first GEMM's epilogue quantized it
    assert engine.host_steps({"x": x.shape}) == []
    _equal_but_for_ties(np.asarray(engine({"x": x})["y"]), want)


@pytest.mark.parametrize("activations", ["i8", "u8"])
def test_onnxruntime_quantized_cnn(activations: str, tmp_path, rng: np.random.Generator) -> None:
    """A small CNN quantized by onnxruntime (QDQ, per-channel int8 weights; symmetric int8
    activations, or onnxruntime's default asymmetric uint8 with zero points): plain, strided-grouped
    and depthwise convolutions run as int8 channels-last convolutions, the 1x1 one and the
    classifier as int8 GEMMs, nothing on the host; the output equals the spec's (``spec_outputs``)."""

    class CNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = torch.nn.Conv2d(3, 16, 3, padding=1)
            self.c2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=2)
            self.dw = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)
            self.pw = torch.nn.Conv2d(32, 24, 1)
            self.fc = torch.nn.Linear(24, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.c2(torch.relu(self.c1(x))))
            return self.fc(self.pw(torch.relu(self.dw(y)) + y).mean((2, 3)))

    int8, x, want = onnxruntime_int8_case(CNN(), (2, 3, 10, 10), tmp_path, rng, activations)
    engine = tr.compile(int8)
    steps = engine.program({"x": x.shape}).steps
    ops = [o for s in steps if s.mode == "kernel" for o in s.op.ops]
    convs = [o for o in ops if o.name == "nn.conv_integer"]
    assert len(convs) == 3 and all(o.attributes.get("layout") == "NHWC" for o in convs)
    assert all(str(o.operand(0).type).endswith(f"x{'ui8' if activations == 'u8' else 'i8'}>") for o in convs)
    assert [o.name for o in ops].count("nn.matmul_integer") == 2
    assert not {"nn.conv", "nn.matmul"} & {o.name for o in ops} and engine.host_steps({"x": x.shape}) == []
    got = engine({"x": x})["y"]
    # the generated kernels compute what the reference interpreter does, bit for bit
    np.testing.assert_array_equal(got, tr.compile(int8, backend="reference")({"x": x})["y"])
    # the spec's evaluator (numpy) sums the global mean in another order: a pooled value at a rounding
    # boundary of its quantization may land one step away, which the Linear carries to a few outputs
    # (seen against onnxruntime with seed 1759356192)
    np.testing.assert_allclose(got, want, rtol=0, atol=0.02 * np.abs(want).max())
    assert np.mean(got == want) >= 0.8


@pytest.mark.parametrize("pool", ["MaxPool", "AveragePool"])
def test_pooling_between_dequantize_and_quantize(pool: str, tmp_path, rng: np.random.Generator) -> None:
    """DQ -> pool -> Q (how onnxruntime quantizes ResNet's stem max-pool) is one generated pooling
    kernel: the dequantize applies to each tap, the quantize to the result; a max pool runs on the
    integers instead (dequantizing keeps the order, the quantize to the same scale folds away); as
    onnxruntime."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    z = numpy_helper.from_array(np.array(0, np.int8), "z")
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "s", "z"], ["d"]),
        helper.make_node(pool, ["d"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["p", "s", "z"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.INT8, [2, 4, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.INT8, [2, 4, 5, 5])],
        [s, z],
    )
    path = tmp_path / "pool.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), str(path))
    x = rng.integers(-128, 128, (2, 4, 9, 9)).astype(np.int8)
    engine = tr.compile(str(path))
    (layer,) = engine.inspect({"x": x.shape})["layers"]
    assert layer["template"] == "pool" and layer["tactic"] == "generated Triton"
    (step,) = [s for s in engine.program({"x": x.shape}).steps if s.mode == "kernel"]
    assert ("nn.round" in [o.name for o in step.op.ops]) == (pool == "AveragePool")
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(engine({"x": x})["y"], want)


@pytest.mark.parametrize(
    "a_dt,zero,batched",
    [("ui8", "arg", False), ("ui8", "arg", True), ("i8", "const", False), ("ui8", None, False)],
    ids=["u8-runtime-zero", "u8-runtime-zero-batched", "i8-constant-zero", "u8-no-zero"],
)
def test_integer_gemm_with_row_zero_point(a_dt: str, zero, batched: bool, rng: np.random.Generator) -> None:
    """(a - z) @ b for u8 (or i8) rows with one zero point, given at run time or as a constant (what
    onnxruntime's dynamic quantization writes): int8 tensor cores on a - 128 and a column-sum
    correction, exact against numpy."""
    m, k, n = 37, 70, 33
    a_shape, b_shape = ((2, m, k), (2, k, n)) if batched else ((m, k), (k, n))
    out = (*a_shape[:-1], n)
    a, b, oi, o = ty(a_shape, a_dt), ty(b_shape, "i8"), ty(out, "i32"), ty(out, "f32")
    z_t = f"tensor<{a_dt}>"
    if zero == "arg":
        head, zop, zarg = f"%a: {a}, %b: {b}, %z: {z_t}", "", ", %z, %zb"
    elif zero == "const":
        head, zop, zarg = f"%a: {a}, %b: {b}", f"  %z = nn.constant dense<-7> : {z_t}\n", ", %z, %zb"
    else:
        head, zop, zarg = f"%a: {a}, %b: {b}", "", ""
    zb = "  %zb = nn.constant dense<0> : tensor<i8>\n" if zarg else ""
    sig = f"({a}, {b}{f', {z_t}, tensor<i8>' if zarg else ''})"
    text = f"""func.func @main({head}) -> {o} {{
{zop}{zb}  %p = nn.matmul_integer %a, %b{zarg} : {sig} -> {oi}
  %f = nn.cast %p {{to = f32}} : ({oi}) -> {o}
  func.return %f : {o}
}}"""
    lo, hi = (0, 256) if a_dt == "ui8" else (-128, 128)
    x = rng.integers(lo, hi, a_shape).astype(np.uint8 if a_dt == "ui8" else np.int8)
    w = rng.integers(-128, 128, b_shape).astype(np.int8)
    z = {"arg": 131, "const": -7, None: 0}[zero]
    inputs = [x, w] + ([np.array(z, np.uint8)] if zero == "arg" else [])
    want = np.matmul(x.astype(np.int64) - z, w.astype(np.int64))
    module = ir.parse_ir(text)
    np.testing.assert_array_equal(ir.run_reference(ir.parse_ir(text), inputs)[0], want)
    engine = tr.compile(module)
    shapes = dict(zip(engine.input_names, (v.shape for v in inputs)))
    assert engine.host_steps(shapes) == []
    source = "\n".join(s.kernel.source for s in engine.program(shapes).steps if s.mode == "kernel")
    assert ("bsum" in source) == (a_dt == "ui8" or zero is not None)
    np.testing.assert_array_equal(engine(dict(zip(engine.input_names, inputs)))["output_0"], want)


@pytest.mark.parametrize("per_channel", [False, True])
def test_onnxruntime_dynamically_quantized_mlp(per_channel: bool, tmp_path, rng: np.random.Generator) -> None:
    """onnxruntime's quantize_dynamic: u8 activations quantized at run time (DynamicQuantizeLinear:
    a min/max reduction, scale and zero point as values), MatMulInteger with that zero point. All of
    it runs generated, the products as int8 GEMMs; the output equals the spec's (``spec_outputs``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.ReLU(), torch.nn.Linear(96, 40))
    fp32, int8 = tmp_path / "mlp.onnx", tmp_path / "mlp_dyn.onnx"
    torch.onnx.export(
        model.eval(), (torch.zeros(8, 64),), str(fp32), input_names=["x"], output_names=["y"], dynamo=False
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=per_channel)
    x = rng.standard_normal((8, 64)).astype(np.float32)
    want = spec_outputs(str(int8), {"x": x})[0]
    engine = tr.compile(str(int8))
    assert engine.host_steps({"x": x.shape}) == []
    gemms = [s for s in engine.program({"x": x.shape}).steps if s.mode == "kernel" and s.op.kind == "matmul"]
    assert len(gemms) == 2 and all(str(s.kernel.anchor.operand(0).type).endswith("xui8>") for s in gemms)
    np.testing.assert_allclose(engine({"x": x})["y"], want, rtol=1e-6, atol=1e-6)


def test_onnxruntime_dynamically_quantized_cnn(tmp_path, rng: np.random.Generator) -> None:
    """quantize_dynamic on a CNN: ConvInteger of u8 activations with their run-time zero point and a
    weight zero point of 0 (dropped), a 3x3 and a 1x1 convolution. Nothing on the host, the products
    on the integers; the output equals the spec's (``spec_outputs``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 1), torch.nn.ReLU()
    )
    fp32, int8 = tmp_path / "cnn.onnx", tmp_path / "cnn_dyn.onnx"
    torch.onnx.export(
        model.eval(),
        (torch.zeros(2, 3, 9, 9),),
        str(fp32),
        input_names=["x"],
        output_names=["y"],
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"])
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    want = spec_outputs(str(int8), {"x": x})[0]
    engine = tr.compile(str(int8))
    assert engine.host_steps({"x": x.shape}) == []
    ops = [o.name for s in engine.program({"x": x.shape}).steps if s.mode == "kernel" for o in s.op.ops]
    assert "nn.conv_integer" in ops and "nn.conv" not in ops
    np.testing.assert_allclose(engine({"x": x})["y"], want, rtol=1e-6, atol=1e-6)


def test_dynamic_quantize_of_zeros_as_onnxruntime(tmp_path) -> None:
    """DynamicQuantizeLinear of an all-zero tensor: scale 1 and zero point 0, as onnxruntime (the
    spec's (max - min) / 255 would be 0, and the zero point 0 / 0)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.UINT8, [3, 4]),
            helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("z", TensorProto.UINT8, []),
        ],
    )
    path = tmp_path / "dql.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = np.zeros((3, 4), np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = tr.compile(str(path))({"x": x})
    assert float(want[1]) == 1.0
    for name, w in zip(("y", "s", "z"), want):
        np.testing.assert_array_equal(got[name], w)


@pytest.mark.parametrize(
    "layout,c,group,zero,dt",
    [
        ("NCHW", 8, 1, "const", "ui8"),
        ("NHWC", 32, 1, "arg", "ui8"),
        ("NHWC", 24, 1, "const", "ui8"),
        ("NHWC", 3, 1, "const", "ui8"),
        ("NHWC", 16, 16, "const", "ui8"),
        ("NCHW", 8, 2, None, "ui8"),
        ("NHWC", 24, 1, "arg", "i8"),
    ],
    ids=[
        "nchw-flat",
        "nhwc-taps-runtime-zero",
        "nhwc-taps-uneven-channels",
        "nhwc-rows",
        "depthwise",
        "nchw-grouped-no-zero",
        "i8-with-a-zero-point",
    ],
)
def test_integer_convolution_of_u8_with_a_zero_point(
    layout: str, c: int, group: int, zero, dt: str, rng
) -> None:
    """conv(x - z, w) for u8 inputs with one zero point (onnxruntime's default activations): int8
    tensor cores on x - 128 with a column-sum correction, the window padded with the zero point (a
    real zero); the depthwise kernel subtracts it in int32. Every loop form of the template
    (24 channels: the tap loop's masked channel blocks), dilation 2, the zero point a constant or
    an input, and i8 inputs with a zero point (no shift); exact against the reference."""
    n, h, w_, k, r = 2, 9, 8, (16 if group > 1 else 12), 3
    x_shape = (n, c, h, w_) if layout == "NCHW" else (n, h, w_, c)
    cg = c // group
    w_shape = (k, cg, r, r) if layout == "NCHW" else (k, r, r, cg)
    oh, ow = (h + 4 - 5) // 2 + 1, (w_ + 4 - 5) // 2 + 1  # pads 2, dilation 2: a 5-wide window
    o_shape = (n, k, oh, ow) if layout == "NCHW" else (n, oh, ow, k)
    xt, wt, oi, of = ty(x_shape, dt), ty(w_shape, "i8"), ty(o_shape, "i32"), ty(o_shape, "f32")
    z_value = 131 if dt == "ui8" else -37
    head, zop, zarg, zty = f"%x: {xt}, %w: {wt}", "", "", ""
    if zero == "arg":
        head, zarg, zty = head + f", %z: tensor<{dt}>", ", %z", f", tensor<{dt}>"
    elif zero == "const":
        zop, zarg, zty = f"  %z = nn.constant dense<{z_value}> : tensor<{dt}>\n", ", %z", f", tensor<{dt}>"
    attrs = f'strides = [2, 2], pads = [2, 2, 2, 2], dilations = [2, 2], group = {group}, layout = "{layout}"'
    text = f"""func.func @main({head}) -> {of} {{
{zop}  %p = nn.conv_integer %x, %w{zarg} {{{attrs}}} : ({xt}, {wt}{zty}) -> {oi}
  %f = nn.cast %p {{to = f32}} : ({oi}) -> {of}
  func.return %f : {of}
}}"""
    lo, hi, npdt = (0, 256, np.uint8) if dt == "ui8" else (-128, 128, np.int8)
    x = rng.integers(lo, hi, x_shape).astype(npdt)
    wq = rng.integers(-128, 128, w_shape).astype(np.int8)
    inputs = [x, wq] + ([np.array(z_value, npdt)] if zero == "arg" else [])
    want = ir.run_reference(ir.parse_ir(text), inputs)[0]
    engine = tr.compile(ir.parse_ir(text))
    shapes = dict(zip(engine.input_names, (v.shape for v in inputs)))
    steps = [s for s in engine.program(shapes).steps if s.mode == "kernel"]
    assert engine.host_steps(shapes) == [] and any(s.op.kind == "conv" for s in steps)
    source = "\n".join(s.kernel.source for s in steps)
    assert ("bsum" in source) == (group != c) and "other=zx" in source  # (depthwise: no tensor cores)
    np.testing.assert_array_equal(engine(dict(zip(engine.input_names, inputs)))["output_0"], want)


@pytest.mark.parametrize("dt", ["i8", "ui8", "i16", "ui16"])
def test_small_integers_convert_to_float_exactly(dt: str) -> None:
    """Integers of 16 bits or fewer become float32 by arithmetic on the bits (0x4B400000 + n is
    1.5 * 2^23 + n), not the conversion instruction: every value of the type, exactly."""
    info = np.iinfo({"i8": np.int8, "ui8": np.uint8, "i16": np.int16, "ui16": np.uint16}[dt])
    x = np.arange(info.min, info.max + 1).astype(info.dtype)
    t, f = ty(x.shape, dt), ty(x.shape, "f32")
    text = f"""func.func @main(%x: {t}) -> {f} {{
  %y = nn.cast %x {{to = f32}} : ({t}) -> {f}
  func.return %y : {f}
}}"""
    engine = tr.compile(ir.parse_ir(text))
    steps = [s for s in engine.program({"x": x.shape}).steps if s.mode == "kernel"]
    assert len(steps) == 1 and "0x4B400000" in steps[0].kernel.source
    np.testing.assert_array_equal(engine({"x": x})["output_0"], x.astype(np.float32))


@pytest.mark.parametrize("k,magic", [(255, True), (256, False)])
def test_integer_product_converts_by_arithmetic_below_2_22(k: int, magic: bool) -> None:
    """An i8 x i8 product's int32 sum becomes float32 by the bits where K * 128 * 128 < 2^22 (K 255:
    the largest sums, 255 * 2^14, exact), by the conversion instruction beyond (K 256 reaches 2^22);
    the requantized result (round, clip, then to int8, also by the bits) as the reference has it."""
    a, b, o, q = ty((4, k), "i8"), ty((k, 3), "i8"), ty((4, 3), "f32"), ty((4, 3), "i8")
    text = f"""func.func @main(%a: {a}, %b: {b}) -> ({o}, {q}) {{
  %p = nn.matmul_integer %a, %b : ({a}, {b}) -> {ty((4, 3), "i32")}
  %f = nn.cast %p {{to = f32}} : ({ty((4, 3), "i32")}) -> {o}
  %s = nn.constant dense<0.0001> : tensor<f32>
  %d = nn.mul %f, %s : ({o}, tensor<f32>) -> {o}
  %r = nn.round %d : {o}
  %lo = nn.constant dense<-128.0> : tensor<f32>
  %hi = nn.constant dense<127.0> : tensor<f32>
  %c = nn.clip %r, %lo, %hi : ({o}, tensor<f32>, tensor<f32>) -> {o}
  %y = nn.cast %c {{to = i8}} : ({o}) -> {q}
  func.return %f, %y : {o}, {q}
}}"""
    x = np.full((4, k), -128, np.int8)
    x[1] = 127
    x[2, ::2] = 5
    w = np.full((k, 3), -128, np.int8)
    w[:, 1] = 127
    engine = tr.compile(ir.parse_ir(text))
    kernels = [s.kernel for s in engine.program({"a": x.shape, "b": w.shape}).steps if s.mode == "kernel"]
    gemm = next(k for k in kernels if isinstance(k, MatmulKernel))
    assert ("0x4B400000).to(tl.float32, bitcast=True)" in gemm.source) == magic
    # the clipped, rounded result, wherever it is computed
    assert any("12582912.0).to(tl.int32, bitcast=True)" in k.source for k in kernels)
    want = ir.run_reference(ir.parse_ir(text), [x, w])
    got = engine({"a": x, "b": w})
    np.testing.assert_array_equal(got["output_0"], want[0])
    np.testing.assert_array_equal(got["output_1"], want[1])
    assert want[0].max() == k * 2**14  # the extreme sums are in the test


def test_a_clip_to_fractional_bounds_is_not_integral(rng: np.random.Generator) -> None:
    """to i8 of clip(clip(round(x), 1.5, 11.5), -128, 127): the inner bounds are not integers, so
    the value is not integral and the cast truncates (1.5 -> 1, 11.5 -> 11), by the conversion
    instruction, not the bits (which would round)."""
    t, q = ty((64,), "f32"), ty((64,), "i8")
    text = f"""func.func @main(%x: {t}) -> {q} {{
  %r = nn.round %x : {t}
  %a = nn.constant dense<1.5> : tensor<f32>
  %b = nn.constant dense<11.5> : tensor<f32>
  %c = nn.clip %r, %a, %b : ({t}, tensor<f32>, tensor<f32>) -> {t}
  %lo = nn.constant dense<-128.0> : tensor<f32>
  %hi = nn.constant dense<127.0> : tensor<f32>
  %d = nn.clip %c, %lo, %hi : ({t}, tensor<f32>, tensor<f32>) -> {t}
  %y = nn.cast %d {{to = i8}} : ({t}) -> {q}
  func.return %y : {q}
}}"""
    x = (rng.standard_normal(64) * 20).astype(np.float32)
    want = ir.run_reference(ir.parse_ir(text), [x])[0]
    assert set(want.tolist()) >= {1, 11}
    np.testing.assert_array_equal(tr.compile(ir.parse_ir(text))({"x": x})["output_0"], want)


def test_a_clipped_value_rounds_in_one_addition() -> None:
    """round(clip(x, -128, 127)), a quantize's order since lower-quant clamps first: the operand is
    bounded, so 1.5 * 2^23 + x rounds it (half to even) in one addition, with the zero keeping x's
    sign; against the reference on ties, signed zeros, the bounds, infinities and NaN."""
    ties = np.arange(-130, 130) + 0.5
    x = np.concatenate([ties, -ties, [-0.0, 0.0, -0.3, 0.3, -0.5, 0.5, 126.7, -127.6, 1e30, -1e30]])
    x = np.concatenate([x, [np.inf, -np.inf, np.nan], np.nextafter(ties, 0), np.nextafter(ties, 1000)])
    x = x.astype(np.float32)
    t = ty(x.shape, "f32")
    text = f"""func.func @main(%x: {t}) -> {t} {{
  %lo = nn.constant dense<-128.0> : tensor<f32>
  %hi = nn.constant dense<127.0> : tensor<f32>
  %c = nn.clip %x, %lo, %hi : ({t}, tensor<f32>, tensor<f32>) -> {t}
  %r = nn.round %c : {t}
  func.return %r : {t}
}}"""
    engine = tr.compile(ir.parse_ir(text))
    (step,) = [s for s in engine.program({"x": x.shape}).steps if s.mode == "kernel"]
    assert "+ 12582912.0) - 12582912.0)" in step.kernel.source and "tl.abs" not in step.kernel.source
    got = engine({"x": x})["output_0"]
    want = ir.run_reference(ir.parse_ir(text), [x])[0]
    finite = ~np.isnan(x)
    np.testing.assert_array_equal(got[finite], want[finite])
    assert np.array_equal(np.signbit(got[finite]), np.signbit(want[finite]))  # -0.0 stays -0.0
    assert (
        np.isnan(got[~finite]).all() or (got[~finite] == -128).all()
    )  # NaN: the clip's (GPU: max(NaN, lo) is lo)
