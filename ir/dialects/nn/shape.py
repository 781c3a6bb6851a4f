"""Data movement that changes shape but not values: reshape, transpose, concat, shape, size, flatten,
squeeze, unsqueeze, expand, tile, depth_to_space, space_to_depth."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT, INTS, one_of
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import broadcast_shapes, mul_dims, norm_axes, norm_axis, ttype
from tritium.ir.opdef import (
    Op,
    Pure,
    SameOperandsElementType,
    attr,
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
        target = self.const(self.shape)
        if target is None:
            n = s.shape[0]
            return TensorType(None if not isinstance(n, int) else (None,) * n, x.dtype)
        return TensorType(reshape_dims(self, x.shape, [int(v) for v in target], self.allowzero), x.dtype)

    def reference(self, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
        dims = [int(v) for v in shape]
        if not self.allowzero:
            dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
        return x.reshape(dims)

    def fold(self) -> list[Value] | None:
        if self.x.type == self.results[0].type and self.results[0].type.is_static:  # type: ignore[attr-defined]
            return [self.x]
        return None


def reshape_dims(op: Op, src: tuple[Dim, ...] | None, target: list[int], allowzero: bool) -> tuple[Dim, ...]:
    if target.count(-1) > 1:
        op.fail(f"shape {target} has more than one -1")
    out: list[Dim] = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if src is None or i >= len(src):
                out.append(None)
            else:
                out.append(src[i])
        elif d < -1:
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


def _infer_minus_one(op: Op, src: tuple[Dim, ...] | None, rest: list[Dim], target: list[int]) -> Dim:
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


def vector_len(op: Op, v: Value, what: str) -> int | None:
    """The length of a 1-D operand (None when unknown); a verification error when it is not 1-D."""
    t = ttype(op, v, what)
    if t.shape is None:
        return None
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
        n = vector_len(self, self.axes, "axes")
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
        return [self.x] if self.x.type == self.results[0].type and self.x.type.is_static else None  # type: ignore[attr-defined]


class Unsqueeze(Op):
    """Insert size-1 dims at the positions ``axes`` of the result."""

    name = "nn.unsqueeze"
    traits = (Pure,)
    x = operand()
    axes = operand(IDX)
    out = result()

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        n = vector_len(self, self.axes, "axes")
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
        n = vector_len(self, self.shape, "shape")
        target = const_ints(self, self.shape)
        if target is not None:
            if any(d < 0 for d in target):
                self.fail(f"shape {target} has a negative size")
            return TensorType(broadcast_shapes(self, x.shape, tuple(target)), x.dtype)
        if x.shape is None or n is None:
            return TensorType(None, x.dtype)
        rank = max(n, len(x.shape))
        src = (1,) * (rank - len(x.shape)) + tuple(x.shape)
        return TensorType(tuple(d if isinstance(d, int) and d != 1 else None for d in src), x.dtype)

    def reference(self, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
        out = np.broadcast_shapes(x.shape, tuple(int(d) for d in shape))
        return np.ascontiguousarray(np.broadcast_to(x, out))


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


class _BlockOp(Op):
    """DepthToSpace / SpaceToDepth on NCHW: blocks of ``blocksize`` x ``blocksize`` pixels."""

    traits = (Pure,)
    x = operand()
    out = result()
    blocksize = attr(INT)
    mode = attr(one_of("DCR", "CRD"), default="DCR")

    def verify_op(self) -> None:
        x = ttype(self, self.x, "x")
        if x.rank not in (None, 4):
            self.fail(f"x must be 4-D (NCHW), found {x}")
        if self.blocksize < 1:
            self.fail(f"blocksize must be >= 1, found {self.blocksize}")


class DepthToSpace(_BlockOp):
    """``[N, C*b*b, H, W] -> [N, C, H*b, W*b]``; DCR: channel = (bh*b + bw)*C + c, CRD: c*b*b + bh*b + bw."""

    name = "nn.depth_to_space"

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return unknown_dims(4, x.dtype)
        n, c, h, w = x.shape
        b = self.blocksize
        if isinstance(c, int) and c % (b * b):
            self.fail(f"{c} channels are not divisible by blocksize^2 = {b * b}")
        return TensorType((n, _div(c, b * b), prod_dim((h, b)), prod_dim((w, b))), x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        b = self.blocksize
        if self.mode == "DCR":
            t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return t.reshape(n, c // (b * b), h * b, w * b)


class SpaceToDepth(_BlockOp):
    """``[N, C, H*b, W*b] -> [N, C*b*b, H, W]``, the inverse of depth_to_space in the same mode."""

    name = "nn.space_to_depth"

    def infer(self) -> TensorType:
        x = ttype(self, self.x, "x")
        if x.shape is None:
            return unknown_dims(4, x.dtype)
        n, c, h, w = x.shape
        b = self.blocksize
        for d in (h, w):
            if isinstance(d, int) and d % b:
                self.fail(f"spatial dims {h}x{w} are not divisible by blocksize {b}")
        return TensorType((n, prod_dim((c, b * b)), _div(h, b), _div(w, b)), x.dtype)

    def reference(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        b = self.blocksize
        t = x.reshape(n, c, h // b, b, w // b, b)
        t = t.transpose(0, 3, 5, 1, 2, 4) if self.mode == "DCR" else t.transpose(0, 1, 3, 5, 2, 4)
        return t.reshape(n, c * b * b, h // b, w // b)


def _div(d: Dim, k: int) -> Dim:
    if k == 1:
        return d
    return d // k if isinstance(d, int) else None
