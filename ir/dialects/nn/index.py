"""Ops about positions of elements: non_zero, unique, top_k, trilu."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT
from tritium.ir.dialects.nn.common import norm_axis, ttype
from tritium.ir.dialects.nn.shape import const_ints, prod_dim
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import TensorType


class NonZero(Op):
    """The indices of the non-zero elements of ``x``, one column per element in row-major order:
    ``[rank, count]`` i64 (``[0, count]`` for a scalar)."""

    name = "nn.non_zero"
    traits = (Pure,)
    x = operand()
    out = result()

    def infer(self) -> TensorType:
        return TensorType((ttype(self, self.x, "x").rank, None), D.i64)

    def reference(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 0:
            return np.zeros((0, int(x != 0)), np.int64)
        return np.asarray(np.nonzero(x), np.int64).reshape(x.ndim, -1)


class Unique(Op):
    """The distinct elements of ``x`` (flattened), or its distinct slices along ``axis``, sorted or in
    order of first occurrence; also the first index of each, the inverse map and the counts."""

    name = "nn.unique"
    traits = (Pure,)
    x = operand()
    y = result()
    indices = result()
    inverse_indices = result()
    counts = result()
    axis = attr(INT, default=None)
    sorted = attr(BOOL, default=True)

    def infer(self) -> list[TensorType]:
        x = ttype(self, self.x, "x")
        idx = TensorType((None,), D.i64)
        if self.axis is None:
            n = prod_dim(x.shape) if x.shape is not None else None
            return [TensorType((None,), x.dtype), idx, TensorType((n,), D.i64), idx]
        if x.shape is None:
            return [x, idx, idx, idx]
        a = norm_axis(self, self.axis, len(x.shape))
        y = TensorType(x.shape[:a] + (None,) + x.shape[a + 1 :], x.dtype)
        return [y, idx, TensorType((x.shape[a],), D.i64), idx]

    def reference(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.axis is None:
            rows = x.reshape(-1)
            _, first, inverse, counts = np.unique(
                rows, return_index=True, return_inverse=True, return_counts=True
            )
        else:
            a = self.axis % x.ndim
            rows = np.moveaxis(x, a, 0).reshape(x.shape[a], -1)
            _, first, inverse, counts = np.unique(
                rows, axis=0, return_index=True, return_inverse=True, return_counts=True
            )
        inverse = inverse.reshape(-1)
        if not self.sorted:
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            first, counts, inverse = first[order], counts[order], rank[inverse]
        y = rows[first] if self.axis is None else np.take(x, first, axis=self.axis % x.ndim)
        i64 = np.int64
        return np.asarray(y), first.astype(i64), inverse.astype(i64), counts.astype(i64)


class TopK(Op):
    """The ``k`` largest (or smallest) elements along ``axis`` and their indices; equal values keep
    the lower index first."""

    name = "nn.top_k"
    traits = (Pure,)
    x = operand(D.NUMERIC)
    k = operand([D.i64])
    values = result()
    indices = result()
    axis = attr(INT, default=-1)
    largest = attr(BOOL, default=True)
    sorted = attr(BOOL, default=True)

    def infer(self) -> list[TensorType]:
        x = ttype(self, self.x, "x")
        kt = ttype(self, self.k, "k")
        if kt.shape is not None and (len(kt.shape) > 1 or kt.shape not in ((), (1,), (None,))):
            self.fail(f"k must hold one value, found {kt}")
        if x.shape is None:
            return [x, TensorType(None, D.i64)]
        a = norm_axis(self, self.axis, len(x.shape))
        c = const_ints(self, self.k)
        k = None if c is None else c[0]
        if k is not None and (k < 0 or (isinstance(x.shape[a], int) and k > x.shape[a])):
            self.fail(f"k = {k} is out of range for dimension {a} of {x}")
        shape = x.shape[:a] + (k,) + x.shape[a + 1 :]
        return [TensorType(shape, x.dtype), TensorType(shape, D.i64)]

    def reference(self, x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = self.axis % x.ndim
        n, kk = x.shape[a], int(k.reshape(-1)[0])
        if not 0 <= kk <= n:
            raise ValueError(f"k = {kk} is out of range for a dimension of size {n}")
        if self.largest:
            order = n - 1 - np.flip(np.argsort(np.flip(x, a), axis=a, kind="stable"), a)
        else:
            order = np.argsort(x, axis=a, kind="stable")
        top = np.take(order, np.arange(kk), axis=a)
        return np.take_along_axis(x, top, axis=a), top.astype(np.int64)


class Trilu(Op):
    """Keep the upper (``j - i >= k``) or lower (``j - i <= k``) triangle of the last two dims, zero the rest."""

    name = "nn.trilu"
    traits = (Pure,)
    x = operand()
    k = opt_operand([D.i64])
    out = result()
    upper = attr(BOOL, default=True)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.rank is not None and x.rank < 2:
            self.fail(f"x must have rank >= 2, found {x}")
        if self.k is not None:
            kt = ttype(self, self.k, "k")
            if kt.rank not in (None, 0) and kt.shape != (1,):
                self.fail(f"k must be a scalar, found {kt}")
        return x

    def reference(self, x: np.ndarray, k: np.ndarray | None) -> np.ndarray:
        kk = 0 if k is None else int(k.reshape(-1)[0])
        rows, cols = x.shape[-2:]
        diff = np.arange(cols)[None, :] - np.arange(rows)[:, None]
        keep = diff >= kk if self.upper else diff <= kk
        return np.where(keep, x, np.zeros((), x.dtype))
