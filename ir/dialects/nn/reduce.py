"""Reductions over axes, and softmax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT
from tritium.ir.dialects.nn.common import as_dtype, norm_axes, norm_axis, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsAndResultType, attr, operand, opt_operand, result
from tritium.ir.types import TensorType


class ReduceOp(Op):
    """Reduce ``x`` over the axes held by the ``axes`` operand (ONNX opset 18 form).

    Without ``axes`` (or with an empty one) every axis is reduced, unless ``noop_with_empty_axes``,
    which makes the op the identity. ``axes`` is usually a constant; `static_axes` reads it.
    """

    traits = (Pure,)
    x = operand()
    axes = opt_operand([D.i64])
    out = result()
    keepdims = attr(BOOL, default=True)
    noop_with_empty_axes = attr(BOOL, default=False)
    fn: ClassVar[Callable[..., Any]]

    def static_axes(self) -> tuple[int, ...] | None:
        """The normalized axes when they are known at build time (all axes when none are given)."""
        rank = self.x.type.rank  # type: ignore[attr-defined]
        if rank is None:
            return None
        if self.axes is None:
            return () if self.noop_with_empty_axes else tuple(range(rank))
        c = self.const(self.axes)
        if c is None:
            return None
        if c.size == 0:
            return () if self.noop_with_empty_axes else tuple(range(rank))
        return norm_axes(self, [int(a) for a in c.reshape(-1)], rank)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if self.axes is not None:
            at = ttype(self, self.axes, "axes")
            if at.rank not in (None, 1):
                self.fail(f"axes must be 1-D, found {at}")
        axes = self.static_axes()
        if x.shape is None:
            return x
        if axes is None:
            n = self.axes.type.shape[0] if self.axes is not None and self.axes.type.shape else None  # type: ignore[union-attr]
            if self.keepdims:
                return TensorType((None,) * len(x.shape), x.dtype)
            return TensorType(None if not isinstance(n, int) else (None,) * (len(x.shape) - n), x.dtype)
        if self.keepdims:
            return TensorType(tuple(1 if i in axes else d for i, d in enumerate(x.shape)), x.dtype)
        return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    def reference(self, x: np.ndarray, axes: np.ndarray | None) -> np.ndarray:
        if axes is None or axes.size == 0:
            if self.noop_with_empty_axes:
                return x
            ax: tuple[int, ...] = tuple(range(x.ndim))
        else:
            ax = tuple(int(a) % x.ndim for a in axes.reshape(-1))
        with np.errstate(all="ignore"):
            y = type(self).fn(x, axis=ax, keepdims=self.keepdims)
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
