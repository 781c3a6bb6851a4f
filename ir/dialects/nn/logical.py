"""Comparisons (results are i1), boolean logic, where (select), and the IsInf/IsNaN predicates."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL
from tritium.ir.dialects.nn.common import as_dtype, broadcast_shapes, ttype
from tritium.ir.dialects.nn.elementwise import BinaryOp, UnaryOp
from tritium.ir.dtypes import DType
from tritium.ir.opdef import Commutative, Elementwise, Op, Pure, attr, operand, result
from tritium.ir.types import TensorType

BOOL_T = frozenset({D.bool_})
ORDERED = D.NUMERIC
"""What Less and Greater compare."""
EQUATABLE = D.NUMERIC | BOOL_T | {D.string}


class CompareOp(BinaryOp):
    """``lhs <cmp> rhs`` with numpy broadcasting; the result is i1."""

    def result_dtype(self, operand_dtype: DType) -> DType:
        return D.bool_


class Equal(CompareOp):
    name = "nn.equal"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(EQUATABLE)
    rhs = operand(EQUATABLE)
    fn = np.equal


class Less(CompareOp):
    name = "nn.less"
    lhs = operand(ORDERED)
    rhs = operand(ORDERED)
    fn = np.less


class LessOrEqual(CompareOp):
    name = "nn.less_or_equal"
    lhs = operand(ORDERED)
    rhs = operand(ORDERED)
    fn = np.less_equal


class Greater(CompareOp):
    name = "nn.greater"
    lhs = operand(ORDERED)
    rhs = operand(ORDERED)
    fn = np.greater


class GreaterOrEqual(CompareOp):
    name = "nn.greater_or_equal"
    lhs = operand(ORDERED)
    rhs = operand(ORDERED)
    fn = np.greater_equal


class And(BinaryOp):
    name = "nn.and"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(BOOL_T)
    rhs = operand(BOOL_T)
    fn = np.logical_and


class Or(BinaryOp):
    name = "nn.or"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(BOOL_T)
    rhs = operand(BOOL_T)
    fn = np.logical_or


class Xor(BinaryOp):
    name = "nn.xor"
    traits = (*BinaryOp.traits, Commutative)
    lhs = operand(BOOL_T)
    rhs = operand(BOOL_T)
    fn = np.logical_xor


class Not(UnaryOp):
    name = "nn.not"
    x = operand(BOOL_T)
    fn = np.logical_not


class Where(Op):
    """``cond ? x : y`` elementwise, the three operands broadcast together (numpy style)."""

    name = "nn.where"
    traits = (Pure, Elementwise)
    cond = operand(BOOL_T)
    x = operand()
    y = operand()
    out = result()

    def infer(self) -> TensorType:
        c, x, y = ttype(self, self.cond, "cond"), ttype(self, self.x, "x"), ttype(self, self.y, "y")
        if x.dtype != y.dtype:
            self.fail(f"x and y must have one element type, found {x.dtype} and {y.dtype}")
        return TensorType(broadcast_shapes(self, c.shape, x.shape, y.shape), x.dtype)

    def reference(self, cond: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return as_dtype(np.asarray(np.where(cond, x, y)), self.results[0].type)


class PredicateOp(Op):
    """``out = fn(x)``: an i1 tensor of x's shape."""

    traits = (Pure, Elementwise)
    x = operand(D.FLOATS)
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        return TensorType(x.shape, D.bool_)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.test(x.astype(np.float64)), dtype=np.bool_).reshape(x.shape)

    def test(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class IsInf(PredicateOp):
    """Whether x is infinite; ``detect_negative`` / ``detect_positive`` select the signs reported."""

    name = "nn.is_inf"
    detect_negative = attr(BOOL, default=True)
    detect_positive = attr(BOOL, default=True)

    def test(self, x: np.ndarray) -> np.ndarray:
        return ((x == np.inf) & self.detect_positive) | ((x == -np.inf) & self.detect_negative)


class IsNaN(PredicateOp):
    name = "nn.is_nan"

    def test(self, x: np.ndarray) -> np.ndarray:
        return np.isnan(x)
