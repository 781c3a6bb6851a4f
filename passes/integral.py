"""Which float values hold integers, and in what range: the arithmetic lower-quant leaves behind (a
quantize's clip, round and zero point). Inside a kernel a cast of such a value to an integer type
that holds it and back is the value itself (``cast_through_integer``, which fuse-kernels applies to
the kernels' bodies: across kernels the integer tensor is what travels, in a quarter of the bytes);
codegen rounds a bounded value with one addition and converts it to an integer by arithmetic
(``codegen/conversions.py``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tritium.ir.dialects import nn
from tritium.ir.opdef import constant_value
from tritium.ir.rewriter import Rewriter
from tritium.passes.patterns import pattern

_DEPTH = 6  # how far back through the defining ops the analysis looks


def integral(v: Any, depth: int = 0) -> bool:
    """Whether every element of the float value ``v`` is an integer (or NaN / infinite): an
    integer-valued constant, a rounding, or a sum, difference, max, min, relu or clip (to integer
    bounds) of such values."""
    c = constant_value(v)
    if c is not None:
        return bool(np.all(np.mod(c, 1) == 0))
    op = v.defining_op
    if op is None or depth > _DEPTH:
        return False
    if op.name == "nn.round":
        return True
    if op.name in ("nn.add", "nn.sub", "nn.max", "nn.min", "nn.relu", "nn.clip"):
        return all(x is None or integral(x, depth + 1) for x in op.operands)  # (a clip's bounds too)
    return False


_EXACT = {"f64": 2.0**53, "f32": 2.0**24, "f16": 2.0**11, "bf16": 2.0**8}
"""Below these magnitudes every integer is representable in the type: integer sums stay exact."""


def value_range(v: Any, depth: int = 0) -> tuple[float, float]:
    """Bounds ``(lo, hi)`` of the values of ``v`` (NaN aside; infinite where unknown): constants,
    clips, roundings, sums and differences, max, min and relu of bounded values, where every bound
    stays below the magnitude up to which ``v``'s type holds all integers (beyond it a sum may
    round, and no bound is claimed)."""
    lo, hi = _range(v, depth)
    dtype = getattr(v.type, "dtype", None)
    limit = _EXACT.get(dtype.name, 0.0) if dtype is not None else 0.0
    return (lo, hi) if -limit <= lo and hi <= limit else (-math.inf, math.inf)


def _range(v: Any, depth: int) -> tuple[float, float]:
    c = constant_value(v)
    if c is not None:
        c = np.asarray(c, np.float64)
        return (float(c.min()), float(c.max())) if c.size and not np.isnan(c).any() else (-math.inf, math.inf)
    op = v.defining_op
    if op is None or depth > _DEPTH:
        return -math.inf, math.inf
    if op.name == "nn.clip":  # min(max(x, m), M), elementwise; a bound may be left out
        lo, hi = value_range(op.x, depth + 1)  # type: ignore[attr-defined]
        if op.min is not None:  # type: ignore[attr-defined]
            mlo, mhi = value_range(op.min, depth + 1)  # type: ignore[attr-defined]
            lo, hi = max(lo, mlo), max(hi, mhi)
        if op.max is not None:  # type: ignore[attr-defined]
            Mlo, Mhi = value_range(op.max, depth + 1)  # type: ignore[attr-defined]
            lo, hi = min(lo, Mlo), min(hi, Mhi)
        return lo, hi
    if op.name not in ("nn.round", "nn.relu", "nn.add", "nn.sub", "nn.max", "nn.min"):
        return -math.inf, math.inf
    ranges = [value_range(x, depth + 1) for x in op.operands]
    if op.name == "nn.round":
        lo, hi = ranges[0]
        return float(np.round(lo)), float(np.round(hi))
    if op.name == "nn.relu":
        lo, hi = ranges[0]
        return max(lo, 0.0), max(hi, 0.0)
    if op.name in ("nn.add", "nn.sub", "nn.max", "nn.min") and len(ranges) == 2:
        (alo, ahi), (blo, bhi) = ranges
        if op.name == "nn.add":
            return _sum(alo, blo, -1), _sum(ahi, bhi, 1)
        if op.name == "nn.sub":
            return _sum(alo, -bhi, -1), _sum(ahi, -blo, 1)
        pick = max if op.name == "nn.max" else min
        return pick(alo, blo), pick(ahi, bhi)
    return -math.inf, math.inf


def _sum(a: float, b: float, side: int) -> float:
    """a + b for a bound on ``side`` (-1 lower, 1 upper): infinite where either is."""
    return side * math.inf if math.isinf(a) or math.isinf(b) else a + b


def integral_within(v: Any, lo: float, hi: float) -> bool:
    """Whether ``v`` holds integers in ``[lo, hi]`` only."""
    if not integral(v):
        return False
    vlo, vhi = value_range(v)
    return lo <= vlo and vhi <= hi


@pattern
def cast_through_integer(op: nn.Cast, rw: Rewriter) -> bool:
    """cast<f>(cast<int>(v)) -> v + 0.0   for v of type f holding integers that the int type holds
    (a quantize's rounded, clipped value dequantized again in the same epilogue; adding +0.0 turns
    -0.0 into +0.0 as the integer does; NaN, whose cast to an integer is undefined, stays NaN)"""
    inner = op.x.defining_op  # type: ignore[attr-defined]
    if not isinstance(inner, nn.Cast) or not op.to.is_float or not inner.to.is_int:
        return False
    if inner.to.bits not in (8, 16, 32):  # (4-bit types have no numpy limits; i1 is a bool)
        return False
    v = inner.x
    if v.type != op.results[0].type or not v.type.dtype.is_float:  # type: ignore[attr-defined]
        return False
    info = np.iinfo(inner.to.np_dtype)
    if not integral_within(v, float(info.min), float(info.max)):
        return False
    with rw.at(before=op):
        zero = rw.insert(nn.Constant.of(np.zeros((), v.type.dtype.np_dtype), loc=op.loc)).out  # type: ignore[attr-defined]
        plus = rw.create(nn.Add, v, zero, loc=op.loc)
        plus.attributes.update({k: a for k, a in op.attributes.items() if k == "precision"})
    rw.replace_op(op, [plus.results[0]])
    return True
