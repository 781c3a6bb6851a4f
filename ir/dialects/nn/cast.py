"""Element type conversions: cast (value conversion) and bit_cast (reinterpretation of the bits)."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, DTYPE
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import ttype
from tritium.ir.dtypes import DType
from tritium.ir.opdef import Elementwise, Op, Pure, attr, operand, result
from tritium.ir.types import TensorType

CASTABLE = frozenset(d for d in D.ALL if d.kind != "complex")
F8 = frozenset({D.f8E4M3FN, D.f8E4M3FNUZ, D.f8E5M2, D.f8E5M2FNUZ})


class Cast(Op):
    """Convert each element to ``to`` (ONNX Cast).

    float -> float rounds to nearest even (+-inf out of range); float -> int truncates toward zero
    (undefined out of range); int -> int keeps the low bits (two's complement); anything -> i1 is
    ``!= 0``; i1 -> number is 0 or 1. To an f8 type, ``saturate`` clamps out-of-range values (and
    infinities) to the largest finite value; without it they become inf or NaN as the type allows.
    Strings parse as numbers (``INF``, ``-INF``, ``NaN`` included); numbers print in plain notation.
    """

    name = "nn.cast"
    traits = (Pure, Elementwise)
    x = operand(CASTABLE)
    out = result()
    to = attr(DTYPE)
    saturate = attr(BOOL, default=True)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        return TensorType(x.shape, self.to)

    def verify_op(self) -> None:
        src = ttype(self, self.x, "x").dtype
        if self.to not in CASTABLE:
            self.fail(f"cannot cast to {self.to}")
        if D.string in (src, self.to) and src != self.to:
            other = self.to if src == D.string else src
            if not (other.is_float or other.is_int) or other.bits < 8:
                self.fail(f"casts between string and {other} are not supported")

    def reference(self, x: np.ndarray) -> np.ndarray:
        src = ttype(self, self.x, "x").dtype
        with np.errstate(all="ignore"):
            return np.asarray(cast_array(x, src, self.to, self.saturate)).reshape(x.shape)

    def fold(self) -> list[Value | np.ndarray] | None:
        if self.to == ttype(self, self.x, "x").dtype:
            return [self.x]
        return None


def cast_array(x: np.ndarray, src: DType, dst: DType, saturate: bool = True) -> np.ndarray:
    """``x`` (of element type ``src``) converted to ``dst`` by ONNX Cast's rules."""
    out = dst.np_dtype
    if src == dst:
        return x
    if src == D.string:
        return _parse(x, dst)
    if dst == D.string:
        return _format(x, src)
    if dst == D.bool_:
        return (x.astype(np.float64) if x.dtype.kind == "V" else x) != 0
    if dst in F8:
        v = x if x.dtype.kind == "f" else x.astype(np.float64)
        if saturate:
            top = float(ml_dtypes.finfo(out).max)
            v = np.clip(v, -top, top)  # NaN stays NaN
        return v.astype(out)
    if x.dtype.kind == "V" and dst.kind != "float":
        x = x.astype(np.float64) if src.is_float else x.astype(np.int64)
    if src.is_float and dst.is_int:
        x = np.trunc(x.astype(np.float64) if x.dtype.kind == "V" else x)
    return x.astype(out)


def _parse(x: np.ndarray, dst: DType) -> np.ndarray:
    flat = [str(s).strip() for s in x.reshape(-1)]
    if dst.is_float:
        return np.asarray([float(s) for s in flat], np.float64).astype(dst.np_dtype)
    vals = []
    for s in flat:
        try:
            vals.append(int(s))
        except ValueError:
            vals.append(int(float(s)))
    return (
        np.asarray(vals, dtype=object).astype(np.int64 if dst.is_signed else np.uint64).astype(dst.np_dtype)
    )


def _format(x: np.ndarray, src: DType) -> np.ndarray:
    flat = x.reshape(-1)
    if src.is_float:
        if x.dtype.kind == "V":
            flat = flat.astype(np.float32)
        text = [
            "NaN"
            if math.isnan(v)
            else ("INF" if v > 0 else "-INF")
            if math.isinf(v)
            else np.format_float_positional(v, trim="-")
            for v in flat
        ]
    else:
        text = [str(int(v)) for v in flat]
    return np.asarray(text, dtype=object).reshape(x.shape)


class BitCast(Op):
    """Reinterpret the bits of each element as ``to`` (same bit width; little endian)."""

    name = "nn.bit_cast"
    traits = (Pure, Elementwise)
    x = operand(frozenset(d for d in D.ALL if d != D.string))
    out = result()
    to = attr(DTYPE)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        return TensorType(x.shape, self.to)

    def verify_op(self) -> None:
        src = ttype(self, self.x, "x").dtype
        if self.to == D.string:
            self.fail("cannot bit_cast to string")
        if src.bits != self.to.bits:
            self.fail(f"{src} has {src.bits} bits but {self.to} has {self.to.bits}; bit_cast keeps the width")

    def reference(self, x: np.ndarray) -> np.ndarray:
        dst, shape = self.to, x.shape
        x = np.ascontiguousarray(x)  # (0-d becomes 1-d: results take `shape` back)
        if dst.bits == 4:  # one 4-bit value per byte: keep the low nibble, sign-extend for i4
            nib = x.astype(np.int64) & 0xF
            nib = np.where(nib >= 8, nib - 16, nib) if dst.is_signed else nib
            return nib.astype(dst.np_dtype).reshape(shape)
        if dst == D.bool_:  # a byte that is not 0 or 1 still reads as true
            return x.view(np.uint8).reshape(shape) != 0
        return x.view(dst.np_dtype).reshape(shape)
