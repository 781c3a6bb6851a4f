"""Generated pointwise kernels (under Triton's interpreter here) against the reference semantics:
random broadcasting patterns, sizes that are not multiples of the block, several dtypes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import tritium as tr
import tritium.ir as ir
from tritium.codegen import PointwiseKernel, kernel_for
from tritium.passes import PassManager

UNARY = ["nn.relu", "nn.exp", "nn.tanh", "nn.sigmoid", "nn.neg", "nn.abs", "nn.erf"]
BINARY = ["nn.add", "nn.sub", "nn.mul", "nn.max", "nn.min", "nn.div"]


def ty(shape: tuple[int, ...], dt: str) -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def random_chain(rng: np.random.Generator, dt: str) -> tuple[str, list[tuple[int, ...]]]:
    rank = int(rng.integers(1, 5))
    out = tuple(int(rng.integers(1, 9)) for _ in range(rank))
    shapes = [out]
    lines = []
    cur = "%x0"
    for i in range(int(rng.integers(2, 6))):
        if rng.random() < 0.5 and dt == "f32":
            op = UNARY[int(rng.integers(len(UNARY)))]
            lines.append(f"  %v{i} = {op} {cur} : {ty(out, dt)}")
        else:
            op = BINARY[int(rng.integers(len(BINARY) - (dt != "f32")))]
            keep = int(rng.integers(0, rank + 1))
            other = tuple(1 if rng.random() < 0.5 else d for d in out)[rank - keep :]
            shapes.append(other)
            arg = f"%x{len(shapes) - 1}"
            lines.append(f"  %v{i} = {op} {cur}, {arg} : ({ty(out, dt)}, {ty(other, dt)}) -> {ty(out, dt)}")
        cur = f"%v{i}"
    params = ", ".join(f"%x{i}: {ty(s, dt)}" for i, s in enumerate(shapes))
    text = (
        f"func.func @main({params}) -> {ty(out, dt)} {{\n"
        + "\n".join(lines)
        + f"\n  func.return {cur} : {ty(out, dt)}\n}}"
    )
    return text, shapes


@pytest.mark.parametrize("dt", ["f32", "f16", "i32"])
def test_random_chains_match_reference(dt: str, rng: np.random.Generator) -> None:
    np_dt = {"f32": np.float32, "f16": np.float16, "i32": np.int32}[dt]
    for _ in range(6):
        text, shapes = random_chain(rng, dt)
        module = ir.parse_ir(text)
        ref = ir.parse_ir(text)
        PassManager("fuse-kernels").run(module)
        fused = next(op for op in module.main.block.ops if op.name == "kernel.fused")
        kernel = kernel_for(fused)
        assert isinstance(kernel, PointwiseKernel), text
        if dt == "i32":
            inputs = [rng.integers(1, 9, s).astype(np_dt) for s in shapes]
        else:
            inputs = [rng.uniform(0.5, 2.0, s).astype(np_dt) for s in shapes]
        want = ir.run_reference(ref, inputs)[0]
        if dt == "f16":  # the kernel computes in float32 and rounds once: so does the reference here
            # (op by op in float16, a sum that cancels can be off by more than the tolerance)
            f32 = ir.parse_ir(text.replace("f16", "f32"))
            want = ir.run_reference(f32, [x.astype(np.float32) for x in inputs])[0].astype(np.float16)
        out = torch.empty(want.shape, dtype=torch.from_numpy(want).dtype)
        kernel([torch.from_numpy(x) for x in inputs], [out])
        got = out.numpy()
        assert not np.isnan(got).any()
        tol = {"f32": 1e-5, "f16": 2e-3, "i32": 0}[dt]
        np.testing.assert_allclose(
            got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol, err_msg=text
        )


def fused_kernels(text: str) -> list:
    """The generated kernels of IR ``text`` after kernel fusion, in program order."""
    module = ir.parse_ir(text)
    PassManager("fuse-kernels").run(module)
    return [kernel_for(op) for op in module.main.block.ops if op.name == "kernel.fused"]


def test_source_is_readable() -> None:
    text = """func.func @main(%x: tensor<2x3x5xf32>, %b: tensor<3x1xf32>) -> tensor<2x3x5xf32> {
  %y = nn.add %x, %b : (tensor<2x3x5xf32>, tensor<3x1xf32>) -> tensor<2x3x5xf32>
  %z = nn.relu %y : tensor<2x3x5xf32>
  func.return %z : tensor<2x3x5xf32>
}"""
    src = fused_kernels(text)[0].source
    assert "def add_relu(" in src and "#     %y = nn.add %x, %b" in src
    assert (
        "relu = tl.maximum(add, 0, propagate_nan=tl.PropagateNan.ALL)" in src
        and "x1 = tl.load(in1_ptr + i1 * in1_stride1" in src
    )


def test_every_layer_copy_of_a_kernel_is_one_kernel() -> None:
    """Variables are named after ops, never after the model's tensors, and a kernel's identity
    ignores the header comment: two layers' identical chains (named apart, as exporters name them)
    are one module and one timing-cache key; a different chain is not."""
    from tritium.codegen.triton_env import source_hash

    text = """func.func @main(%x: tensor<4x8xf32>, %layer0_w: tensor<8x8xf32>, %layer0_bias: tensor<8xf32>, %layer1_w: tensor<8x8xf32>, %layer1_bias: tensor<8xf32>) -> tensor<4x8xf32> {
  %layer0_mm = nn.matmul %x, %layer0_w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %layer0_add = nn.add %layer0_mm, %layer0_bias : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %layer0_out = nn.gelu %layer0_add : tensor<4x8xf32>
  %layer1_mm = nn.matmul %layer0_out, %layer1_w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %layer1_add = nn.add %layer1_mm, %layer1_bias : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %layer1_out = nn.gelu %layer1_add : tensor<4x8xf32>
  %layer2_mm = nn.matmul %layer1_out, %layer1_w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %layer2_out = nn.tanh %layer2_mm : tensor<4x8xf32>
  func.return %layer2_out : tensor<4x8xf32>
}"""
    sources = [k.source for k in fused_kernels(text)]
    assert len(sources) == 3 and len(set(sources)) == 3  # each shows its own layer's IR
    assert "layer0" in sources[0] and "layer0" not in sources[0].split("import triton", 1)[1]
    assert source_hash(sources[0]) == source_hash(sources[1])  # the two matmul + bias + gelu
    assert source_hash(sources[2]) != source_hash(sources[0])  # matmul + tanh


def test_splat_constant_of_a_broadcasting_shape(rng: np.random.Generator) -> None:
    """A constant of one repeated value whose shape widens the result (BERT's exported attention
    mask: And(dense<true> : 1x1x16x1, mask)) is that value inside the kernel: generated, not host."""
    import tritium as tr

    text = """func.func @main(%m: tensor<2x1x1x5xi1>, %x: tensor<2x1x5x5xf32>) -> tensor<2x1x5x5xf32> {
  %t = nn.constant dense<true> : tensor<1x1x5x1xi1>
  %a = nn.and %t, %m : (tensor<1x1x5x1xi1>, tensor<2x1x1x5xi1>) -> tensor<2x1x5x5xi1>
  %z = nn.constant dense<-1.0e9> : tensor<1xf32>
  %y = nn.where %a, %x, %z : (tensor<2x1x5x5xi1>, tensor<2x1x5x5xf32>, tensor<1xf32>) -> tensor<2x1x5x5xf32>
  func.return %y : tensor<2x1x5x5xf32>
}"""
    m = rng.random((2, 1, 1, 5)) > 0.4
    x = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    engine = tr.compile(ir.parse_ir(text))
    assert engine.host_steps({"m": m.shape, "x": x.shape}) == []
    np.testing.assert_array_equal(engine({"m": m, "x": x})["output_0"], np.where(m, x, np.float32(-1e9)))


def test_scalar_nan_constant_is_a_literal(rng: np.random.Generator) -> None:
    """where(x < 0, NaN, x): a NaN constant is still one value (NaN != NaN must not send it to the host)."""
    import tritium as tr

    text = """func.func @main(%x: tensor<4x5xf32>) -> tensor<4x5xf32> {
  %z = nn.constant dense<0.0> : tensor<f32>
  %c = nn.less %x, %z : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
  %n = nn.constant dense<nan> : tensor<f32>
  %y = nn.where %c, %n, %x : (tensor<4x5xi1>, tensor<f32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  func.return %y : tensor<4x5xf32>
}"""
    x = rng.standard_normal((4, 5)).astype(np.float32)
    engine = tr.compile(ir.parse_ir(text))
    assert engine.host_steps({"x": x.shape}) == []
    np.testing.assert_array_equal(engine({"x": x})["output_0"], np.where(x < 0, np.float32("nan"), x))


@pytest.mark.parametrize("dt,fmod", [("i32", "false"), ("i32", "true"), ("ui16", "false")])
def test_integer_mod_by_zero_is_zero_as_the_reference_says(
    dt: str, fmod: str, rng: np.random.Generator
) -> None:
    """A zero divisor is undefined behaviour in LLVM's remainder; the kernel gives the reference's 0."""
    import tritium as tr

    t = f"tensor<6x7x{dt}>"
    text = f"""func.func @main(%a: {t}, %b: {t}) -> {t} {{
  %y = nn.mod %a, %b {{fmod = {fmod}}} : ({t}, {t}) -> {t}
  func.return %y : {t}
}}"""
    npdt = np.int32 if dt == "i32" else np.uint16
    lo = -40 if dt == "i32" else 0
    a = rng.integers(lo, 40, (6, 7)).astype(npdt)
    b = rng.integers(lo // 8, 6, (6, 7)).astype(npdt)
    b[0] = 0
    engine = tr.compile(ir.parse_ir(text))
    assert engine.host_steps({"a": a.shape, "b": b.shape}) == []
    want = tr.compile(ir.parse_ir(text), backend="reference")({"a": a, "b": b})["output_0"]
    assert (want[0] == 0).all()
    np.testing.assert_array_equal(engine({"a": a, "b": b})["output_0"], want)


def test_round_is_half_to_even_exactly(rng: np.random.Generator) -> None:
    """nn.round in a generated kernel: ties go to the even neighbour on both signs, odd integers
    from 2^23 on stay themselves, zeros keep their sign, NaN and infinities pass through, and no
    float modulo is emitted (a slow fmod on NVIDIA)."""
    import tritium as tr

    x = np.array(
        [-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -0.49, -0.4, 0.51, 2.4999, -2.5001, 8388607.5]
        + [8388609.0, -8388609.0, 16777216.0, 0.0, -0.0, np.inf, -np.inf, np.nan]
        + [0.49999997, -0.49999997, 4194304.5, 4194305.5, -4194305.5, 6291456.5, -7340031.5, 1.0e30],
        np.float32,
    )
    ties = rng.integers(-(1 << 23), 1 << 23, 200) + np.float32(0.5)  # exact in f32 below 2^23
    x = np.concatenate([x, ties.astype(np.float32), rng.uniform(-1e7, 1e7, 200).astype(np.float32)])
    n = x.size
    text = f"""func.func @main(%x: tensor<{n}xf32>) -> tensor<{n}xf32> attributes {{input_names = ["x"], output_names = ["y"]}} {{
  %y = nn.round %x : tensor<{n}xf32>
  func.return %y : tensor<{n}xf32>
}}"""
    engine = tr.compile(ir.parse_ir(text))
    step = next(s for s in engine.program({"x": (n,)}).steps if s.mode == "kernel")
    assert "%" not in step.kernel.source.split("def ", 1)[1]
    got = engine({"x": x})["y"]
    np.testing.assert_array_equal(got, np.round(x))
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.round(x)))


def test_kernel_identity_holds_shapes_and_attributes_not_names() -> None:
    """Tuning choices are keyed by a kernel's identity: its code and its IR with values numbered. Two
    layers alike share it; a copy at other shapes (the same code: sizes are run-time arguments) or
    with another attribute does not."""
    from tritium.codegen.triton_env import kernel_identity, source_hash

    chain = """  %{p}_a = nn.add %{x}, %{p}_b : (tensor<{s}xf32>, tensor<{s}xf32>) -> tensor<{s}xf32>
  %{p}_r = nn.leaky_relu %{p}_a {{alpha = {alpha}}} : tensor<{s}xf32>
  %{p}_m = nn.reduce_sum %{p}_r {{axes = [0], keepdims = true}} : (tensor<{s}xf32>) -> tensor<1xf32>
"""
    text = (
        "func.func @main(%x: tensor<64xf32>, %l0_b: tensor<64xf32>, %l1_b: tensor<64xf32>, "
        "%y: tensor<4096xf32>, %l2_b: tensor<4096xf32>, %l3_b: tensor<64xf32>) -> (tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) {\n"
        + chain.format(p="l0", x="x", s=64, alpha=0.1)
        + chain.format(p="l1", x="x", s=64, alpha=0.1)
        + chain.format(p="l2", x="y", s=4096, alpha=0.1)
        + chain.format(p="l3", x="x", s=64, alpha=0.2)
        + "  func.return %l0_m, %l1_m, %l2_m, %l3_m : tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>\n}"
    )
    found = [k for k in fused_kernels(text) if "leaky_relu" in k.name]
    assert len(found) == 4
    ids = [kernel_identity(k) for k in found]
    assert ids[0] == ids[1]  # two layers alike
    assert len({ids[0], ids[2], ids[3]}) == 3  # other shapes, another alpha
    assert source_hash(found[0].source) == source_hash(found[1].source)


def test_the_header_never_becomes_code() -> None:
    """The IR in the header is user data: a string attribute holding a Unicode line separator (which
    str.splitlines would split at) and text that looks like code stays in the comment."""
    from tritium.codegen.triton_env import kernel_code

    text = """func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = nn.relu %x {note = "a\u2028import os; os.abort() #\u2029import sys\u0085x"} : tensor<4x8xf32>
  func.return %y : tensor<4x8xf32>
}"""
    (kernel,) = fused_kernels(text)
    assert "os.abort" in kernel.source  # shown in the header comment
    code = kernel_code(kernel.source)
    assert "os.abort" not in code and "import sys" not in code
    assert code.startswith("import triton\n")


def test_gelu_is_exact_where_float32_erf_cancels() -> None:
    """GELU (erf form) as the kernel computes it, 2^p(|x|) for Phi(-|x|), over [-7.7, 10] against
    x * erfc(-x / sqrt 2) / 2 in float64: relative error under 4e-6 down to x = -5 (where
    0.5 * x * (1 + erf(x / sqrt 2)) in float32 has lost every digit), under 5e-3 below (values
    under 3e-7). The helper travels with the source that calls it."""
    import math

    n = 100_001
    text = f"""func.func @main(%x: {ty((n,), "f32")}) -> {ty((n,), "f32")} {{
  %y = nn.gelu %x : {ty((n,), "f32")}
  func.return %y : {ty((n,), "f32")}
}}"""
    kernel = fused_kernels(text)[0]
    assert "gelu = gelu_erf(x0)" in kernel.source and "def gelu_erf(x):" in kernel.source
    x = np.linspace(-7.7, 10.0, n).astype(np.float32)
    out = torch.empty(n, dtype=torch.float32)
    kernel([torch.from_numpy(x)], [out])
    want = np.array([0.5 * float(v) * math.erfc(-float(v) / math.sqrt(2)) for v in x])
    rel = np.abs(out.numpy() - want) / np.maximum(np.abs(want), 1e-300)
    assert rel[x >= -5].max() < 4e-6 and rel.max() < 5e-3
    f32 = 0.5 * x * (1 + torch.erf(torch.from_numpy(x) / np.float32(math.sqrt(2))).numpy())
    assert (np.abs(f32 - want) / np.abs(want))[(x > -5.5) & (x < -5)].max() > 0.1  # what it replaces


def test_gelu_far_below_zero_and_a_kernel_named_like_the_helper() -> None:
    """Below x = -7.75 GELU is x * 0 (not x times the last fitted value): -0.0, and NaN for -inf,
    as x * Phi(x) and the reference give; NaN stays NaN. A chain gelu -> erf makes a kernel whose
    ops spell the helper's name: the kernel is renamed and still calls the helper."""
    xs = np.array([-np.inf, -3.4e38, -1e9, -10.0, -7.8, 0.0, 1.0, np.inf, np.nan], np.float32)
    n = len(xs)
    text = f"""func.func @main(%x: {ty((n,), "f32")}) -> {ty((n,), "f32")} {{
  %g = nn.gelu %x : {ty((n,), "f32")}
  %e = nn.erf %g : {ty((n,), "f32")}
  func.return %e : {ty((n,), "f32")}
}}"""
    kernel = fused_kernels(text)[0]
    assert kernel.name == "gelu_erf_kernel" and "def gelu_erf(x):" in kernel.source
    out = torch.empty(n, dtype=torch.float32)
    kernel([torch.from_numpy(xs)], [out])
    g = out.numpy()
    want = np.array([np.nan, -0.0, -0.0, -0.0, -0.0, 0, math.erf(0.8413447460685429), 1, np.nan], np.float32)
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6)  # (NaN where want is)
    assert np.array_equal(np.signbit(g[1:5]), np.ones(4, bool))


def test_movement_index_width_follows_the_sizes() -> None:
    """Data-movement kernels index in 32 bits (their divisions by the shape are cheap there) unless an
    index can pass 2^31 (a 4.3G-element transpose): then in 64 bits."""
    from tritium.codegen.movement import MovementKernel

    for n, wide in ((4096, False), (65536, True)):
        t, u = f"tensor<{n}x{n // 64}x64xf16>", f"tensor<{n // 64}x{n}x64xf16>"
        module = ir.parse_ir(f"""func.func @main(%x: {t}) -> {u} {{
  %y = nn.transpose %x {{perm = [1, 0, 2]}} : ({t}) -> {u}
  func.return %y : {u}
}}""")
        PassManager("fuse-kernels,dce").run(module)
        kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
        assert isinstance(kernel, MovementKernel)
        assert ("pid.to(tl.int64) * BLOCK" in kernel.source) == wide, n


@pytest.mark.parametrize("scale", [0.18265403807163239, 0.1, 3.0, 0.0078125, 1e-3, 7.0e-42])
def test_pinned_division_by_a_constant_is_correctly_rounded(scale: float, rng: np.random.Generator) -> None:
    """A quantize's x / scale (precision pinned to f32) divides by the reciprocal in float64: bit for bit
    float32's correctly rounded quotient, over magnitudes from subnormal to huge, quotients near the
    half-integers that rounding to an integer then splits, zeros, infinities and NaN; scales of any
    significand, a power of two and a subnormal."""
    s = np.float32(scale)
    n = 1 << 16
    mags = np.exp2(rng.uniform(-140, 120, n)).astype(np.float32) * rng.choice([-1, 1], n).astype(np.float32)
    halves = ((rng.integers(-300, 300, n) + 0.5) * np.float64(s)).astype(np.float32)  # x / s near k + 1/2
    near = np.nextafter(halves, np.float32(np.inf) * rng.choice([-1, 1], n).astype(np.float32))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38], np.float32)
    x = np.concatenate([mags, halves, near, special]).astype(np.float32)
    t = f"tensor<{x.size}xf32>"
    module = ir.parse_ir(f"""func.func @main(%x: {t}) -> {t} {{
  %s = nn.constant dense<{float(s)!r}> : tensor<f32>
  %y = nn.div %x, %s {{precision = "f32"}} : ({t}, tensor<f32>) -> {t}
  func.return %y : {t}
}}""")
    PassManager("fuse-kernels,dce").run(module)
    kernel = kernel_for(next(op for op in module.main.block.ops if op.name == "kernel.fused"))
    assert "tl.float64" in kernel.source and "div_rn" not in kernel.source
    got = torch.empty(x.size)
    kernel([torch.from_numpy(x)], [got])
    with np.errstate(all="ignore"):
        want = x / s
    np.testing.assert_array_equal(got.numpy().view(np.int32), want.view(np.int32))


INVERSE = {
    "nn.asin": (np.arcsin, -1.0, 1.0),
    "nn.acos": (np.arccos, -1.0, 1.0),
    "nn.atan": (np.arctan, -50.0, 50.0),
    "nn.asinh": (np.arcsinh, -3000.0, 3000.0),
    "nn.acosh": (np.arccosh, 1.0, 3000.0),
    "nn.atanh": (np.arctanh, -1.0, 1.0),
}


@pytest.mark.parametrize("name", sorted(INVERSE))
def test_inverse_trigonometric_functions_to_float32_accuracy(name: str) -> None:
    """The inverse trigonometric and hyperbolic kernels (Cephes' reductions and polynomials) against
    numpy in float64 over their domain, at each branch boundary, near 0, far out, at and past the
    domain's ends (NaN and infinities as numpy has them): within 8 float32 ulps, relative (the
    reference rounds once to float32; the kernel's few operations round each)."""
    fn, lo, hi = INVERSE[name]
    edges = [0.0, -0.0, 1e-30, 1e-8, 0.4142135, 0.4142136, 0.5, 0.5000001, 0.4999999, 1.0, 1.5, 2.4142134]
    edges += [2.4142137, 1499.9999, 1500.0001, 1e10, 1e30, 3e38, np.inf, 1.0000001, 0.9999999]
    x = np.concatenate([np.linspace(lo, hi, 4001), edges, np.negative(edges), [np.nan]]).astype(np.float32)
    t = ty(x.shape, "f32")
    text = f"""func.func @main(%x: {t}) -> {t} {{
  %y = {name} %x : {t}
  func.return %y : {t}
}}"""
    engine = tr.compile(ir.parse_ir(text))
    assert engine.host_steps({"x": x.shape}) == []
    got = engine({"x": x})["output_0"]
    with np.errstate(all="ignore"):
        want = fn(x.astype(np.float64))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))  # asin(-0) = -0
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    ulp = np.spacing(np.abs(want[finite]).astype(np.float32)).astype(np.float64)
    err = np.abs(got[finite] - want[finite]) / ulp
    assert err.max() <= 8, f"{err.max():.1f} ulps at x = {x[finite][err.argmax()]!r}"


def every_16_bit_input(dt: str, ends: list[float]) -> Any:
    """Every finite float16 / bfloat16 value in [-12, 12] (subnormals included), then ``ends``."""
    torch_dt = {"f16": torch.float16, "bf16": torch.bfloat16}[dt]
    bits = torch.arange(0, 1 << 16, dtype=torch.int32).to(torch.int16).view(torch_dt)
    x = bits[torch.isfinite(bits) & (bits.float().abs() <= 12)]
    return torch.cat([x, torch.tensor(ends, dtype=torch_dt)])


def gelu_16_bit(x: Any, dt: str, attrs: str, device: str) -> Any:
    """The generated GELU kernel of result type ``dt`` run on ``x`` on ``device``; its output on the CPU."""
    n = x.numel()
    text = f"""func.func @main(%x: {ty((n,), dt)}) -> {ty((n,), dt)} {{
  %y = nn.gelu %x{attrs} : {ty((n,), dt)}
  func.return %y : {ty((n,), dt)}
}}"""
    kernel = fused_kernels(text)[0]
    helper = "gelu_tanh" if "tanh" in attrs else f"gelu_erf_{dt}"
    assert f"{helper}(x0)" in kernel.source
    out = torch.empty(n, dtype=x.dtype, device=device)
    kernel([x.to(device)], [out])
    return out.cpu()


def assert_rounded_or_neighbour(out: Any, want: Any) -> None:
    """``out`` is ``want`` (zeros of either sign alike, NaN alike) or its neighbour, and the
    neighbour is rare: under 1% of the values."""
    got_bits, want_bits = out.view(torch.int16).int(), want.view(torch.int16).int()
    same = (got_bits == want_bits) | ((out == 0) & (want == 0)) | (out.isnan() & want.isnan())
    assert bool((same | ((got_bits - want_bits).abs() <= 1)).all())
    assert (~same).float().mean().item() < 0.01


def check_erf_gelu_16(dt: str, device: str = "cpu") -> None:
    """A 16-bit GELU uses a shorter fit than float32's (degree 7, not 11: 4 fewer multiply-adds per
    element in a GEMM epilogue). On every float16 / bfloat16 input in [-12, 12] (subnormals
    included) and at the far ends, the result is the correctly rounded GELU or its neighbour, and
    the neighbour is rare: under 1% of inputs (the fits' errors are about a 70th of an ulp, see
    test_gelu_fits_are_as_precise_as_documented).
    Below -7.75 the result is x * 0, as float32's is (bfloat16 could hold the true values, under
    3e-14; torch's own 1 + erf gives 0 from -5.5): -0.0, and NaN for -inf. (float16's unclamped
    fit gives values under 6e-9 there, which round to -0.0.)"""
    x = every_16_bit_input(dt, [-65504.0, 60000.0, float("-inf"), float("inf")])
    out = gelu_16_bit(x, dt, "", device)
    far = (x < -7.75) & x.isfinite()
    assert bool((out[far] == 0).all() and out[far].float().signbit().all())  # -0.0, as x * Phi(x)
    exact = [0.5 * v * math.erfc(-v / math.sqrt(2)) if v >= -7.75 else v * 0.0 for v in x.double().numpy()]
    want = torch.tensor([v if math.isfinite(v) or v > 0 else math.nan for v in exact], dtype=torch.float64)
    assert_rounded_or_neighbour(out, want.to(x.dtype))


def check_tanh_gelu_16(dt: str, device: str = "cpu") -> None:
    """The tanh GELU as x * rsqrt(y * y), y = 1 + exp(-2u) (device_math.py), on every float16 /
    bfloat16 input in [-12, 12] and the far ends: the correctly rounded 0.5 x (1 + tanh(u)) or its
    neighbour, the neighbour under 1% of inputs; -0.0 far below zero (from x = -7.7, where bfloat16
    could hold the true value, under 3e-19, and float32's tanh form gives 0 from about -5.3), NaN
    at -inf, inf at inf."""
    x = every_16_bit_input(dt, [-65504.0, -100.0, 60000.0, float("-inf"), float("inf")])
    out = gelu_16_bit(x, dt, ' {approximate = "tanh"}', device)
    ends = out[-5:].float()
    assert ends[0] == 0 and ends[0].signbit() and ends[1] == 0 and ends[1].signbit()
    assert ends[2] == x[-3].float() and ends[3].isnan() and ends[4] == math.inf
    xd = x.double()  # 0.5 x (1 + tanh(u)) as x / (1 + e^-2u): float64's 1 + tanh cancels below -6.9
    e = torch.exp(-2 * math.sqrt(2 / math.pi) * (xd + 0.044715 * xd**3))
    # past e = 2^64 (u < -22, values under 3e-19: bfloat16 only) x * 0, as float32's 1 + tanh(u) is 0
    want = torch.where(e > 2.0**64, xd * 0.0, xd / (1 + e)).to(x.dtype)
    keep = (e < 2.0**63) | (e > 2.0**65)  # (not the few inputs at the switch)
    assert (~keep).sum() < 64
    assert_rounded_or_neighbour(out[keep], want[keep])


@pytest.mark.parametrize("dt", ["f16", "bf16"])
def test_gelu_of_16_bit_results_on_every_input(dt: str) -> None:
    check_erf_gelu_16(dt)


@pytest.mark.parametrize("dt", ["f16", "bf16"])
def test_tanh_gelu_of_16_bit_results_on_every_input(dt: str) -> None:
    check_tanh_gelu_16(dt)


@pytest.mark.parametrize("attrs", ["", ' {approximate = "tanh"}'])
def test_float16_gelu_read_by_another_op_is_rounded_first(attrs: str) -> None:
    """Far below zero a float16 GELU leaves float32 values under 6e-9 (the erf fit runs unclamped,
    the tanh form does not cancel) that its store rounds to -0.0; an op reading it inside the kernel
    gets it rounded to float16 first, as the reference's tensors are (sign(gelu(-7)) is 0, not -1).
    A GELU that is only stored is not rounded twice. (One both stored and read ends its kernel:
    the reader's kernel loads the stored, rounded value.)"""
    t = ty((4,), "f16")
    text = f"""func.func @main(%x: {t}) -> ({t}, {t}, {t}) {{
  %g = nn.gelu %x{attrs} : {t}
  %s = nn.sign %g : {t}
  %h = nn.gelu %x{attrs} : {t}
  %k = nn.gelu %x{attrs} : {t}
  %r = nn.relu %k : {t}
  func.return %s, %h, %r : {t}, {t}, {t}
}}"""
    kernels = fused_kernels(text)
    helper = "gelu_tanh" if attrs else "gelu_erf_f16"
    rounded = f"{helper}(x0).to(tl.float16).to(tl.float32)"
    x = torch.tensor([-7.0, -10.0, -6.5, 1.0], dtype=torch.float16)
    outs = []
    for kernel in kernels:
        out = [torch.empty(4, dtype=torch.float16) for _ in kernel.fused.results]
        kernel([x], out)
        outs.append((kernel, out))
    signs = [o for k, o in outs if "sign" in k.name]
    alone = [(k, o) for k, o in outs if k.name == "gelu"]
    assert len(signs) == 1 and signs[0][0].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert all(rounded in k.source for k, _ in outs if k.name != "gelu")
    assert len(alone) == 1 and rounded not in alone[0][0].source and f"{helper}(x0)" in alone[0][0].source
    gelu = alone[0][1][0]
    assert gelu[:3].tolist() == [0.0, 0.0, 0.0] and bool(gelu[:3].float().signbit().all())


def test_float16_gelu_fit_falls_past_its_interval() -> None:
    """float16's GELU fit runs unclamped (device_math.py): p, evaluated in float32 as the kernel does,
    keeps falling past a = 6 up to float32's largest value (turning -inf, never NaN), and
    |x| 2^p(|x|) stays under half of float16's smallest subnormal there, so x < -6 rounds to -0.0."""
    from tritium.codegen.device_math import _GELU_FITS, HELPERS

    assert "tl.minimum" not in HELPERS["gelu_erf_f16"] and "tl.minimum" in HELPERS["gelu_erf_bf16"]
    _, coeffs = _GELU_FITS["gelu_erf_f16"]
    a = np.concatenate([np.linspace(6, 100, 400_001), np.geomspace(100, 3.4e38, 20_001)]).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.full(a.shape, np.float32(coeffs[0]))
        for c in coeffs[1:]:
            p = (p * a).astype(np.float32) + np.float32(c)
        finite = np.isfinite(p)  # a run of falling values, then -inf to the end
        assert finite[: finite.sum()].all() and np.isneginf(p[~finite]).all() and not finite[-1]
        assert (np.diff(p[finite]) <= 0).all()
        assert (a * np.exp2(p.astype(np.float64))).max() < 2.0**-25


@pytest.mark.parametrize(
    "name,limit,limit_to_5",
    [("gelu_erf", 1e-5, 3e-6), ("gelu_erf_f16", 7e-6, 7e-6), ("gelu_erf_bf16", 3e-5, 3e-5)],
)
def test_gelu_fits_are_as_precise_as_documented(name: str, limit: float, limit_to_5: float) -> None:
    """Each GELU fit's Phi(-a) = 2^p(a), p evaluated in float32 as the kernels do (each Horner step
    rounded twice, as without FMA: the worse case), against 0.5 erfc(a / sqrt 2) in float64 over its
    whole range: the relative errors device_math.py states."""
    from tritium.codegen.device_math import _GELU_FITS

    bound, coeffs = _GELU_FITS[name]
    a = np.linspace(0, bound, 20001).astype(np.float32)
    p = np.full(a.shape, np.float32(coeffs[0]))
    for c in coeffs[1:]:
        p = (p * a).astype(np.float32) + np.float32(c)
    want = np.array([0.5 * math.erfc(float(v) / math.sqrt(2)) for v in a])
    rel = np.abs(np.exp2(p.astype(np.float64)) - want) / want
    assert rel.max() < limit and rel[a <= 5].max() < limit_to_5
