"""Indexed reads and writes: gather, gather_elements, gather_nd, scatter_elements, scatter_nd,
tensor_scatter. Negative indices count from the end of their dimension."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT, one_of
from tritium.ir.dialects.nn.common import norm_axis, ttype
from tritium.ir.dialects.nn.shape import IDX, fold_entries
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result
from tritium.ir.types import Dim, TensorType

REDUCTIONS = ("none", "add", "mul", "max", "min")
_UFUNC = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def wrap_indices(idx: np.ndarray, size: int | np.ndarray, what: str = "index") -> np.ndarray:
    """Indices with negatives counted from the end; an error for any outside [-size, size)."""
    idx = idx.astype(np.int64)
    bad = (idx < -size) | (idx >= size)
    if np.any(bad):
        raise IndexError(f"{what} {idx[bad].reshape(-1)[0]} is out of range for size {size}")
    return np.where(idx < 0, idx + size, idx)


def _same_dims(op: Op, a: tuple[Dim, ...], b: tuple[Dim, ...], what: str) -> None:
    for x, y in zip(a, b):
        if isinstance(x, int) and isinstance(y, int) and x != y:
            op.fail(f"{what}: dims {list(a)} and {list(b)} differ")


class Gather(Op):
    """``out[i..., j..., k...] = data[i..., indices[j...], k...]`` with ``indices`` indexing ``axis``."""

    name = "nn.gather"
    traits = (Pure,)
    data = operand()
    indices = operand(IDX)
    out = result()
    axis = attr(INT, default=0)

    def infer(self) -> TensorType:
        data, idx = ttype(self, self.data, "data"), ttype(self, self.indices, "indices")
        if data.shape is None or idx.shape is None:
            return TensorType(None, data.dtype)
        a = norm_axis(self, self.axis, len(data.shape))
        return TensorType(data.shape[:a] + idx.shape + data.shape[a + 1 :], data.dtype)

    def reference(self, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
        a = self.axis % data.ndim
        return np.asarray(np.take(data, wrap_indices(indices, data.shape[a]), axis=a))

    def fold(self) -> list[np.ndarray] | None:
        return fold_entries(self)  # dims picked out of a shape (Shape -> Gather chains)


class GatherElements(Op):
    """``out[i][j][k] = data[indices[i][j][k]][j][k]`` for axis 0 (likewise for other axes)."""

    name = "nn.gather_elements"
    traits = (Pure,)
    data = operand()
    indices = operand(IDX)
    out = result()
    axis = attr(INT, default=0)

    def infer(self) -> TensorType:
        data, idx = ttype(self, self.data, "data"), ttype(self, self.indices, "indices")
        if data.shape is not None and idx.shape is not None:
            if len(data.shape) != len(idx.shape):
                self.fail(f"data {data} and indices {idx} differ in rank")
            norm_axis(self, self.axis, len(data.shape))
        return TensorType(idx.shape, data.dtype)

    def reference(self, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
        a = self.axis % data.ndim
        return np.take_along_axis(data, wrap_indices(indices, data.shape[a]), axis=a)


class GatherND(Op):
    """Gather slices of ``data`` addressed by the last dim of ``indices``; the first ``batch_dims``
    dims of both are batch dims. ``out.shape = indices.shape[:-1] + data.shape[batch_dims + k:]``."""

    name = "nn.gather_nd"
    traits = (Pure,)
    data = operand()
    indices = operand([D.i64])
    out = result()
    batch_dims = attr(INT, default=0)

    def infer(self) -> TensorType:
        data, idx = ttype(self, self.data, "data"), ttype(self, self.indices, "indices")
        b = self.batch_dims
        if b < 0:
            self.fail(f"batch_dims must be >= 0, found {b}")
        if data.shape is None or idx.shape is None or not isinstance(idx.shape[-1] if idx.shape else 0, int):
            return TensorType(None, data.dtype)
        if len(idx.shape) < 1 or len(idx.shape) <= b or len(data.shape) <= b:
            self.fail(f"data {data} and indices {idx} need rank > batch_dims {b}")
        k = idx.shape[-1]
        if b + k > len(data.shape):  # type: ignore[operator]
            self.fail(
                f"indices address {k} dims but data {data} has {len(data.shape) - b} after the batch dims"
            )
        _same_dims(self, data.shape[:b], idx.shape[:b], "batch dims of data and indices")
        return TensorType(idx.shape[:-1] + data.shape[b + k :], data.dtype)  # type: ignore[operator]

    def reference(self, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
        b, k = self.batch_dims, indices.shape[-1]
        batch = int(np.prod(data.shape[:b], dtype=np.int64))
        d = data.reshape((batch,) + data.shape[b:])
        idx = indices.reshape(batch, -1, k)
        sel = tuple(wrap_indices(idx[..., t], data.shape[b + t]) for t in range(k))
        rows = np.arange(batch).reshape(batch, 1)
        got = d[(rows, *sel)]
        return np.asarray(got.reshape(indices.shape[:-1] + data.shape[b + k :]))


class _ScatterOp(Op):
    traits = (Pure,)
    data = operand()
    out = result()
    reduction = attr(one_of(*REDUCTIONS), default="none")

    def write(self, out: np.ndarray, where: tuple, updates: np.ndarray) -> np.ndarray:
        if self.reduction == "none":
            out[where] = updates
        else:
            _UFUNC[self.reduction].at(out, where, updates)
        return out


class ScatterElements(_ScatterOp):
    """A copy of ``data`` with ``out[indices[i][j]][j] = updates[i][j]`` for axis 0 (likewise for
    other axes), or combined with the old value by ``reduction``."""

    name = "nn.scatter_elements"
    indices = operand(IDX)
    updates = operand()
    axis = attr(INT, default=0)

    def infer(self) -> TensorType:
        data, idx, upd = (
            ttype(self, v, w)
            for v, w in ((self.data, "data"), (self.indices, "indices"), (self.updates, "updates"))
        )
        if upd.dtype != data.dtype:
            self.fail(f"updates {upd} and data {data} differ in element type")
        if idx.shape is not None and upd.shape is not None:
            if len(idx.shape) != len(upd.shape):
                self.fail(f"indices {idx} and updates {upd} differ in rank")
            _same_dims(self, idx.shape, upd.shape, "indices and updates")
        if data.shape is not None:
            norm_axis(self, self.axis, len(data.shape))
            if idx.shape is not None and len(idx.shape) != len(data.shape):
                self.fail(f"indices {idx} and data {data} differ in rank")
        return data

    def reference(self, data: np.ndarray, indices: np.ndarray, updates: np.ndarray) -> np.ndarray:
        a = self.axis % data.ndim
        grid = list(np.indices(indices.shape, sparse=True))
        grid[a] = wrap_indices(indices, data.shape[a])
        return self.write(data.copy(), tuple(grid), updates)


class ScatterND(_ScatterOp):
    """A copy of ``data`` with the slices addressed by the last dim of ``indices`` replaced by (or
    combined with) ``updates``; ``updates.shape = indices.shape[:-1] + data.shape[k:]``."""

    name = "nn.scatter_nd"
    indices = operand([D.i64])
    updates = operand()

    def infer(self) -> TensorType:
        data, idx, upd = (
            ttype(self, v, w)
            for v, w in ((self.data, "data"), (self.indices, "indices"), (self.updates, "updates"))
        )
        if upd.dtype != data.dtype:
            self.fail(f"updates {upd} and data {data} differ in element type")
        if data.shape is not None and idx.shape is not None and upd.shape is not None and idx.shape:
            k = idx.shape[-1]
            if isinstance(k, int):
                if k > len(data.shape):
                    self.fail(f"indices address {k} dims of data {data}")
                want = idx.shape[:-1] + data.shape[k:]
                if len(want) != len(upd.shape):
                    self.fail(f"updates {upd} must have shape {list(want)}")
                _same_dims(self, want, upd.shape, "updates")
        return data

    def reference(self, data: np.ndarray, indices: np.ndarray, updates: np.ndarray) -> np.ndarray:
        k = indices.shape[-1]
        where = tuple(wrap_indices(indices[..., t], data.shape[t]) for t in range(k))
        return self.write(data.copy(), where, updates)


class TensorScatter(Op):
    """KV-cache update: a copy of ``past_cache`` with ``update`` written along ``axis`` from position
    ``write_indices[batch]`` (0 when absent) of each batch entry; ``circular`` wraps the positions."""

    name = "nn.tensor_scatter"
    traits = (Pure,)
    past_cache = operand()
    update = operand()
    write_indices = opt_operand([D.i64])
    out = result()
    axis = attr(INT, default=-2)
    mode = attr(one_of("linear", "circular"), default="linear")

    def infer(self) -> TensorType:
        cache, upd = ttype(self, self.past_cache, "past_cache"), ttype(self, self.update, "update")
        if upd.dtype != cache.dtype:
            self.fail(f"update {upd} and past_cache {cache} differ in element type")
        if cache.shape is not None:
            a = norm_axis(self, self.axis, len(cache.shape))
            if a == 0:
                self.fail("axis cannot be 0 (the batch dimension)")
            if upd.shape is not None:
                if len(upd.shape) != len(cache.shape):
                    self.fail(f"update {upd} and past_cache {cache} differ in rank")
                rest = lambda s: s[:a] + s[a + 1 :]  # noqa: E731
                _same_dims(self, rest(cache.shape), rest(upd.shape), "update and past_cache outside the axis")
        return cache

    def reference(
        self, past_cache: np.ndarray, update: np.ndarray, write_indices: np.ndarray | None
    ) -> np.ndarray:
        a = self.axis % past_cache.ndim
        size, seq = past_cache.shape[a], update.shape[a]
        out = past_cache.copy()
        for b in range(past_cache.shape[0]):
            pos = np.arange(seq) + (0 if write_indices is None else int(write_indices[b]))
            if self.mode == "circular":
                pos %= size
            elif seq and (pos[0] < 0 or pos[-1] >= size):
                raise IndexError(f"write positions {pos[0]}..{pos[-1]} are outside the cache of {size}")
            out[b][(slice(None),) * (a - 1) + (pos,)] = update[b]
        return out
