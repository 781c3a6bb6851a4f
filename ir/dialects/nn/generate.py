"""Ops that make new tensors from shapes and scalars: constant_of_shape, range, eye_like, one_hot."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import DENSE, DTYPE, INT, Dense
from tritium.ir.dialects.nn.common import ttype
from tritium.ir.dialects.nn.shape import shape_entries, unknown_dims, vector_len
from tritium.ir.opdef import Op, Pure, SameOperandsElementType, attr, operand, result
from tritium.ir.types import TensorType


class ConstantOfShape(Op):
    """A tensor of the shape held in ``shape``, every element ``value`` (a one-element tensor that
    also gives the element type)."""

    name = "nn.constant_of_shape"
    traits = (Pure,)
    shape = operand([D.i64])
    out = result()
    value = attr(DENSE, default=Dense.from_array(np.zeros(1, np.float32)))

    def verify_op(self) -> None:
        if int(np.prod(self.value.type.shape)) != 1:
            self.fail(f"value must hold one element, found {self.value.type}")

    def infer(self) -> TensorType:
        n = vector_len(self, self.shape, "shape")
        dims = shape_entries(self.shape)
        dtype = self.value.type.dtype
        if dims is None:
            return unknown_dims(n, dtype)
        if any(isinstance(d, int) and d < 0 for d in dims):
            self.fail(f"shape {dims} has a negative size")
        return TensorType(tuple(dims), dtype)

    def reference(self, shape: np.ndarray) -> np.ndarray:
        return np.full([int(d) for d in shape.reshape(-1)], self.value.array.reshape(-1)[0])


def range_count(start: float, limit: float, delta: float) -> int:
    return max(int(np.ceil((float(limit) - float(start)) / float(delta))), 0)


class Range(Op):
    """``[start, start + delta, ...]`` up to ``limit`` (exclusive): ``max(ceil((limit - start) / delta), 0)``
    elements. f16/bf16 compute in ``stash_type``."""

    name = "nn.range"
    traits = (Pure, SameOperandsElementType)
    start = operand(D.NUMERIC)
    limit = operand(D.NUMERIC)
    delta = operand(D.NUMERIC)
    out = result()
    stash_type = attr(DTYPE, default=D.f32)

    def infer(self) -> TensorType:
        ts = [
            ttype(self, v, w)
            for v, w in ((self.start, "start"), (self.limit, "limit"), (self.delta, "delta"))
        ]
        for t, w in zip(ts, ("start", "limit", "delta")):
            if t.shape is not None and int(np.prod([d if isinstance(d, int) else 2 for d in t.shape])) != 1:
                self.fail(f"{w} must be a scalar, found {t}")
        vals = [self.const(v) for v in (self.start, self.limit, self.delta)]
        if any(v is None for v in vals):
            return TensorType((None,), ts[0].dtype)
        s, l, d = (v.reshape(-1)[0] for v in vals)  # type: ignore[union-attr]
        if d == 0:
            self.fail("delta must not be zero")
        return TensorType((range_count(s, l, d),), ts[0].dtype)

    def reference(self, start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> np.ndarray:
        s, l, d = (v.reshape(-1)[0] for v in (start, limit, delta))
        if d == 0:
            raise ValueError("delta must not be zero")
        n = range_count(s, l, d)
        dt = self.results[0].type.dtype  # type: ignore[attr-defined]
        if dt in (D.f16, D.bf16):
            work = self.stash_type.np_dtype
        elif dt.is_float:
            work = dt.np_dtype
        else:
            work = np.int64
        i = np.arange(n, dtype=work)
        return (np.asarray(s, work) + i * np.asarray(d, work)).astype(dt.np_dtype)


class EyeLike(Op):
    """A matrix of ``x``'s shape with ones on diagonal ``k`` (above the main one for k > 0)."""

    name = "nn.eye_like"
    traits = (Pure,)
    x = operand()
    out = result()
    dtype = attr(DTYPE)
    k = attr(INT, default=0)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.rank not in (None, 2):
            self.fail(f"x must be 2-D, found {x}")
        return TensorType(x.shape if x.shape is not None else (None, None), self.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.eye(x.shape[0], x.shape[1], self.k, dtype=self.dtype.np_dtype)


class OneHot(Op):
    """A new dim of size ``depth`` at ``axis`` holding ``values[1]`` at each index and ``values[0]``
    elsewhere; indices outside ``[-depth, depth)`` give all ``values[0]``."""

    name = "nn.one_hot"
    traits = (Pure,)
    indices = operand(D.NUMERIC)
    depth = operand(D.NUMERIC)
    values = operand()
    out = result()
    axis = attr(INT, default=-1)

    def _axis(self, rank: int) -> int:
        if not -rank - 1 <= self.axis <= rank:
            self.fail(f"axis {self.axis} is out of range for rank {rank} indices")
        return self.axis + rank + 1 if self.axis < 0 else self.axis

    def infer(self) -> TensorType:
        idx, vals = ttype(self, self.indices, "indices"), ttype(self, self.values, "values")
        n = vector_len(self, self.values, "values")
        if n is not None and n != 2:
            self.fail(f"values must hold [off, on], found {vals}")
        if idx.shape is None:
            return TensorType(None, vals.dtype)
        a = self._axis(len(idx.shape))
        d = self.const(self.depth)
        depth = None if d is None else int(d.reshape(-1)[0])
        if depth is not None and depth < 1:
            self.fail(f"depth must be positive, found {depth}")
        return TensorType(idx.shape[:a] + (depth,) + idx.shape[a:], vals.dtype)

    def reference(self, indices: np.ndarray, depth: np.ndarray, values: np.ndarray) -> np.ndarray:
        d = int(depth.reshape(-1)[0])
        idx = indices.astype(np.int64)
        idx = np.where(idx < 0, idx + d, idx)
        hot = idx[..., None] == np.arange(d)
        out = np.where(hot, values[1], values[0])
        return np.asarray(np.moveaxis(out, -1, self._axis(indices.ndim)))
