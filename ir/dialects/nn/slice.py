"""Selecting parts of a tensor along axes: slice, split, compress, reverse_sequence."""

from __future__ import annotations

import itertools

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT
from tritium.ir.dialects.nn.common import norm_axes, norm_axis, ttype
from tritium.ir.dialects.nn.shape import IDX, const_ints, fold_entries, unknown_dims, vector_len
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, result, var_result
from tritium.ir.types import Dim, TensorType

BIG = 1 << 31
"""Starts/ends at or beyond this mean 'to the end of the dim' whatever its size."""


def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX Slice bounds for one axis of size ``dim``: (start, end, count), with end -1 meaning
    'before the first element' for negative steps."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        count = max(0, (end - start + step - 1) // step)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        count = max(0, (start - end - step - 1) // -step)
    return start, end, count


class Slice(Op):
    """``x[starts[i]:ends[i]:steps[i]]`` along ``axes[i]`` (ONNX clamping; axes default to 0..n-1,
    steps to 1)."""

    name = "nn.slice"
    traits = (Pure,)
    x = operand()
    starts = operand(IDX)
    ends = operand(IDX)
    axes = opt_operand(IDX)
    steps = opt_operand(IDX)
    out = result()

    def verify_op(self) -> None:
        ns = [vector_len(self, v, w) for v, w in ((self.starts, "starts"), (self.ends, "ends"))]
        for v, w in ((self.axes, "axes"), (self.steps, "steps")):
            if v is not None:
                ns.append(vector_len(self, v, w))
        known = {n for n in ns if n is not None}
        if len(known) > 1:
            self.fail(f"starts, ends, axes and steps differ in length: {sorted(known)}")
        steps = const_ints(self, self.steps)
        if steps is not None and 0 in steps:
            self.fail(f"steps {steps} has a zero step")

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return x
        rank = len(x.shape)
        n = vector_len(self, self.starts, "starts")
        if self.axes is None:
            axes = None if n is None else list(range(n))
        else:
            c = const_ints(self, self.axes)
            axes = None if c is None else list(norm_axes(self, c, rank))
        if axes is None:
            return unknown_dims(rank, x.dtype)
        starts, ends = const_ints(self, self.starts), const_ints(self, self.ends)
        steps = [1] * len(axes) if self.steps is None else const_ints(self, self.steps)
        out: list[Dim] = list(x.shape)
        for i, a in enumerate(axes):
            out[a] = None
            if starts is None or ends is None or steps is None:
                continue
            d = x.shape[a]
            if isinstance(d, int):
                out[a] = slice_bounds(d, starts[i], ends[i], steps[i])[2]
            elif starts[i] == 0 and ends[i] >= BIG and steps[i] == 1:
                out[a] = d
        return TensorType(tuple(out), x.dtype)

    def reference(self, x, starts, ends, axes, steps) -> np.ndarray:  # type: ignore[no-untyped-def]
        n = starts.size
        axes_l = list(range(n)) if axes is None else [int(a) % x.ndim for a in axes.reshape(-1)]
        steps_l = [1] * n if steps is None else [int(s) for s in steps.reshape(-1)]
        index = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes_l, starts.reshape(-1), ends.reshape(-1), steps_l):
            b, f, _ = slice_bounds(x.shape[a], int(s), int(e), st)
            index[a] = slice(b, f if f >= 0 else None, st)
        return np.asarray(x[tuple(index)])

    def fold(self) -> list[np.ndarray] | None:
        return fold_entries(self)  # dims sliced out of a shape (Shape -> Slice chains)


class Split(Op):
    """Split ``x`` along ``axis`` into parts of the sizes in ``split``, or into ``num_outputs`` parts
    of ceil(n / num_outputs) elements (the last one smaller)."""

    name = "nn.split"
    traits = (Pure,)
    x = operand()
    split = opt_operand([D.i64])
    outs = var_result()
    axis = attr(INT, default=0)
    num_outputs = attr(INT, default=None)

    def sizes(self, dim: Dim) -> list[Dim]:
        """The size of each part (None where unknown)."""
        if self.split is not None:
            if self.num_outputs is not None:
                self.fail("takes either split or num_outputs, not both")
            n = vector_len(self, self.split, "split")
            if n is None:
                self.fail("split must have a static length (it gives the number of results)")
            parts = const_ints(self, self.split)
            if parts is None:
                return [None] * n  # type: ignore[operator]
            if any(p < 0 for p in parts):
                self.fail(f"split {parts} has a negative size")
            if isinstance(dim, int) and sum(parts) != dim:
                self.fail(f"split {parts} does not add up to the dimension size {dim}")
            return list(parts)
        k = self.num_outputs
        if k is None or k < 1:
            self.fail(f"needs split or num_outputs >= 1, found num_outputs {k}")
        if not isinstance(dim, int):
            return [None] * k  # type: ignore[operator]
        chunk = -(-dim // k)
        last = dim - chunk * (k - 1)
        if last < 0:
            self.fail(f"cannot split a dimension of size {dim} into {k} parts of {chunk}")
        return [chunk] * (k - 1) + [last]

    def infer(self) -> list[TensorType]:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return [x for _ in self.sizes(None)]
        a = norm_axis(self, self.axis, len(x.shape))
        return [TensorType(x.shape[:a] + (s,) + x.shape[a + 1 :], x.dtype) for s in self.sizes(x.shape[a])]

    def reference(self, x: np.ndarray, split: np.ndarray | None) -> tuple[np.ndarray, ...]:
        a = self.axis % x.ndim
        if split is not None:
            sizes = [int(s) for s in split]
            if sum(sizes) != x.shape[a]:
                raise ValueError(f"split {sizes} does not add up to the dimension size {x.shape[a]}")
        else:
            sizes = self.sizes(x.shape[a])  # type: ignore[assignment]
        bounds = np.cumsum([0, *sizes])
        index = [slice(None)] * x.ndim
        outs = []
        for lo, hi in itertools.pairwise(bounds):
            index[a] = slice(int(lo), int(hi))
            outs.append(np.asarray(x[tuple(index)]))
        return tuple(outs)


class Compress(Op):
    """The slices of ``x`` along ``axis`` where ``condition`` is true (of the flattened ``x`` when
    there is no axis). The result size depends on the data."""

    name = "nn.compress"
    traits = (Pure,)
    x = operand()
    condition = operand([D.bool_])
    out = result()
    axis = attr(INT, default=None)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        vector_len(self, self.condition, "condition")
        c = self.const(self.condition)
        if self.axis is None:
            return TensorType((None if c is None else int(np.count_nonzero(c)),), x.dtype)
        if x.shape is None:
            return x
        a = norm_axis(self, self.axis, len(x.shape))
        n = None if c is None else int(np.count_nonzero(c))
        return TensorType(x.shape[:a] + (n,) + x.shape[a + 1 :], x.dtype)

    def reference(self, x: np.ndarray, condition: np.ndarray) -> np.ndarray:
        if self.axis is None:
            flat = x.reshape(-1)
            keep = np.flatnonzero(condition)
            if keep.size and keep[-1] >= flat.size:
                raise ValueError("condition selects elements beyond the input")
            return flat[keep]
        a = self.axis % x.ndim
        keep = np.flatnonzero(condition)
        if keep.size and keep[-1] >= x.shape[a]:
            raise ValueError(f"condition selects index {keep[-1]} of a dimension of size {x.shape[a]}")
        return np.take(x, keep, axis=a)


class ReverseSequence(Op):
    """For each batch entry b, reverse the first ``sequence_lens[b]`` elements along ``time_axis``."""

    name = "nn.reverse_sequence"
    traits = (Pure,)
    x = operand()
    sequence_lens = operand([D.i64])
    out = result()
    batch_axis = attr(INT, default=1)
    time_axis = attr(INT, default=0)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.rank is not None and x.rank < 2:
            self.fail(f"x must have rank >= 2, found {x}")
        if sorted((self.batch_axis, self.time_axis)) != [0, 1]:
            self.fail(f"batch_axis and time_axis must be 0 and 1, found {self.batch_axis}, {self.time_axis}")
        n = vector_len(self, self.sequence_lens, "sequence_lens")
        b = x.shape[self.batch_axis] if x.shape is not None else None
        if isinstance(n, int) and isinstance(b, int) and n != b:
            self.fail(f"sequence_lens has {n} values for a batch of {b}")

    def infer(self) -> TensorType:
        return ttype(self, self.x, "x")

    def reference(self, x: np.ndarray, sequence_lens: np.ndarray) -> np.ndarray:
        out = x.copy()
        for b, n in enumerate(int(s) for s in sequence_lens):
            idx: list = [slice(None)] * x.ndim
            idx[self.batch_axis] = b
            src = list(idx)
            idx[self.time_axis] = slice(0, n)
            src[self.time_axis] = slice(n - 1, None, -1) if n > 0 else slice(0, 0)
            out[tuple(idx)] = x[tuple(src)]
        return out
