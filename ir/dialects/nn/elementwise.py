"""Elementwise ops: binary arithmetic and bitwise ops with numpy broadcasting, and the first unary ops.

A family shares one base class; each op is then one short declaration naming its numpy function.
More unary math is in ``math.py``, activations in ``activation.py``, comparisons and logic in
``logical.py``, casts in ``cast.py``.

Reference semantics compute floats in float64 (exact for every narrower float type, and for +, -,
*, / the float64 result rounds to the same value as the narrow operation) and cast back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, one_of
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import as_dtype, broadcast_shapes, ttype
from tritium.ir.dtypes import DType
from tritium.ir.opdef import (
    Commutative,
    Elementwise,
    Op,
    Pure,
    SameOperandsAndResultType,
    SameOperandsElementType,
    attr,
    operand,
    result,
)
from tritium.ir.types import TensorType

SIGNED = frozenset(d for d in D.NUMERIC if d.is_signed)
"""Floats and signed integers."""


def is_float_array(x: np.ndarray) -> bool:
    """Whether ``x`` holds floats (numpy's own or the ml_dtypes ones: bf16, f8)."""
    if x.dtype.kind == "f":
        return True
    if x.dtype.kind != "V":
        return False
    try:
        return DType.from_numpy(x.dtype).is_float
    except ValueError:
        return False


def wide(x: np.ndarray) -> np.ndarray:
    """Floats as float64, narrow (4-bit) integers as int64; other arrays unchanged."""
    if is_float_array(x):
        return x.astype(np.float64)
    if x.dtype.kind == "V":  # i4 / u4
        return x.astype(np.int64)
    return x


class BinaryOp(Op):
    """``out = fn(lhs, rhs)`` with numpy (ONNX multidirectional) broadcasting; one element type."""

    traits = (Pure, Elementwise, SameOperandsElementType)
    lhs = operand()
    rhs = operand()
    out = result()
    fn: ClassVar[Callable[[Any, Any], Any]]

    def infer(self) -> TensorType:
        a, b = ttype(self, self.lhs, "lhs"), ttype(self, self.rhs, "rhs")
        return TensorType(broadcast_shapes(self, a.shape, b.shape), self.result_dtype(a.dtype))

    def result_dtype(self, operand_dtype: DType) -> DType:
        return operand_dtype

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return type(self).fn(wide(a), wide(b))

    def reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return as_dtype(np.asarray(self.compute(a, b)), self.results[0].type)

    def fold(self) -> list[Value | np.ndarray] | None:
        return _fold_identity(self)


def _fold_identity(op: BinaryOp) -> list[Value | np.ndarray] | None:
    """x + 0, x - 0, x * 1, x / 1, x ** 1 -> x when the result type is x's type. For floats the
    zero's sign counts: -0.0 + (+0.0) is +0.0, so only x + (-0.0) and x - (+0.0) are x for every x."""
    identity = getattr(type(op), "right_identity", None)
    sides = [(op.lhs, op.rhs)]
    if Commutative in op.TRAITS:
        sides.append((op.rhs, op.lhs))
    for x, c in sides:
        if identity is None or x.type != op.results[0].type:
            continue
        val = op.const(c)
        if val is None or val.size == 0 or not np.all(val == identity):
            continue
        dt = x.type.dtype  # type: ignore[attr-defined]
        if identity == 0 and dt.is_float and not dt.name.endswith("FNUZ"):  # (FNUZ types have no -0)
            if np.any(np.signbit(val.astype(np.float32)) != (type(op) is Add)):
                continue
        return [x]
    return None


class Add(BinaryOp):
    name = "nn.add"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    fn = np.add
    right_identity = 0


class Sub(BinaryOp):
    name = "nn.sub"
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    fn = np.subtract
    right_identity = 0


class Mul(BinaryOp):
    name = "nn.mul"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    fn = np.multiply
    right_identity = 1


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":
        # ONNX integer division truncates toward zero; exact for every int64 (no float round trip).
        q = np.floor_divide(a, b)
        inexact = np.mod(a, b) != 0
        if a.dtype.kind == "i":
            return q + (inexact & ((a < 0) != (b < 0))).astype(a.dtype)
        return q
    return np.divide(a, b)


class Div(BinaryOp):
    """``lhs / rhs``; integer division truncates toward zero."""

    name = "nn.div"
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    fn = staticmethod(_div)
    right_identity = 1


def _int_power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer ``a ** b`` (wrapping like the integer type); a negative exponent gives 1/a**|b| truncated."""
    a, b = np.broadcast_arrays(a, b)
    neg = b < 0
    out = np.power(a, np.where(neg, 0, b).astype(a.dtype))
    if neg.any():
        one = np.ones((), a.dtype)
        odd = (np.abs(b.astype(np.int64)) % 2) == 1 if b.dtype.kind == "i" else np.zeros(b.shape, bool)
        inv = np.where(a == 1, one, 0)
        if a.dtype.kind == "i":
            inv = np.where(a == -1, np.where(odd, -one, one), inv)
        out = np.where(neg, inv, out).astype(a.dtype)
    return out


class Pow(BinaryOp):
    """``lhs ** rhs``; the exponent may have another numeric type (ONNX Pow). The result has the
    base's type: an integer base with a float exponent computes in float64 and truncates."""

    name = "nn.pow"
    traits = (Pure, Elementwise)  # the exponent may have another element type
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    right_identity = 1

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = wide(a), wide(b)
        if a.dtype.kind in "iu" and b.dtype.kind in "iu":
            return _int_power(a, b)
        return np.power(a.astype(np.float64), b.astype(np.float64))


class Max(BinaryOp):
    name = "nn.max"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    fn = np.maximum


class Min(BinaryOp):
    name = "nn.min"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    fn = np.minimum


class Mod(BinaryOp):
    """ONNX Mod. ``fmod = false``: ``a - floor(a / b) * b`` (the sign of the divisor);
    ``fmod = true``: ``a - trunc(a / b) * b`` (the sign of the dividend), C's fmod.
    Float special cases follow IEEE (x mod 0 and inf mod y are NaN)."""

    name = "nn.mod"
    lhs = operand(D.NUMERIC)
    rhs = operand(D.NUMERIC)
    fmod = attr(BOOL, default=False)

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = wide(a), wide(b)
        if self.fmod:
            return np.fmod(a, b)
        return np.mod(a, b)


# -- bitwise ---------------------------------------------------------------------------------------


class BitShift(BinaryOp):
    """``lhs << rhs`` or ``lhs >> rhs`` (arithmetic for signed types). A shift amount that is negative
    or not below the bit width gives what the sign fill alone gives: -1 for a right shift of a
    negative value, else 0."""

    name = "nn.bit_shift"
    lhs = operand(D.INTS)
    rhs = operand(D.INTS)
    direction = attr(one_of("LEFT", "RIGHT"))

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        narrow = a.dtype
        a, b = wide(a), wide(b)
        bits = np.dtype(narrow).itemsize * 8 if narrow.kind != "V" else DType.from_numpy(narrow).bits
        a, b = np.broadcast_arrays(a, b)
        ok = (b >= 0) & (b < bits)
        amount = np.where(ok, b, 0).astype(a.dtype)
        if self.direction == "LEFT":
            return np.where(ok, np.left_shift(a, amount), np.zeros((), a.dtype))
        fill = np.where(a < 0, -1, 0).astype(a.dtype) if a.dtype.kind == "i" else np.zeros((), a.dtype)
        return np.where(ok, np.right_shift(a, amount), fill)


class BitwiseAnd(BinaryOp):
    name = "nn.bitwise_and"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(D.INTS)
    rhs = operand(D.INTS)
    fn = np.bitwise_and


class BitwiseOr(BinaryOp):
    name = "nn.bitwise_or"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(D.INTS)
    rhs = operand(D.INTS)
    fn = np.bitwise_or


class BitwiseXor(BinaryOp):
    name = "nn.bitwise_xor"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(D.INTS)
    rhs = operand(D.INTS)
    fn = np.bitwise_xor


# -- unary -----------------------------------------------------------------------------------------


class UnaryOp(Op):
    """``out = fn(x)``, same type in and out; floats are computed in float64."""

    traits = (Pure, Elementwise, SameOperandsAndResultType)
    x = operand()
    out = result()
    fn: ClassVar[Callable[[Any], Any]]

    def compute(self, x: np.ndarray) -> np.ndarray:
        return type(self).fn(wide(x))

    def reference(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return as_dtype(np.asarray(self.compute(x)), self.results[0].type)


def _erf(x: np.ndarray) -> np.ndarray:
    import math

    return (
        np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)) if x.size else x.astype(np.float64)
    )


class BitwiseNot(UnaryOp):
    name = "nn.bitwise_not"
    x = operand(D.INTS)
    fn = np.invert

    def compute(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind == "V":  # 4-bit: invert within the 4 bits
            v = x.astype(np.int64)
            return (-v - 1) if DType.from_numpy(x.dtype).is_signed else (15 - v)
        return np.invert(x)


class Neg(UnaryOp):
    name = "nn.neg"
    x = operand(SIGNED)
    fn = np.negative


class Abs(UnaryOp):
    name = "nn.abs"
    x = operand(D.NUMERIC)
    fn = np.abs


class Exp(UnaryOp):
    name = "nn.exp"
    x = operand(D.FLOATS)
    fn = np.exp


class Log(UnaryOp):
    name = "nn.log"
    x = operand(D.FLOATS)
    fn = np.log


class Sqrt(UnaryOp):
    name = "nn.sqrt"
    x = operand(D.FLOATS)
    fn = np.sqrt


class Tanh(UnaryOp):
    name = "nn.tanh"
    x = operand(D.FLOATS)
    fn = np.tanh


class Erf(UnaryOp):
    name = "nn.erf"
    x = operand(D.FLOATS)
    fn = staticmethod(_erf)


class Relu(UnaryOp):
    name = "nn.relu"
    x = operand(SIGNED)
    fn = staticmethod(lambda x: np.maximum(x, np.zeros((), x.dtype)))


class Sigmoid(UnaryOp):
    name = "nn.sigmoid"
    x = operand(D.FLOATS)
    fn = staticmethod(lambda x: 1.0 / (1.0 + np.exp(-x)))
