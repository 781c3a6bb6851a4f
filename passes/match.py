"""Small matching helpers for rewrite patterns: look at the IR, never change it."""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir.core import Operation, Value
from tritium.ir.opdef import constant_value


def producer(v: Value | None, *names: str) -> Any:
    """The op defining ``v`` when its name is one of ``names``."""
    op = v.defining_op if v is not None else None
    return op if op is not None and op.name in names else None


def scalar(v: Value | None) -> float | None:
    """The value of a one-element constant."""
    c = constant_value(v)
    if c is None or c.size != 1:
        return None
    return float(np.asarray(c, np.float64).reshape(-1)[0])


def is_scalar(v: Value | None, value: float, rel: float = 1e-3) -> bool:
    s = scalar(v)
    return s is not None and abs(s - value) <= rel * max(abs(value), 1e-12)


def split_operands(op: Operation, test: Any) -> tuple[Value, Value] | None:
    """For a commutative binary op: (the operand satisfying ``test``, the other one), or None."""
    a, b = op.operand(0), op.operand(1)
    if test(a):
        return a, b
    if test(b):
        return b, a
    return None


def single_user(v: Value, *names: str) -> Any:
    """The one op using ``v`` (which must have no other users), when its name is one of ``names``."""
    users = v.users
    if len(users) != 1 or users[0].name not in names:
        return None
    return users[0]


def last_axis_reduce(op: Any, rank: int) -> bool:
    """A keepdims reduction over exactly the last axis."""
    axes = op.static_axes() if hasattr(op, "static_axes") else None
    return axes == (rank - 1,) and bool(op.attributes.get("keepdims", True))
