"""FP8 (e4m3fn, e5m2): conversions in generated kernels, float 8 GEMMs (``nn.matmul_float8``) with
f32 sums and a scaling epilogue, and explicit float 8 Q/DQ lowered by lower-quant. Oracles: ml_dtypes
(round to nearest even; saturation as ONNX's and the GPU's cvt.rn.satfinite), f32 numpy products,
onnx's reference evaluator and onnxruntime (graph optimizations off: its ReLU-into-quantize fusion
drops the ReLU before a float 8 quantize, which has negative values)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch

import tritium as tr
import tritium.ir as ir
from tests.codegen import fused_kernels
from tritium.codegen import MatmulKernel, kernel_for
from tritium.runtime.program import from_numpy, to_numpy

F8 = {"f8E4M3FN": ml_dtypes.float8_e4m3fn, "f8E5M2": ml_dtypes.float8_e5m2}


def ty(shape: tuple[int, ...], dt: str) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Equal float 8 arrays, bit for bit (any NaN matches any NaN)."""
    g, w = got.astype(np.float32), want.astype(np.float32)
    both_nan = np.isnan(g) & np.isnan(w)
    bad = ~both_nan & (got.view(np.uint8) != want.view(np.uint8))
    assert not bad.any(), f"{bad.sum()} differ: {g[bad][:6]} for {w[bad][:6]}"


@pytest.mark.parametrize("dt", sorted(F8))
@pytest.mark.parametrize("saturate", [True, False])
def test_casts_to_float8_round_to_nearest_even(dt: str, saturate: bool, rng: np.random.Generator) -> None:
    """f32 -> float 8 in a generated kernel: ties to even, subnormals, signed zeros, overflow clamped
    (saturate) or to NaN / inf as the type has, NaN kept; the same bits as the reference."""
    top = float(ml_dtypes.finfo(F8[dt]).max)
    tiny = float(ml_dtypes.finfo(F8[dt]).smallest_subnormal)
    special = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        top,
        -top,
        top * 1.03,
        top * 1.2,
        1e30,
        tiny / 2,
        tiny * 1.5,
    ]
    grid = np.arange(256, dtype=np.uint8).view(F8[dt]).astype(np.float32)
    halfway = (grid[1:127] + grid[2:128]) / 2  # the ties between neighbours (positive codes)
    x = np.concatenate([special, halfway, -halfway, rng.standard_normal(300) * top / 8]).astype(np.float32)
    t, q = ty(x.shape, "f32"), ty(x.shape, dt)
    sat = "true" if saturate else "false"
    text = f"""func.func @main(%x: {t}) -> {q} {{
  %q = nn.cast %x {{saturate = {sat}, to = {dt}}} : ({t}) -> {q}
  func.return %q : {q}
}}"""
    want = ir.run_reference(ir.parse_ir(text), [x])[0]
    engine = tr.compile(ir.parse_ir(text))
    # the GPU's conversion saturates: e5m2's infinities (no saturate) would be written by hand
    assert len(engine.host_steps({"x": x.shape})) == (0 if saturate or dt == "f8E4M3FN" else 1)
    same_bits(engine({"x": x})["output_0"], want)


@pytest.mark.parametrize("dt", sorted(F8))
def test_float8_inputs_read_exactly(dt: str) -> None:
    """Every float 8 code (NaN and infinities included) read by a generated kernel, times 2 in f32."""
    codes = np.arange(256, dtype=np.uint8).view(F8[dt])
    t, q = ty((256,), "f32"), ty((256,), dt)
    text = f"""func.func @main(%x: {q}) -> {t} {{
  %f = nn.cast %x {{to = f32}} : ({q}) -> {t}
  %y = nn.add %f, %f : ({t}, {t}) -> {t}
  func.return %y : {t}
}}"""
    engine = tr.compile(ir.parse_ir(text))
    assert engine.host_steps({"x": (256,)}) == []
    np.testing.assert_array_equal(engine({"x": codes})["output_0"], codes.astype(np.float32) * 2)


def test_float8_tensors_cross_to_torch_and_back() -> None:
    """Host arrays of float 8 become torch tensors of the same type and values, and back."""
    for np_type, torch_type in (
        (ml_dtypes.float8_e4m3fn, torch.float8_e4m3fn),
        (ml_dtypes.float8_e5m2, torch.float8_e5m2),
    ):
        codes = np.arange(256, dtype=np.uint8).view(np_type)
        t = from_numpy(codes)
        assert t.dtype == torch_type
        np.testing.assert_array_equal(t.view(torch.uint8).numpy(), np.arange(256, dtype=np.uint8))
        np.testing.assert_array_equal(to_numpy(t).view(np.uint8), np.arange(256, dtype=np.uint8))


@pytest.mark.parametrize(
    "a_shape,b_shape,dt",
    [
        ((37, 70), (70, 33), "f8E4M3FN"),
        ((2, 3, 40), (40, 24), "f8E4M3FN"),
        ((2, 19, 64), (2, 64, 9), "f8E5M2"),
        ((17, 32), (32, 8), "f8E5M2"),
    ],
    ids=["odd", "folded-batch", "batched-e5m2", "small-e5m2"],
)
def test_float8_gemm(a_shape, b_shape, dt: str, rng: np.random.Generator) -> None:
    """matmul_float8 with a scale and ReLU epilogue in one kernel: the products of float 8 values are
    exact in f32, so only the summation order separates it from numpy's f32 product."""
    out = (*np.broadcast_shapes(a_shape[:-2], b_shape[:-2]), a_shape[-2], b_shape[-1])
    a, b, o = ty(a_shape, dt), ty(b_shape, dt), ty(out, "f32")
    x = (rng.standard_normal(a_shape) * 4).astype(F8[dt])
    w = (rng.standard_normal(b_shape) * 4).astype(F8[dt])
    text = f"""func.func @main(%a: {a}, %b: {b}) -> {o} {{
  %p = nn.matmul_float8 %a, %b : ({a}, {b}) -> {o}
  %s = nn.constant dense<0.125> : tensor<f32>
  %y = nn.mul %p, %s : ({o}, tensor<f32>) -> {o}
  %r = nn.relu %y : {o}
  func.return %r : {o}
}}"""
    fused = fused_kernels(text, "dce,fuse-kernels,dce")
    assert len(fused) == 1
    kernel = kernel_for(fused[0])
    assert isinstance(kernel, MatmulKernel) and not kernel.integer
    want = np.maximum(np.matmul(x.astype(np.float32), w.astype(np.float32)) * np.float32(0.125), 0)
    got = torch.empty(out, dtype=torch.float32)
    kernel([from_numpy(x), from_numpy(w)], [got])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-4)
    # cuBLASLt's FP8 GEMM competes only for e4m3 with a 2-D b of K and N multiples of 16: none here
    # (the MLP test below has one)
    assert kernel.library is None


def fp8_mlp(dt: str, rng: np.random.Generator) -> tuple[bytes, list]:
    """An ONNX model quantized to float 8 as TensorRT's FP8 recipe does: Q/DQ on each Gemm's input
    (one scale) and weight (one scale per output column, transB), bias, ReLU, and a quantized output;
    with each layer's (input scale, dequantized weight, bias)."""
    from onnx import TensorProto, helper, numpy_helper

    ftype = {"f8E4M3FN": TensorProto.FLOAT8E4M3FN, "f8E5M2": TensorProto.FLOAT8E5M2}[dt]

    def f8(name: str, arr: np.ndarray):
        return helper.make_tensor(name, ftype, arr.shape, arr.view(np.uint8).tobytes(), raw=True)

    top = float(ml_dtypes.finfo(F8[dt]).max)
    inits, nodes, x, layers = [f8("zero", np.zeros((), F8[dt]))], [], "x", []
    for i, (k, n) in enumerate(((48, 64), (64, 40))):
        w = (rng.standard_normal((n, k)) * 0.1).astype(np.float32)
        sw = (np.abs(w).max(axis=1) / top).astype(np.float32)
        wq, sx, b = (w / sw[:, None]).astype(F8[dt]), np.float32(0.01 * (i + 1)), rng.standard_normal(n) * 0.1
        layers.append((sx, wq.astype(np.float32) * sw[:, None], b.astype(np.float32)))
        inits += [
            f8(f"wq{i}", wq),
            numpy_helper.from_array(sw, f"sw{i}"),
            numpy_helper.from_array(np.array(sx), f"sx{i}"),
            numpy_helper.from_array(layers[-1][2], f"b{i}"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", [x, f"sx{i}", "zero"], [f"xq{i}"]),
            helper.make_node("DequantizeLinear", [f"xq{i}", f"sx{i}", "zero"], [f"xd{i}"]),
            helper.make_node("DequantizeLinear", [f"wq{i}", f"sw{i}"], [f"wd{i}"], axis=0),
            helper.make_node("Gemm", [f"xd{i}", f"wd{i}", f"b{i}"], [f"g{i}"], transB=1),
            helper.make_node("Relu", [f"g{i}"], [f"h{i}"]),
        ]
        x = f"h{i}"
    inits.append(numpy_helper.from_array(np.array(0.02, np.float32), "sy"))
    nodes += [
        helper.make_node("QuantizeLinear", [x, "sy", "zero"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "sy", "zero"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fp8_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 40])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    return model.SerializeToString(), layers


def near_a_tie(v: np.ndarray, dt: str, magnitude: np.ndarray) -> np.ndarray:
    """Where a nonzero ``v`` (in units of a quantization scale) lies within 1e-6 of ``magnitude`` (the
    sum of the absolute terms that made it, which float32 summation errors scale with: 48 terms, each
    rounding by 6e-8 at most) of a tie between two neighbouring float 8 values: there the summation
    order decides which way it rounds. (A zero is a ReLU's, exact.)"""
    grid = np.unique(np.arange(256, dtype=np.uint8).view(F8[dt]).astype(np.float64))
    ties = (grid[1:] + grid[:-1])[np.isfinite(grid[1:] + grid[:-1])] / 2
    i = np.clip(np.searchsorted(ties, v), 1, len(ties) - 1)
    return (np.minimum(np.abs(v - ties[i - 1]), np.abs(v - ties[i])) <= 1e-6 * magnitude) & (v != 0)


def fp8_mlp_case(dt: str, batch: int, tmp_path, rng: np.random.Generator) -> tuple:
    """``fp8_mlp`` written to a file, an input of ``batch`` rows, and onnxruntime's output for it
    (graph optimizations off: its ReLU-into-quantize fusion is wrong for float 8): (model, path, x,
    want)."""
    import onnxruntime as ort

    model, layers = fp8_mlp(dt, rng)
    path = tmp_path / "fp8.onnx"
    path.write_bytes(model)
    # An input whose first layer puts no value at a rounding tie of the second layer's quantizer:
    # one there may round either way in another summation order, and the second layer would carry
    # that step to several output steps.
    (sx0, w0, b0), (sx1, _, _) = layers
    top, w = float(ml_dtypes.finfo(F8[dt]).max), w0.T.astype(np.float64)
    for _ in range(100):
        x = rng.standard_normal((batch, 48)).astype(np.float32)
        xq = np.clip(x / sx0, -top, top).astype(F8[dt]).astype(np.float64) * sx0  # (quantizing saturates)
        h = np.maximum(xq @ w + b0, 0) / sx1
        if not near_a_tie(h, dt, (np.abs(xq) @ np.abs(w) + np.abs(b0)) / sx1).any():
            break
    else:
        raise AssertionError("100 inputs drawn, each with a value at a rounding tie")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    return model, path, x, want


@pytest.mark.parametrize("dt", sorted(F8))
@pytest.mark.parametrize("fp16", [False, True])
def test_fp8_quantized_mlp_as_onnxruntime(dt: str, fp16: bool, tmp_path, rng: np.random.Generator) -> None:
    """A float 8 Q/DQ model: its Gemms run as float 8 GEMMs (none on the host), and the output is
    onnxruntime's (and the onnx reference evaluator's) to the last float 8 step: the products are
    exact, so only the f32 summation order separates them (a value near a rounding boundary of the
    output quantization may land one step away); fp16 builds add the biases in f16."""
    from onnx.reference import ReferenceEvaluator

    model, path, x, want = fp8_mlp_case(dt, 24, tmp_path, rng)
    # the two oracles agree to their own summation orders (a value at a rounding boundary, rarely)
    assert_within_one_step(ReferenceEvaluator(model).run(None, {"x": x})[0], want, dt, 0.02)
    engine = tr.compile(str(path), fp16=fp16)
    assert engine.host_steps({"x": x.shape}) == []
    kernels = " ".join(
        layer["kernel"] for layer in engine.inspect({"x": x.shape})["layers"] if "kernel" in layer
    )
    assert kernels.count("matmul_float8") == 2, kernels
    gemms = [s.kernel for s in engine.program({"x": x.shape}).steps if isinstance(s.kernel, MatmulKernel)]
    # cuBLASLt's FP8 GEMM competes where it can run: e4m3 with K and N multiples of 16 (48x64, 64x40: not N)
    assert [k.library for k in gemms] == (["epilogue", None] if dt == "f8E4M3FN" else [None, None])
    got = engine({"x": x})["y"]
    step = np.abs(want - got)
    if fp16:  # the bias adds in f16 move a value across a rounding boundary now and then (and on)
        assert (step > 0).mean() < 0.1 and step.mean() < 0.02 * np.abs(want).mean()
        return
    assert_within_one_step(got, want, dt, 0.02)


def assert_within_one_step(got: np.ndarray, want: np.ndarray, dt: str, scale: float) -> None:
    """``got`` dequantized float 8 values (of ``scale``) at most one step of the type from ``want``'s,
    and on under 2% of them."""
    codes = (want / np.float32(scale)).astype(F8[dt]).view(np.uint8)
    sign, magnitude = codes & 0x80, (codes & 0x7F).astype(np.int32)

    def value(m: np.ndarray) -> np.ndarray:
        return (sign | np.clip(m, 0, 0x7F).astype(np.uint8)).view(F8[dt]).astype(np.float32)

    gaps = [np.abs(value(magnitude + d) - value(magnitude)) for d in (1, -1)]  # to both neighbours
    step = np.float32(scale) * np.nanmax(np.stack(gaps), axis=0)
    far = np.abs(got - want) > step * 1.001
    assert not far.any(), f"{far.sum()} values over one step away: {got[far][:5]} for {want[far][:5]}"
    assert np.mean(got != want) < 0.02, f"{np.mean(got != want):.3f} of the values differ"


def test_layer_norm_stores_its_quantized_output_too(rng: np.random.Generator) -> None:
    """A LayerNorm read by a residual add and by a float 8 quantize: one kernel stores both (the
    quantize joins the norm as a second output), and both equal the reference (the float 8 codes
    bit for bit)."""
    t, q = ty((64, 96), "f32"), ty((64, 96), "f8E4M3FN")
    text = f"""func.func @main(%x: {t}, %r: {t}) -> ({t}, {q}, {t}) {{
  %g = nn.constant dense<1.5> : tensor<96xf32>
  %b = nn.constant dense<0.25> : tensor<96xf32>
  %n, %m, %v = nn.layer_normalization %x, %g, %b {{axis = -1, epsilon = 1.0e-05}} : ({t}, tensor<96xf32>, tensor<96xf32>) -> ({t}, tensor<64x1xf32>, tensor<64x1xf32>)
  %s = nn.constant dense<0.0078125> : tensor<f32>
  %z = nn.constant dense<0.0> : tensor<f8E4M3FN>
  %xq = quant.quantize_linear %n, %s, %z : ({t}, tensor<f32>, tensor<f8E4M3FN>) -> {q}
  %y = nn.add %n, %r : ({t}, {t}) -> {t}
  func.return %y, %xq, %n : {t}, {q}, {t}
}}"""
    x, r = (rng.standard_normal((64, 96)).astype(np.float32) for _ in range(2))
    want = ir.run_reference(ir.parse_ir(text), [x, r])
    engine = tr.compile(ir.parse_ir(text))
    layers = engine.inspect({"x": x.shape, "r": r.shape})["layers"]
    assert len([layer for layer in layers if layer.get("kernel")]) == 2, (
        layers
    )  # the norm (two outputs), the add
    got = engine({"x": x, "r": r})
    np.testing.assert_allclose(got["output_0"], want[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["output_2"], want[2], rtol=1e-5, atol=1e-5)
    # the codes are the quantized norm the kernel stored (bit for bit: from the same float32 values;
    # the reference's norm may differ in the last bit and so, rarely, cross a rounding boundary)
    same_bits(got["output_1"], np.clip(got["output_2"] * 128, -448, 448).astype(F8["f8E4M3FN"]))
    assert np.mean(got["output_1"] != want[1]) < 0.001


def fp8_conv_case(c: int, k: int, h: int, r: int, stride: int, pad: int, group: int, dt: str, rng) -> tuple:
    """A convolution of float 8 Q/DQ operands (activation: one scale; weight: one per output
    channel) with a bias and ReLU: (module text, resources, input)."""
    oh = (h + 2 * pad - r) // stride + 1
    t, tq, o = ty((2, c, h, h), "f32"), ty((2, c, h, h), dt), ty((2, k, oh, oh), "f32")
    wt, wf, vk = ty((k, c // group, r, r), dt), ty((k, c // group, r, r), "f32"), ty((k,), "f32")
    text = f"""func.func @main(%x: {t}) -> {o} {{
  %s = nn.constant dense<0.05> : tensor<f32>
  %z = nn.constant dense<0.0> : tensor<{dt}>
  %q = quant.quantize_linear %x, %s, %z : ({t}, tensor<f32>, tensor<{dt}>) -> {tq}
  %d = quant.dequantize_linear %q, %s, %z : ({tq}, tensor<f32>, tensor<{dt}>) -> {t}
  %wq = nn.constant dense_resource<wq> : {wt}
  %sw = nn.constant dense_resource<sw> : {vk}
  %w = quant.dequantize_linear %wq, %sw {{axis = 0}} : ({wt}, {vk}) -> {wf}
  %b = nn.constant dense_resource<b> : {vk}
  %y = nn.conv %d, %w, %b {{strides = [{stride}, {stride}], pads = [{pad}, {pad}, {pad}, {pad}], dilations = [1, 1], group = {group}}} : ({t}, {wf}, {vk}) -> {o}
  %r = nn.relu %y : {o}
  func.return %r : {o}
}}"""
    resources = {
        "wq": (rng.standard_normal((k, c // group, r, r)) * 30).astype(F8[dt]),
        "sw": (rng.random(k) * 0.01 + 0.001).astype(np.float32),
        "b": (rng.standard_normal(k) * 0.1).astype(np.float32),
    }
    return text, resources, rng.standard_normal((2, c, h, h)).astype(np.float32)


FP8_CONVS = {  # c, k, h, r, stride, pad, group, type -> the product the engine runs
    "3x3-same": ((16, 32, 8, 3, 1, 1, 1, "f8E4M3FN"), "conv_float8"),
    "1x1": ((16, 32, 8, 1, 1, 0, 1, "f8E4M3FN"), "matmul_float8"),
    "depthwise-strided": ((16, 16, 8, 3, 2, 1, 16, "f8E4M3FN"), "conv_float8"),
    "3x3-valid-e5m2": ((16, 32, 9, 3, 1, 0, 1, "f8E5M2"), "conv_float8"),
    "stem-3-channels": ((3, 16, 16, 3, 2, 1, 1, "f8E4M3FN"), "conv_float8"),
}


@pytest.mark.parametrize("case", list(FP8_CONVS))
def test_fp8_convolutions(case: str, rng: np.random.Generator) -> None:
    """Float 8 Q/DQ convolutions run as float 8 products (channels-last implicit GEMM, a 1x1 as a
    GEMM; depthwise, strided, unpadded, a 3-channel stem) with the scales, bias and ReLU in the
    epilogue, as the reference (exact products, f32 sums)."""
    shape, product = FP8_CONVS[case]
    text, resources, x = fp8_conv_case(*shape, rng)
    module = ir.parse_ir(text)
    module.resources.update(resources)
    want = ir.run_reference(module, [x])[0]
    module = ir.parse_ir(text)
    module.resources.update(resources)
    engine = tr.compile(module)
    assert engine.host_steps({"x": x.shape}) == []
    kernels = [layer.get("kernel") or "" for layer in engine.inspect({"x": x.shape})["layers"]]
    assert any(k.startswith(product) for k in kernels), kernels
    np.testing.assert_allclose(engine({"x": x})["output_0"], want, rtol=1e-5, atol=1e-5)
