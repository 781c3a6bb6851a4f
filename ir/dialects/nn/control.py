"""Control flow: ops with regions whose values are yielded back to them."""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.opdef import Op, Terminator, operand, region, var_operand, var_result
from tritium.ir.types import TensorType, Type, dims_compatible


class Yield(Op):
    """Ends a region of a control-flow op (if/loop/scan bodies, kernel bodies), yielding its values."""

    name = "nn.yield"
    traits = (Terminator,)
    values = var_operand()

    def infer(self) -> list:
        return []


def join_types(a: Type, b: Type) -> Type | None:
    """The most precise type describing both ``a`` and ``b`` (None when they cannot be joined)."""
    if a == b:
        return a
    if isinstance(a, TensorType) and isinstance(b, TensorType) and a.dtype == b.dtype:
        if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
            return TensorType(None, a.dtype)
        return TensorType(tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a.dtype)
    return None


def yielded(op: Op, index: int) -> list[Any]:
    last = op.regions[index].block.last_op
    if not isinstance(last, Yield):
        op.fail(f"region #{index} must end with nn.yield")
    return list(last.values)


class If(Op):
    """Runs ``then_region`` when ``cond`` (a one-element bool tensor) is true, else ``else_region``;
    the results are the values the branch yields."""

    name = "nn.if"
    cond = operand([D.bool_])
    outs = var_result()
    then_region = region()
    else_region = region()

    def infer(self) -> list[Type]:
        a = [v.type for v in yielded(self, 0)]
        b = [v.type for v in yielded(self, 1)]
        if len(a) != len(b):
            self.fail(f"branches yield {len(a)} and {len(b)} values")
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            j = join_types(x, y)
            if j is None:
                self.fail(f"branches yield incompatible types for result #{i}: {x} and {y}")
            out.append(j)
        return out

    def verify_op(self) -> None:
        t = self.cond.type
        if (
            isinstance(t, TensorType)
            and t.shape is not None
            and any(isinstance(d, int) and d != 1 for d in t.shape)
        ):
            self.fail(f"cond must hold one element, found {t}")
        for r, t in zip(self.results, self.infer()):
            if isinstance(t, TensorType) and isinstance(r.type, TensorType) and t.shape and r.type.shape:
                if not all(dims_compatible(x, y) for x, y in zip(t.shape, r.type.shape)):
                    self.fail(f"result #{r.index} has type {r.type} but the branches yield {t}")

    def evaluate(self, interp: Any, vals: list[Any], env: dict) -> tuple:
        cond = bool(np.asarray(vals[0]).reshape(-1)[0])
        return tuple(interp.run_block(self.regions[0 if cond else 1].block, [], env))
