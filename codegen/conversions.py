"""Exact integer <-> float32 conversions by arithmetic, where the integer is known to be small.

Conversion instructions run at a quarter of the rate of arithmetic (16 per clock per SM on sm_80 and
sm_90) and bound INT8 epilogues (int32 product, int8 residual, int8 result: 44 against 56 us for a
residual GEMM of INT8 ResNet-50 on an H200, the same bits). An integer n with |n| < 2^22 as float32 is
1.5 * 2^23 + n, whose bits are 0x4B400000 + n (the steps of that binade are 1), so an integer add and
a float subtract convert it exactly, both ways.
"""

from __future__ import annotations

import math
from typing import Any

from tritium.passes.integral import integral_within


def small_int_to_f32(x: str) -> str:
    return f"((({x}).to(tl.int32) + 0x4B400000).to(tl.float32, bitcast=True) - 12582912.0)"


def small_integral_f32_to_int(x: str) -> str:
    return f"((({x}) + 12582912.0).to(tl.int32, bitcast=True) - 0x4B400000)"


def integer_bound(v: Any) -> float:
    """An upper bound of |v| for an integer value: its type's for 16 bits or fewer; for the result of
    an integer product, K times the operands' largest magnitudes (with a zero point, or unsigned: 255;
    signed without: 128); else infinity."""
    dt = v.type.dtype
    if dt.is_int and dt.bits <= 16:
        return float(2 ** (dt.bits - (1 if dt.name.startswith("i") else 0)))
    op = v.defining_op
    if op is None or op.name not in ("nn.matmul_integer", "nn.conv_integer"):
        return math.inf
    x, w = op.operand(0), op.operand(1)
    shapes = [getattr(t.type, "shape", None) for t in (x, w)]
    if any(s is None or not all(isinstance(d, int) for d in s) for s in shapes):
        return math.inf
    k = shapes[0][-1] if op.name == "nn.matmul_integer" else math.prod(shapes[1][1:])  # type: ignore[index]

    def largest(t: Any, zero: Any) -> int:
        return 128 if t.type.dtype.name == "i8" and zero is None else 255

    if op.name == "nn.matmul_integer":
        zx, zw = op.a_zero_point, op.b_zero_point  # type: ignore[attr-defined]
    else:
        zx, zw = op.x_zero_point, op.w_zero_point  # type: ignore[attr-defined]
    return float(k * largest(x, zx) * largest(w, zw))


def integral_below(v: Any, limit: float) -> bool:
    """Whether the float value ``v`` holds integers of magnitude below ``limit`` only (a quantize's
    clip, round and zero point: ``passes/integral.py``)."""
    return integral_within(v, -limit + 1, limit - 1) if limit > 1 else False
