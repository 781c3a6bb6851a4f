"""Cumulative sums and products along one axis (ONNX CumSum, CumProd)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL
from tritium.ir.dialects.nn.common import as_dtype, norm_axis, ttype
from tritium.ir.opdef import Op, Pure, attr, operand, result
from tritium.ir.types import TensorType


class ScanOp(Op):
    """Running ``fn`` along the axis held by the scalar (or 1-element) ``axis`` operand.

    ``exclusive`` leaves out the current element (the first output is the identity); ``reverse``
    runs from the end of the axis.
    """

    traits = (Pure,)
    x = operand(D.NUMERIC)
    axis = operand([D.i32, D.i64])
    out = result()
    exclusive = attr(BOOL, default=False)
    reverse = attr(BOOL, default=False)
    fn: ClassVar[Callable[..., Any]]
    identity: ClassVar[int]

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        a = ttype(self, self.axis, "axis")
        if a.shape is not None and not (len(a.shape) == 0 or (len(a.shape) == 1 and a.shape[0] in (1, None))):
            self.fail(f"axis must be a scalar, found {a}")
        c = self.const(self.axis)
        if c is not None and x.shape is not None:
            if c.size != 1:
                self.fail(f"axis must hold one value, found {c.size}")
            norm_axis(self, int(c.reshape(-1)[0]), len(x.shape))
        return x

    def reference(self, x: np.ndarray, axis: np.ndarray) -> np.ndarray:
        a = int(axis.reshape(-1)[0])
        if not -x.ndim <= a < x.ndim:
            raise ValueError(f"axis {a} is out of range for rank {x.ndim}")
        a %= x.ndim
        if x.shape[a] == 0:
            return x
        work = x.astype(np.float64) if x.dtype.kind == "f" else x
        if self.reverse:
            work = np.flip(work, a)
        if self.exclusive:
            head = np.full_like(np.take(work, [0], axis=a), type(self).identity)
            work = np.concatenate([head, np.take(work, np.arange(work.shape[a] - 1), axis=a)], axis=a)
        y = type(self).fn(work, axis=a, dtype=work.dtype)
        if self.reverse:
            y = np.flip(y, a)
        return as_dtype(np.asarray(y), self.results[0].type)


class CumSum(ScanOp):
    name = "nn.cum_sum"
    fn = staticmethod(np.cumsum)
    identity = 0


class CumProd(ScanOp):
    name = "nn.cum_prod"
    fn = staticmethod(np.cumprod)
    identity = 1
