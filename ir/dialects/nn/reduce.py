"""Reductions over axes, and softmax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT, INTS
from tritium.ir.dialects.nn.common import as_dtype, norm_axes, norm_axis, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsAndResultType, attr, operand, result
from tritium.ir.types import TensorType


class ReduceOp(Op):
    """Reduce ``x`` over ``axes`` (all listed explicitly; frontends expand "all axes")."""

    traits = (Pure,)
    x = operand()
    out = result()
    axes = attr(INTS)
    keepdims = attr(BOOL, default=True)
    fn: ClassVar[Callable[..., Any]]

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return x
        axes = norm_axes(self, self.axes, len(x.shape))
        if self.keepdims:
            return TensorType(tuple(1 if i in axes else d for i, d in enumerate(x.shape)), x.dtype)
        return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        axes = tuple(a % x.ndim for a in self.axes) if x.ndim else ()
        with np.errstate(all="ignore"):
            y = type(self).fn(x, axis=axes, keepdims=self.keepdims)
        return as_dtype(np.asarray(y), self.results[0].type)


class ReduceSum(ReduceOp):
    name = "nn.reduce_sum"
    fn = staticmethod(np.sum)


class ReduceMean(ReduceOp):
    name = "nn.reduce_mean"
    x = operand(D.FLOATS)
    fn = staticmethod(lambda x, **kw: np.mean(x.astype(np.float64), **kw))


class ReduceMax(ReduceOp):
    name = "nn.reduce_max"
    fn = staticmethod(np.max)


class ReduceMin(ReduceOp):
    name = "nn.reduce_min"
    fn = staticmethod(np.min)


class ReduceProd(ReduceOp):
    name = "nn.reduce_prod"
    fn = staticmethod(np.prod)


class Softmax(Op):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (ONNX opset 13 semantics)."""

    name = "nn.softmax"
    traits = (Pure, SameOperandsAndResultType)
    x = operand(D.FLOATS)
    out = result()
    axis = attr(INT, default=-1)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.shape is not None:
            norm_axis(self, self.axis, len(x.shape))

    def reference(self, x: np.ndarray) -> np.ndarray:
        x64 = x.astype(np.float64)
        e = np.exp(x64 - np.max(x64, axis=self.axis, keepdims=True))
        return as_dtype(e / np.sum(e, axis=self.axis, keepdims=True), self.results[0].type)
