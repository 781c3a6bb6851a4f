"""cse: common subexpression elimination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tritium.ir.core import Block, Operation
from tritium.ir.opdef import IsolatedFromAbove, Pure
from tritium.ir.rewriter import Rewriter
from tritium.passes.base import Pass, register_pass


def _key(op: Operation) -> tuple | None:
    try:
        attrs = tuple(sorted(op.attributes.items()))
        key = (op.name, tuple(op._operands), attrs, tuple(r.type for r in op.results), op._segments)
        hash(key)
    except TypeError:
        return None
    return key


@register_pass
@dataclass(frozen=True)
class CSE(Pass):
    """Replace an op by an identical earlier one that dominates it.

    Requires: valid IR. Guarantees: no two pure, region-free ops with equal name, operands, attributes
    and result types where the first dominates the second (same block, or an enclosing one). The
    survivor keeps its location. Equal constants (same inline value or same weight) merge too.
    """

    name = "cse"

    def run(self, module: Any) -> dict[str, int]:
        rw = Rewriter()
        count = 0

        def visit(block: Block, scopes: list[dict]) -> None:
            nonlocal count
            table: dict = {}
            scopes.append(table)
            for op in block.ops:
                if op.regions:
                    inner = [] if IsolatedFromAbove in op.TRAITS else scopes
                    for r in op.regions:
                        for b in r.blocks:
                            visit(b, inner)
                    continue
                if Pure not in op.TRAITS:
                    continue
                key = _key(op)
                if key is None:
                    continue
                existing = next((s[key] for s in reversed(scopes) if key in s), None)
                if existing is not None:
                    rw.replace_op(op, existing.results)
                    count += 1
                else:
                    table[key] = op
            scopes.pop()

        for r in module.regions:
            for b in r.blocks:
                visit(b, [])
        return {"ops merged": count}
