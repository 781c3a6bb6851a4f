"""Reductions over axes (sum, mean, max, min, prod, norms, log-sums) and arg-max / arg-min.

Reducing an empty set gives the reduction's identity: 0 for sums and norms, 1 for the product, the
lowest (highest) value of the type for max (min), minus infinity for the log-sums.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT
from tritium.ir.dialects.nn.common import as_dtype, norm_axes, norm_axis, ttype
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import TensorType

Axes = tuple[int, ...]


class ReduceOp(Op):
    """Reduce ``x`` over the axes held by the ``axes`` operand (ONNX opset 18 form).

    Without ``axes`` (or with an empty one) every axis is reduced, unless ``noop_with_empty_axes``,
    which makes the op the identity. ``axes`` is usually a constant; `static_axes` reads it.
    """

    traits = (Pure,)
    x = operand(D.NUMERIC)
    axes = opt_operand([D.i64])
    out = result()
    keepdims = attr(BOOL, default=True)
    noop_with_empty_axes = attr(BOOL, default=False)
    fn: ClassVar[Callable[..., Any]]
    """``fn(x, axis=tuple, keepdims=bool)`` on an array already in the compute type."""

    def static_axes(self) -> Axes | None:
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
            if n == 0 and self.noop_with_empty_axes:
                return x
            if isinstance(n, int) and n > 0:
                return TensorType((None,) * (len(x.shape) - n), x.dtype)
            return TensorType(None, x.dtype)
        if self.keepdims:
            return TensorType(tuple(1 if i in axes else d for i, d in enumerate(x.shape)), x.dtype)
        return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    def runtime_axes(self, x: np.ndarray, axes: np.ndarray | None) -> Axes | None:
        """The axes to reduce at run time; None when the op is the identity."""
        if axes is None or axes.size == 0:
            return None if self.noop_with_empty_axes else tuple(range(x.ndim))
        ax = [int(a) for a in axes.reshape(-1)]
        for a in ax:
            if not -x.ndim <= a < max(x.ndim, 1):
                raise ValueError(f"axis {a} is out of range for rank {x.ndim}")
        return tuple(sorted({a % max(x.ndim, 1) for a in ax})) if x.ndim else ()

    def reference(self, x: np.ndarray, axes: np.ndarray | None) -> np.ndarray:
        ax = self.runtime_axes(x, axes)
        if ax is None:
            return x
        with np.errstate(all="ignore"):
            y = type(self).fn(compute_type(x), axis=ax, keepdims=self.keepdims)
        return as_dtype(np.asarray(y), self.results[0].type)


def compute_type(x: np.ndarray) -> np.ndarray:
    """Floats narrower than f64 are reduced in f64; integers and bools keep their type."""
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def _lowest(x: np.ndarray) -> Any:
    if x.dtype == np.bool_:
        return False
    return -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min


def _highest(x: np.ndarray) -> Any:
    if x.dtype == np.bool_:
        return True
    return np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).max


def _log_sum_exp(x: np.ndarray, axis: Axes, keepdims: bool) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    shift = np.where(np.isfinite(m), m, 0.0)
    s = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    return s if keepdims else np.squeeze(s, axis=axis)


def _mean(x: np.ndarray, axis: Axes, keepdims: bool) -> np.ndarray:
    count = int(np.prod([x.shape[a] for a in axis]))
    return np.sum(x, axis=axis, keepdims=keepdims) / np.float64(count)


class ReduceSum(ReduceOp):
    name = "nn.reduce_sum"
    fn = staticmethod(np.sum)


class ReduceMean(ReduceOp):
    name = "nn.reduce_mean"
    x = operand(D.FLOATS)
    fn = staticmethod(_mean)


class ReduceMax(ReduceOp):
    name = "nn.reduce_max"
    x = operand(D.NUMERIC | {D.bool_})
    fn = staticmethod(lambda x, **kw: np.max(x, initial=_lowest(x), **kw))


class ReduceMin(ReduceOp):
    name = "nn.reduce_min"
    x = operand(D.NUMERIC | {D.bool_})
    fn = staticmethod(lambda x, **kw: np.min(x, initial=_highest(x), **kw))


class ReduceProd(ReduceOp):
    name = "nn.reduce_prod"
    fn = staticmethod(np.prod)


class ReduceL1(ReduceOp):
    """sum(|x|)"""

    name = "nn.reduce_l1"
    fn = staticmethod(lambda x, **kw: np.sum(np.abs(x), **kw))


class ReduceL2(ReduceOp):
    """sqrt(sum(x * x))"""

    name = "nn.reduce_l2"
    fn = staticmethod(lambda x, **kw: np.sqrt(np.sum(np.square(x.astype(np.float64)), **kw)))


class ReduceSumSquare(ReduceOp):
    """sum(x * x)"""

    name = "nn.reduce_sum_square"
    fn = staticmethod(lambda x, **kw: np.sum(np.square(x), **kw))


class ReduceLogSum(ReduceOp):
    """log(sum(x))"""

    name = "nn.reduce_log_sum"
    x = operand(D.FLOATS)
    fn = staticmethod(lambda x, **kw: np.log(np.sum(x, **kw)))


class ReduceLogSumExp(ReduceOp):
    """log(sum(exp(x))), computed as max + log(sum(exp(x - max)))."""

    name = "nn.reduce_log_sum_exp"
    x = operand(D.FLOATS)
    fn = staticmethod(_log_sum_exp)


class ArgOp(Op):
    """The index (i64) of the extreme element along ``axis``; the first one, or the last one with
    ``select_last_index``."""

    traits = (Pure,)
    x = operand(D.NUMERIC | {D.bool_})
    out = result()
    axis = attr(INT, default=0)
    keepdims = attr(BOOL, default=True)
    select_last_index = attr(BOOL, default=False)
    fn: ClassVar[Callable[..., Any]]

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return TensorType(None, D.i64)
        if len(x.shape) == 0:
            self.fail("x must have rank >= 1")
        a = norm_axis(self, self.axis, len(x.shape))
        if self.keepdims:
            return TensorType(tuple(1 if i == a else d for i, d in enumerate(x.shape)), D.i64)
        return TensorType(tuple(d for i, d in enumerate(x.shape) if i != a), D.i64)

    def reference(self, x: np.ndarray) -> np.ndarray:
        a = self.axis % x.ndim
        if self.select_last_index:
            flipped = np.flip(x, axis=a)
            idx = x.shape[a] - 1 - type(self).fn(flipped, axis=a)
        else:
            idx = type(self).fn(x, axis=a)
        if self.keepdims:
            idx = np.expand_dims(idx, a)
        return np.asarray(idx, np.int64)


class ArgMax(ArgOp):
    name = "nn.arg_max"
    fn = staticmethod(np.argmax)


class ArgMin(ArgOp):
    name = "nn.arg_min"
    fn = staticmethod(np.argmin)
