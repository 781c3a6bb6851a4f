"""Shape and type helpers shared by the nn ops' inference and reference semantics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tritium.ir.core import Operation, Value
from tritium.ir.diagnostics import VerifyError
from tritium.ir.types import Dim, TensorType, Type

Shape = tuple[Dim, ...] | None  # None: unknown rank


def ttype(op: Operation, v: Value | Type, what: str = "operand") -> TensorType:
    """The tensor type of ``v``, or a verification error naming ``what``."""
    t = v if isinstance(v, Type) else v.type
    if not isinstance(t, TensorType):
        raise VerifyError(op, f"{what} must be a tensor, found {t}")
    return t


def broadcast_dim(a: Dim, b: Dim) -> Dim:
    """The broadcast of two dims, or raises ValueError when they cannot broadcast."""
    if a == 1:
        return b
    if b == 1 or a == b:
        return a
    if isinstance(a, int) and isinstance(b, int):
        raise ValueError(f"dimensions {a} and {b} do not broadcast")
    if isinstance(a, int):
        return a  # the other side is unknown or named: at run time it must be 1 or equal
    if isinstance(b, int):
        return b
    return None  # two different names, or unknown: cannot say which


def broadcast_shapes(op: Operation, *shapes: Shape) -> Shape:
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)  # type: ignore[arg-type]
    out: list[Dim] = [1] * rank
    for s in shapes:
        pad = (1,) * (rank - len(s)) + tuple(s)  # type: ignore[arg-type]
        for i, d in enumerate(pad):
            try:
                out[i] = broadcast_dim(out[i], d)
            except ValueError as e:
                shown = ", ".join(
                    "x".join("?" if d is None else str(d) for d in s) or "scalar" for s in shapes
                )  # type: ignore[union-attr]
                raise VerifyError(op, f"operand shapes {shown} do not broadcast: {e}") from None
    return tuple(out)


def norm_axis(op: Operation, axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise VerifyError(op, f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def norm_axes(op: Operation, axes: Sequence[int], rank: int, what: str = "axes") -> tuple[int, ...]:
    out = tuple(norm_axis(op, a, rank, what) for a in axes)
    if len(set(out)) != len(out):
        raise VerifyError(op, f"{what} {list(axes)} repeat an axis")
    return out


def mul_dims(dims: Sequence[Dim]) -> Dim:
    n = 1
    for d in dims:
        if not isinstance(d, int):
            return None
        n *= d
    return n


def as_dtype(x: np.ndarray, like: TensorType) -> np.ndarray:
    """``x`` in the element type of ``like`` (reference semantics return exactly the declared dtype)."""
    dt = like.dtype.np_dtype
    return x if x.dtype == dt else np.asarray(x).astype(dt)
