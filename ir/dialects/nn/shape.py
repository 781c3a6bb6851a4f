"""Data movement that changes shape but not values: reshape, transpose, concat, shape, size, flatten,
squeeze, unsqueeze, expand, tile; and `shape_entries`, what is known of a shape being computed."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT, INTS
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import broadcast_shapes, mul_dims, norm_axes, norm_axis, ttype
from tritium.ir.opdef import (
    Op,
    Pure,
    SameOperandsElementType,
    attr,
    constant_value,
    operand,
    opt_operand,
    result,
    var_operand,
)
from tritium.ir.types import Dim, TensorType


class Reshape(Op):
    """ONNX Reshape: ``shape`` holds the new dims; 0 copies the input dim (unless ``allowzero``),
    -1 is inferred from the element count."""

    name = "nn.reshape"
    traits = (Pure,)
    x = operand()
    shape = operand([D.i64])
    out = result()
    allowzero = attr(BOOL, default=False)

    def infer(self) -> TensorType:
        x, s = ttype(self, self.x, "x"), ttype(self, self.shape, "shape")
        if s.shape is None or len(s.shape) != 1:
            self.fail(f"shape must be a 1-D tensor, found {s}")
        target = shape_entries(self.shape)
        if target is None:
            n = s.shape[0]
            return TensorType(None if not isinstance(n, int) else (None,) * n, x.dtype)
        return TensorType(reshape_dims(self, x.shape, target, self.allowzero), x.dtype)

    def reference(self, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
        dims = [int(v) for v in shape]
        if not self.allowzero:
            dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
        return x.reshape(dims)

    def fold(self) -> list[Value] | None:
        if self.x.type == self.results[0].type and self.results[0].type.is_static:  # type: ignore[attr-defined]
            return [self.x]
        return None


def reshape_dims(op: Op, src: tuple[Dim, ...] | None, target: list[Dim], allowzero: bool) -> tuple[Dim, ...]:
    """The result dims of a reshape to ``target``, whose entries may be symbolic (see `shape_entries`)."""
    if target.count(-1) > 1:
        op.fail(f"shape {target} has more than one -1")
    out: list[Dim] = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if src is None or i >= len(src):
                out.append(None)
            else:
                out.append(src[i])
        elif isinstance(d, int) and d < -1:
            op.fail(f"shape {target} has a negative size {d}")
        else:
            out.append(d)
    if -1 in out:
        out[out.index(-1)] = _infer_minus_one(op, src, [d for d in out if d != -1], target)
    total, new = (mul_dims(src) if src is not None else None), mul_dims(out)
    if isinstance(total, int) and isinstance(new, int) and total != new:
        op.fail(f"cannot reshape {total} elements into shape {out} ({new} elements)")
    return tuple(out)


def _factors(dims: tuple[Dim, ...] | list[Dim]) -> tuple[int, list[Dim]] | None:
    """(product of static dims, named dims) or None when a dim is unknown."""
    n, names = 1, []
    for d in dims:
        if d is None:
            return None
        if isinstance(d, str):
            names.append(d)
        else:
            n *= d
    return n, names


def _infer_minus_one(op: Op, src: tuple[Dim, ...] | None, rest: list[Dim], target: list[Dim]) -> Dim:
    """The size of the -1 dim: total / rest, cancelling named dims that appear on both sides."""
    total = _factors(src) if src is not None else None
    known = _factors(rest)
    if total is None or known is None:
        return None
    names = list(total[1])
    for d in known[1]:
        if d not in names:
            return None
        names.remove(d)
    if known[0] == 0 or total[0] % known[0]:
        op.fail(f"cannot reshape {src} into {target}")
    n = total[0] // known[0]
    if not names:
        return n
    return names[0] if len(names) == 1 and n == 1 else None


class Transpose(Op):
    """Permute dimensions: ``out.shape[i] = x.shape[perm[i]]``."""

    name = "nn.transpose"
    traits = (Pure,)
    x = operand()
    out = result()
    perm = attr(INTS)

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.shape is not None and sorted(self.perm) != list(range(len(x.shape))):
            self.fail(f"perm {list(self.perm)} is not a permutation of the {len(x.shape)} dims of {x}")

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return x
        return TensorType(tuple(x.shape[p] for p in self.perm), x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.transpose(x, self.perm)

    def fold(self) -> list[Value] | None:
        if list(self.perm) == sorted(self.perm):
            return [self.x]
        return None


class Concat(Op):
    """Join tensors along ``axis``."""

    name = "nn.concat"
    traits = (Pure, SameOperandsElementType)
    inputs = var_operand()
    out = result()
    axis = attr(INT)

    def infer(self) -> TensorType:
        types = [ttype(self, v, "input") for v in self.inputs]
        if not types:
            self.fail("needs at least one input")
        ranked = [t for t in types if t.shape is not None]
        if not ranked:
            return types[0]
        rank = len(ranked[0].shape)  # type: ignore[arg-type]
        if any(len(t.shape) != rank for t in ranked):  # type: ignore[arg-type]
            self.fail("inputs differ in rank: " + ", ".join(map(str, types)))
        axis = norm_axis(self, self.axis, rank)
        out: list[Dim] = []
        for i in range(rank):
            dims = [t.shape[i] for t in ranked]  # type: ignore[index]
            if i == axis:
                known = len(ranked) == len(types) and all(isinstance(d, int) for d in dims)
                out.append(sum(dims) if known else None)  # type: ignore[arg-type]
            else:
                static = {d for d in dims if isinstance(d, int)}
                if len(static) > 1:
                    self.fail(f"inputs differ in dimension {i}: " + ", ".join(map(str, types)))
                out.append(static.pop() if static else dims[0])
        return TensorType(tuple(out), types[0].dtype)

    def reference(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(inputs, axis=self.axis)

    def fold(self) -> list[Value] | None:
        if len(self._operands) == 1 and self._operands[0].type == self.results[0].type:
            return [self._operands[0]]
        return None


# ---------------------------------------------------------------------------------------------------
# Helpers shared by the shape and data-movement ops (slice.py, gather.py, pad.py, ... import them).

IDX = (D.i32, D.i64)
"""Element types of index-like operands (indices, starts, pads) where ONNX accepts int32 or int64."""


def const_ints(op: Op, v: Value | None) -> list[int] | None:
    """The values of a constant integer operand (any rank, flattened), or None when not constant."""
    c = op.const(v)
    return None if c is None else [int(a) for a in np.asarray(c).reshape(-1)]


def vector_len(op: Op, v: Value, what: str, scalar_ok: bool = False) -> int | None:
    """The length of a 1-D operand (None when unknown); a verification error when it is not 1-D
    (a scalar counts as one value when ``scalar_ok``)."""
    t = ttype(op, v, what)
    if t.shape is None:
        return None
    if scalar_ok and not t.shape:
        return 1
    if len(t.shape) != 1:
        op.fail(f"{what} must be a 1-D tensor, found {t}")
    n = t.shape[0]
    return n if isinstance(n, int) else None


def prod_dim(dims: tuple[Dim, ...] | list[Dim]) -> Dim:
    """The product of dims: an int when all are static, a name when it is one name times ones."""
    named = [d for d in dims if not isinstance(d, int)]
    n = mul_dims([d for d in dims if isinstance(d, int)])
    if not named:
        return n
    if len(named) == 1 and isinstance(named[0], str) and n == 1:
        return named[0]
    return None


def unknown_dims(n: int | None, dtype: D.DType) -> TensorType:
    """A tensor of ``n`` unknown dims (unknown rank when ``n`` is None)."""
    return TensorType(None if n is None else (None,) * n, dtype)


MAX_ENTRIES = 64
"""`shape_entries` computes values of at most this many elements."""


def shape_entries(v: Value, depth: int = 12) -> list[Dim] | None:
    """The entries of a scalar or 1-D integer value that holds dims (a shape being computed), as far
    as they are known at build time: ints, names of input dims, or None. None when even the number of
    entries is unknown. Follows constants, nn.shape and the ops that shape subgraphs use to move its
    entries around (gather, slice, concat, unsqueeze/squeeze/reshape of one element)."""
    t = v.type
    if not isinstance(t, TensorType) or t.rank not in (0, 1) or not t.dtype.is_int:
        return None
    c = constant_value(v)
    if c is not None:
        return [int(a) for a in np.asarray(c).reshape(-1)] if c.size <= MAX_ENTRIES else None
    op = v.defining_op
    entries: list[Dim] | None = None
    if depth > 0 and isinstance(op, Op):
        entries = _entries_of(op, depth - 1)
    if entries is None and t.shape is not None:
        n = 1 if not t.shape else t.shape[0]
        return None if not isinstance(n, int) else [None] * n
    return entries


def _entries_of(op: Op, depth: int) -> list[Dim] | None:
    if isinstance(op, Shape):
        dims = op._dims()
        return None if dims is None else list(dims)
    if isinstance(op, Concat):
        parts = [shape_entries(x, depth) for x in op.inputs]
        return None if any(p is None for p in parts) else [d for p in parts for d in p]  # type: ignore[union-attr]
    if isinstance(op, Squeeze | Unsqueeze | Reshape):
        src = shape_entries(op.x, depth)
        return src if src is not None and len(src) == 1 else None
    operands = {d.name: v for d, v in zip(type(op).OPERANDS, op.operand_groups(op.operands))}
    src = operands.get("data") if op.name == "nn.gather" else operands.get("x")
    if op.name not in ("nn.gather", "nn.slice") or src is None or src.type.rank != 1:
        return _evaluate(op, depth)
    data = shape_entries(src, depth)
    if data is None:
        return None
    if op.name == "nn.gather":
        idx = const_ints(op, operands["indices"])
        ok = idx is not None and all(-len(data) <= i < len(data) for i in idx)
        return [data[i] for i in idx] if ok else None  # type: ignore[union-attr]
    from tritium.ir.dialects.nn.slice import slice_bounds

    starts, ends = const_ints(op, operands["starts"]), const_ints(op, operands["ends"])
    steps = [1] if operands["steps"] is None else const_ints(op, operands["steps"])
    if starts is None or ends is None or steps is None:
        return None
    b, e, _ = slice_bounds(len(data), starts[0], ends[0], steps[0])
    return data[b : (e if e >= 0 else None) : steps[0]]


def _evaluate(op: Op, depth: int) -> list[Dim] | None:
    """Entries of a pure single-result op computed from operands whose entries are all known ints
    (arithmetic on static dims, e.g. the product of two of them)."""
    if Pure not in op.TRAITS or op.regions or len(op.results) != 1 or not op.operands:
        return None
    t = op.results[0].type
    if (
        type(op).reference is Op.reference
        or not isinstance(t, TensorType)
        or (t.numel or MAX_ENTRIES + 1) > MAX_ENTRIES
    ):
        return None
    args = []
    for v in op.operands:
        t = v.type
        entries = shape_entries(v, depth)
        if entries is None or not t.is_static or not all(isinstance(d, int) for d in entries):  # type: ignore[attr-defined]
            return None
        args.append(np.asarray(entries, t.dtype.np_dtype).reshape(t.shape))  # type: ignore[attr-defined]
    try:
        out = op.reference(*op.operand_groups(args))
    except Exception:
        return None
    out = out[0] if isinstance(out, tuple) else out
    if (
        not isinstance(out, np.ndarray)
        or out.ndim > 1
        or out.dtype.kind not in "iu"
        or t.dtype.np_dtype != out.dtype
    ):
        return None
    return [int(a) for a in out.reshape(-1)]


def fold_entries(op: Op) -> list[np.ndarray] | None:
    """``[array]`` when the single result of ``op`` is a shape value whose entries are all known ints."""
    t = op.results[0].type
    entries = _entries_of(op, 12)
    if (
        entries is None
        or not all(isinstance(d, int) for d in entries)
        or not t.is_static
        or t.numel != len(entries)
    ):  # type: ignore[attr-defined]
        return None
    return [np.asarray(entries, t.dtype.np_dtype).reshape(t.shape)]  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------


class Shape(Op):
    """The dims ``start:end`` of ``x``'s shape as a 1-D i64 tensor (python slice clamping)."""

    name = "nn.shape"
    traits = (Pure,)
    x = operand()
    out = result()
    start = attr(INT, default=0)
    end = attr(INT, default=None)

    def _dims(self) -> tuple[Dim, ...] | None:
        shape = ttype(self, self.x, "x").shape
        return None if shape is None else shape[self.start : self.end]

    def infer(self) -> TensorType:
        dims = self._dims()
        return TensorType((None if dims is None else len(dims),), D.i64)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x.shape[self.start : self.end], np.int64).reshape(-1)

    def fold(self) -> list[np.ndarray] | None:
        dims = self._dims()
        if dims is None or not all(isinstance(d, int) for d in dims):
            return None
        return [np.asarray(dims, np.int64).reshape(-1)]


class Size(Op):
    """The number of elements of ``x`` as an i64 scalar."""

    name = "nn.size"
    traits = (Pure,)
    x = operand()
    out = result()

    def infer(self) -> TensorType:
        ttype(self, self.x, "x")
        return TensorType((), D.i64)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x.size, np.int64)

    def fold(self) -> list[np.ndarray] | None:
        n = ttype(self, self.x, "x").numel
        return None if n is None else [np.asarray(n, np.int64)]


class Flatten(Op):
    """Reshape to 2-D: ``(prod(shape[:axis]), prod(shape[axis:]))``."""

    name = "nn.flatten"
    traits = (Pure,)
    x = operand()
    out = result()
    axis = attr(INT, default=1)

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return unknown_dims(2, x.dtype)
        rank = len(x.shape)
        if not -rank <= self.axis <= rank:
            self.fail(f"axis {self.axis} is out of range for rank {rank}")
        a = self.axis if self.axis >= 0 else self.axis + rank
        return TensorType((prod_dim(x.shape[:a]), prod_dim(x.shape[a:])), x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        a = self.axis if self.axis >= 0 else self.axis + x.ndim
        return x.reshape(int(np.prod(x.shape[:a], dtype=np.int64)), int(np.prod(x.shape[a:], dtype=np.int64)))


class Squeeze(Op):
    """Remove the size-1 dims listed in ``axes`` (all size-1 dims when ``axes`` is absent)."""

    name = "nn.squeeze"
    traits = (Pure,)
    x = operand()
    axes = opt_operand(IDX)
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if self.axes is None:
            if x.shape is None or not all(isinstance(d, int) for d in x.shape):
                return TensorType(None, x.dtype)
            return TensorType(tuple(d for d in x.shape if d != 1), x.dtype)
        n = vector_len(self, self.axes, "axes", scalar_ok=True)
        axes = const_ints(self, self.axes)
        if x.shape is None:
            return TensorType(None, x.dtype)
        if axes is None:
            return unknown_dims(None if n is None else len(x.shape) - n, x.dtype)
        axes_n = norm_axes(self, axes, len(x.shape))
        for a in axes_n:
            if isinstance(x.shape[a], int) and x.shape[a] != 1:
                self.fail(f"cannot squeeze dimension {a} of size {x.shape[a]} in {x}")
        return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes_n), x.dtype)

    def reference(self, x: np.ndarray, axes: np.ndarray | None) -> np.ndarray:
        if axes is None:
            return x.reshape([d for d in x.shape if d != 1])
        ax = {int(a) % x.ndim for a in axes.reshape(-1)}
        return x.reshape([d for i, d in enumerate(x.shape) if i not in ax])

    def fold(self) -> list[Value] | None:
        return _same(self)


class Unsqueeze(Op):
    """Insert size-1 dims at the positions ``axes`` of the result."""

    name = "nn.unsqueeze"
    traits = (Pure,)
    x = operand()
    axes = operand(IDX)
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        n = vector_len(self, self.axes, "axes", scalar_ok=True)
        axes = const_ints(self, self.axes)
        if x.shape is None or n is None:
            return TensorType(None, x.dtype)
        rank = len(x.shape) + n
        if axes is None:
            return unknown_dims(rank, x.dtype)
        axes_n = norm_axes(self, axes, rank)
        dims = iter(x.shape)
        return TensorType(tuple(1 if i in axes_n else next(dims) for i in range(rank)), x.dtype)

    def reference(self, x: np.ndarray, axes: np.ndarray) -> np.ndarray:
        rank = x.ndim + axes.size
        ax = {int(a) % rank for a in axes.reshape(-1)}
        dims = iter(x.shape)
        return x.reshape([1 if i in ax else next(dims) for i in range(rank)])


class Expand(Op):
    """Broadcast ``x`` against the shape held in ``shape`` (both ways, like numpy)."""

    name = "nn.expand"
    traits = (Pure,)
    x = operand()
    shape = operand([D.i64])
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        vector_len(self, self.shape, "shape")
        target = shape_entries(self.shape)
        if target is None:
            return TensorType(None, x.dtype)
        if any(isinstance(d, int) and d < 0 for d in target):
            self.fail(f"shape {target} has a negative size")
        return TensorType(broadcast_shapes(self, x.shape, tuple(target)), x.dtype)

    def reference(self, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
        out = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
        return np.asarray(np.broadcast_to(x, out))

    def fold(self) -> list[Value] | None:
        return _same(self)


class Tile(Op):
    """Repeat ``x`` ``repeats[i]`` times along each dim i."""

    name = "nn.tile"
    traits = (Pure,)
    x = operand()
    repeats = operand([D.i64])
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        n = vector_len(self, self.repeats, "repeats")
        if x.shape is not None and n is not None and n != len(x.shape):
            self.fail(f"repeats has {n} values for the {len(x.shape)} dims of {x}")
        reps = const_ints(self, self.repeats)
        if x.shape is None:
            return x
        if reps is None:
            return unknown_dims(len(x.shape), x.dtype)
        if any(r < 0 for r in reps):
            self.fail(f"repeats {reps} has a negative value")
        return TensorType(tuple(prod_dim((d, r)) for d, r in zip(x.shape, reps)), x.dtype)

    def reference(self, x: np.ndarray, repeats: np.ndarray) -> np.ndarray:
        return np.tile(x, [int(r) for r in repeats]).reshape([d * int(r) for d, r in zip(x.shape, repeats)])

    def fold(self) -> list[Value] | None:
        return _same(self)


def _same(op: Op) -> list[Value] | None:
    """``[x]`` when an op that only repeats the elements of ``x`` keeps its (static) type."""
    x = op.operands[0]
    return [x] if x.type == op.results[0].type and x.type.is_static else None  # type: ignore[attr-defined]
