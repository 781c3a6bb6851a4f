"""Elementwise ops: binary arithmetic with numpy broadcasting, and unary math and activations.

A family shares one base class; each op is then one short declaration naming its numpy function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import as_dtype, broadcast_shapes, ttype
from tritium.ir.opdef import (
    Commutative,
    Elementwise,
    Op,
    Pure,
    SameOperandsAndResultType,
    SameOperandsElementType,
    operand,
    result,
)
from tritium.ir.types import TensorType


class BinaryOp(Op):
    """``out = fn(lhs, rhs)`` with numpy (ONNX multidirectional) broadcasting; one element type."""

    traits = (Pure, Elementwise, SameOperandsElementType)
    lhs = operand()
    rhs = operand()
    out = result()
    fn: ClassVar[Callable[[Any, Any], Any]]

    def infer(self) -> TensorType:
        a, b = ttype(self, self.lhs, "lhs"), ttype(self, self.rhs, "rhs")
        return TensorType(broadcast_shapes(self, a.shape, b.shape), a.dtype)

    def reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return as_dtype(np.asarray(type(self).fn(a, b)), self.results[0].type)

    def fold(self) -> list[Value | np.ndarray] | None:
        return _fold_identity(self)


def _fold_identity(op: BinaryOp) -> list[Value | np.ndarray] | None:
    """x + 0, x - 0, x * 1, x / 1, x ** 1 -> x when the result type is x's type."""
    identity = getattr(type(op), "right_identity", None)
    sides = [(op.lhs, op.rhs)]
    if Commutative in op.TRAITS:
        sides.append((op.rhs, op.lhs))
    for x, c in sides:
        if identity is None or x.type != op.results[0].type:
            continue
        val = op.const(c)
        if val is not None and val.size > 0 and np.all(val == identity):
            return [x]
    return None


class Add(BinaryOp):
    name = "nn.add"
    traits = (*BinaryOp.traits, Commutative)
    fn = np.add
    right_identity = 0


class Sub(BinaryOp):
    name = "nn.sub"
    fn = np.subtract
    right_identity = 0


class Mul(BinaryOp):
    name = "nn.mul"
    traits = (*BinaryOp.traits, Commutative)
    fn = np.multiply
    right_identity = 1


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b).astype(a.dtype)  # ONNX integer division truncates toward zero
    return np.divide(a, b)


class Div(BinaryOp):
    name = "nn.div"
    fn = staticmethod(_div)
    right_identity = 1


class Pow(BinaryOp):
    """``lhs ** rhs``; the exponent may have another numeric type (ONNX Pow)."""

    name = "nn.pow"
    traits = (Pure, Elementwise)  # the exponent may have another element type
    fn = staticmethod(lambda a, b: np.power(a, b.astype(a.dtype) if a.dtype.kind == "f" else b))
    right_identity = 1


class Max(BinaryOp):
    name = "nn.max"
    traits = (*BinaryOp.traits, Commutative)
    fn = np.maximum


class Min(BinaryOp):
    name = "nn.min"
    traits = (*BinaryOp.traits, Commutative)
    fn = np.minimum


class UnaryOp(Op):
    """``out = fn(x)``, same type in and out."""

    traits = (Pure, Elementwise, SameOperandsAndResultType)
    x = operand()
    out = result()
    fn: ClassVar[Callable[[Any], Any]]

    def reference(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return as_dtype(np.asarray(type(self).fn(x)), self.results[0].type)


def _erf(x: np.ndarray) -> np.ndarray:
    import math

    return (
        np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)) if x.size else x.astype(np.float64)
    )


class Neg(UnaryOp):
    name = "nn.neg"
    fn = np.negative


class Abs(UnaryOp):
    name = "nn.abs"
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
    fn = staticmethod(lambda x: np.maximum(x, np.zeros((), x.dtype)))


class Sigmoid(UnaryOp):
    name = "nn.sigmoid"
    x = operand(D.FLOATS)
    fn = staticmethod(lambda x: 1.0 / (1.0 + np.exp(-x.astype(np.float64))))
