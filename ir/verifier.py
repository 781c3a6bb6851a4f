"""The verifier: structural rules of the IR and each op's declared rules.

Checked here, in one walk: every operand is defined before its use, in the same block or an enclosing
one (dominance in graph regions), never across an ``IsolatedFromAbove`` boundary; terminators come
last; use-lists agree with operands. Each op's declaration then checks operand and result counts,
element types, attributes, regions, its type inference and its own ``verify_op`` rules.
"""

from __future__ import annotations

import contextlib

from tritium.ir.core import Block, Operation, Use, Value
from tritium.ir.diagnostics import VerifyError
from tritium.ir.opdef import IsolatedFromAbove, Terminator, verify_declared


def verify(op: Operation) -> None:
    """Raise the first `VerifyError` found in ``op`` and everything nested in it."""
    errors = _Verifier(stop_at_first=True).run(op)
    if errors:
        raise errors[0]


def verify_all(op: Operation) -> list[VerifyError]:
    """Every error found (ops nested in a failing op are still checked)."""
    return _Verifier(stop_at_first=False).run(op)


class _Stop(Exception):
    pass


class _Verifier:
    def __init__(self, stop_at_first: bool) -> None:
        self.stop_at_first = stop_at_first
        self.errors: list[VerifyError] = []
        # Stack of visible value sets; ``None`` marks an isolation barrier.
        self.scopes: list[set[Value] | None] = []

    def run(self, op: Operation) -> list[VerifyError]:
        with contextlib.suppress(_Stop):
            self.op(op)
        return self.errors

    def report(self, err: VerifyError) -> None:
        self.errors.append(err)
        if self.stop_at_first:
            raise _Stop

    def visible(self, v: Value) -> bool:
        for scope in reversed(self.scopes):
            if scope is None:
                return False
            if v in scope:
                return True
        return False

    def op(self, op: Operation) -> None:
        for i, v in enumerate(op._operands):
            if Use(op, i) not in v.uses:
                self.report(
                    VerifyError(
                        op,
                        f"operand #{i} is missing from its value's use-list (IR was mutated "
                        "without the Rewriter)",
                    )
                )
            if not self.visible(v):
                self.report(
                    VerifyError(
                        op,
                        f"operand #{i} ({v.type}) does not dominate this use: it is defined "
                        "after it, inside another region, or outside an isolated op",
                    )
                )
        try:
            verify_declared(op)
        except VerifyError as e:
            self.report(e)
        isolated = IsolatedFromAbove in op.TRAITS
        for region in op.regions:
            if isolated:
                self.scopes.append(None)
            for block in region.blocks:
                self.block(block)
            if isolated:
                self.scopes.pop()

    def block(self, block: Block) -> None:
        scope: set[Value] = set(block.args)
        self.scopes.append(scope)
        for op in block.ops:
            if op.parent is not block:
                self.report(VerifyError(op, "op's parent pointer does not match the block holding it"))
            if Terminator in op.TRAITS and op is not block.last_op:
                self.report(VerifyError(op, "is a terminator and must be the last op of its block"))
            self.op(op)
            scope.update(op.results)
        self.scopes.pop()
