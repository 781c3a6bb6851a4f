"""fold-constants: evaluate ops whose operands are all constants, through their reference semantics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.core import Operation
from tritium.ir.interpreter import Interpreter
from tritium.ir.opdef import ConstantLike, Op, Pure, constant_value
from tritium.ir.rewriter import Rewriter
from tritium.ir.types import TensorType
from tritium.passes.base import Pass, register_pass
from tritium.passes.canonicalize import materialize_constant


def _foldable(op: Operation) -> list[np.ndarray] | None:
    if not isinstance(op, Op) or Pure not in op.TRAITS or ConstantLike in op.TRAITS or op.regions:
        return None
    if type(op).reference is Op.reference:
        return None
    if not all(isinstance(r.type, TensorType) for r in op.results):
        return None
    values = []
    for v in op._operands:
        c = constant_value(v)
        if c is None:
            return None
        values.append(c)
    return values


@register_pass
@dataclass(frozen=True)
class FoldConstants(Pass):
    """Replace ops computed from constants alone by constants holding their results.

    Requires: valid IR whose weights are loaded. Guarantees: every pure op (with reference semantics
    and no regions) whose operands are all constants is replaced by constants, in one forward sweep,
    so chains fold completely (shape subgraphs included), unless its results together exceed
    ``max_bytes`` while one of its constant operands has other users: then folding would store the
    data twice, and the op stays. Constants left without users are removed, with their weights.
    """

    name = "fold-constants"
    max_bytes: int = 1 << 20

    def run(self, module: Any) -> dict[str, int]:
        from tritium.passes.dce import DCE

        rw = Rewriter()
        interp = Interpreter(module)
        folded = kept = 0
        for op in list(module.walk()):
            if op.parent is None:
                continue
            values = _foldable(op)
            if values is None:
                continue
            size = sum(r.type.nbytes or 0 for r in op.results)
            shared = any(len(v.uses) > 1 for v in op._operands)
            if size > self.max_bytes and shared:
                kept += 1
                continue
            outs = interp.eval_op(op, values, {})
            new = [materialize_constant(np.asarray(x), op, rw) for x in outs]
            rw.replace_op(op, new)
            folded += 1
        stats = DCE().run(module)
        return {
            "ops folded": folded,
            "ops kept (size limit)": kept,
            "weights dropped": stats["weights dropped"],
        }
