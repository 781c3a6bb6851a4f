"""passes/integral.py: which float values hold integers and in what range, and the cast to an
integer type and back that fuse-kernels drops inside a kernel (a quantize dequantized again)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tritium.ir as ir
from tritium.passes import PassManager
from tritium.passes.integral import integral, integral_within, value_range


def ty(shape: tuple[int, ...], dt: str = "f32") -> str:
    return "tensor<" + "".join(f"{d}x" for d in shape) + dt + ">"


def values(text: str) -> dict[str, object]:
    """The function's values by name (the SSA names of the text)."""
    module = ir.parse_ir(text)
    out = {a.name_hint: a for a in module.main.args}
    for op in module.main.block.ops:
        for r in op.results:
            out[r.name_hint] = r
    return out


T, S = ty((8,)), "tensor<f32>"
CHAIN = f"""func.func @main(%x: {T}, %y: {T}) -> {T} {{
  %lo = nn.constant dense<-128.0> : {S}
  %hi = nn.constant dense<127.0> : {S}
  %half = nn.constant dense<0.5> : {S}
  %z = nn.constant dense<3.0> : {S}
  %c = nn.clip %x, %lo, %hi : ({T}, {S}, {S}) -> {T}
  %r = nn.round %c : {T}
  %a = nn.add %r, %z : ({T}, {S}) -> {T}
  %s = nn.sub %a, %r : ({T}, {T}) -> {T}
  %m = nn.relu %s : {T}
  %f = nn.add %r, %half : ({T}, {S}) -> {T}
  %u = nn.round %y : {T}
  %k = nn.clip %x, %hi, %lo : ({T}, {S}, {S}) -> {T}
  %p = nn.mul %r, %z : ({T}, {S}) -> {T}
  %bounds = nn.constant dense<[10.0, -200.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]> : {T}
  %zero = nn.constant dense<0.0> : {S}
  %t = nn.clip %x, %zero, %bounds : ({T}, {S}, {T}) -> {T}
  %big = nn.constant dense<2147483520.0> : {S}
  %g = nn.clip %x, %zero, %big : ({T}, {S}, {S}) -> {T}
  func.return %a : {T}
}}"""


@pytest.mark.parametrize(
    "name,whole,lo,hi",
    [
        ("c", False, -128.0, 127.0),  # clipped, not rounded
        ("r", True, -128.0, 127.0),
        ("a", True, -125.0, 130.0),  # plus the zero point
        ("s", True, -125.0 - 127.0, 130.0 + 128.0),  # a difference: the ranges' extremes
        ("m", True, 0.0, 258.0),
        ("f", False, -127.5, 127.5),  # plus a half: not integral
        ("u", True, -math.inf, math.inf),  # rounded, unbounded
        ("k", False, -128.0, -128.0),  # crossed bounds: min(max(x, 127), -128) is -128
        ("p", False, -math.inf, math.inf),  # products are not followed
        ("t", False, -200.0, 10.0),  # a tensor bound below the other bound
        ("g", False, -math.inf, math.inf),  # past 2^24 float32 sums round: no claim
    ],
)
def test_integral_values_and_their_ranges(name: str, whole: bool, lo: float, hi: float) -> None:
    v = values(CHAIN)[name]
    assert integral(v) == whole
    assert value_range(v) == (lo, hi)
    assert integral_within(v, -300.0, 300.0) == (whole and math.isfinite(lo))


def q_dq(where: str) -> str:
    """x quantized to i8 (clip, round, cast) and dequantized (cast back, times a scale); ``where``
    "inside": one chain, so one kernel; "across": the i8 tensor is also returned and the dequantize
    reads a reduction, so the int8 tensor is what the kernels pass."""
    i8 = ty((8,), "i8")
    tail = f"""  %d = nn.cast %q {{to = f32}} : ({i8}) -> {T}
  %y = nn.mul %d, %s : ({T}, {S}) -> {T}"""
    if where == "across":
        tail = f"""  %n = nn.reduce_sum %x {{axes = [0], keepdims = true}} : ({T}) -> tensor<1xf32>
  %d = nn.cast %q {{to = f32}} : ({i8}) -> {T}
  %y = nn.mul %d, %n : ({T}, tensor<1xf32>) -> {T}"""
    results = f"%y, %q : {T}, {i8}" if where == "across" else f"%y : {T}"
    return f"""func.func @main(%x: {T}) -> ({T}{f", {i8}" if where == "across" else ""}) {{
  %lo = nn.constant dense<-128.0> : {S}
  %hi = nn.constant dense<127.0> : {S}
  %s = nn.constant dense<0.25> : {S}
  %v = nn.div %x, %s : ({T}, {S}) -> {T}
  %c = nn.clip %v, %lo, %hi : ({T}, {S}, {S}) -> {T}
  %r = nn.round %c : {T}
  %q = nn.cast %r {{to = i8}} : ({T}) -> {i8}
{tail}
  func.return {results}
}}"""


@pytest.mark.parametrize("where", ["inside", "across"])
def test_cast_through_integer_only_inside_a_kernel(where: str) -> None:
    """Inside a kernel the dequantize reads the rounded float itself (no conversion to i8 and back);
    where the dequantize is in another kernel than the quantize, it still reads the i8 tensor (a
    quarter of the bytes of the float one). The values are the reference's either way."""
    module = ir.parse_ir(q_dq(where))
    PassManager("fuse-kernels,dce").run(module)
    kernels = [op for op in module.main.block.ops if op.name == "kernel.fused"]
    back = [op for k in kernels for op in k.body.block.ops if op.name == "nn.cast" and op.to.is_float]
    if where == "inside":
        assert len(kernels) == 1 and back == []
    else:
        consumer = next(k for k in kernels if any(op.name == "nn.mul" for op in k.body.block.ops))
        assert any(a.type.dtype.name == "i8" for a in consumer.body.block.args)  # type: ignore[attr-defined]
        assert len(back) == 1
    x = np.array([-1e9, -40.1, -0.1, -0.0, 0.125, 2.37, 31.9, np.inf], np.float32)
    want = ir.run_reference(ir.parse_ir(q_dq(where)), [x])
    got = ir.run_reference(module, [x])
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
        assert np.array_equal(np.signbit(g), np.signbit(w))  # -0.1 / 0.25 rounds to -0.0; the integer is +0


@pytest.mark.parametrize("dt", ["i4", "ui4", "i8"])
def test_casts_to_small_integers_and_back(dt: str) -> None:
    """A cast to a 4-bit integer and back inside a kernel stays (no numpy limits for those types);
    to i8 and back of an unbounded value stays too; the engine computes what the reference does."""
    import tritium as tr

    q = ty((8,), dt)
    text = f"""func.func @main(%x: {T}) -> {T} {{
  %q = nn.cast %x {{to = {dt}}} : ({T}) -> {q}
  %d = nn.cast %q {{to = f32}} : ({q}) -> {T}
  func.return %d : {T}
}}"""
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 3.0, -2.0, 1.0], np.float32)
    module = ir.parse_ir(text)
    PassManager("fuse-kernels,dce").run(module)
    (k,) = [op for op in module.main.block.ops if op.name == "kernel.fused"]
    assert [op.name for op in k.body.block.ops].count("nn.cast") == 2
    want = ir.run_reference(ir.parse_ir(text), [x])[0]
    np.testing.assert_array_equal(tr.compile(ir.parse_ir(text))({"x": x})["output_0"], want)
