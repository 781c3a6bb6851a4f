"""Data movement that changes shape but not values: reshape, transpose, concat."""

from __future__ import annotations

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT, INTS
from tritium.ir.core import Value
from tritium.ir.dialects.nn.common import mul_dims, norm_axis, ttype
from tritium.ir.opdef import Op, Pure, SameOperandsElementType, attr, operand, result, var_operand
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
