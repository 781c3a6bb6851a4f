"""Rewrite patterns and the greedy driver that applies them to a fixpoint.

A pattern is a typed function; the type of its first parameter names the root op it matches, and its
docstring shows the rewrite in IR:

    @pattern
    def double_transpose(op: nn.Transpose, rw: Rewriter) -> bool:
        '''transpose(transpose(x, p), q) -> transpose(x, p∘q)'''
        inner = op.x.defining_op
        if not isinstance(inner, nn.Transpose):
            return False                      # no match: the IR is untouched
        rw.replace_op_with(op, nn.Transpose, inner.x, perm=...)
        return True

The driver keeps a worklist (ops the rewrites touched go back on it), folds ops through their
``fold()``, erases pure ops without uses, counts how often each pattern fired, and stops with an
error naming the busiest patterns when the rewrites do not converge.
"""

from __future__ import annotations

import inspect
import typing
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.core import Operation, Value
from tritium.ir.diagnostics import TritiumError
from tritium.ir.opdef import ConstantLike, Pure, Terminator
from tritium.ir.rewriter import Listener, Rewriter


class NonConvergenceError(TritiumError):
    pass


@dataclass(frozen=True)
class RewritePattern:
    name: str
    root: type[Operation]
    fn: Callable[[Any, Rewriter], bool]
    doc: str

    def __call__(self, op: Operation, rw: Rewriter) -> bool:
        return bool(self.fn(op, rw))


def pattern(fn: Callable[[Any, Rewriter], bool]) -> RewritePattern:
    """Make a pattern of ``fn``; its first parameter's annotation is the root op class."""
    params = list(inspect.signature(fn).parameters)
    hints = typing.get_type_hints(fn)
    root = hints.get(params[0]) if params else None
    if not (isinstance(root, type) and issubclass(root, Operation)):
        raise TypeError(f"pattern {fn.__name__}: annotate the first parameter with the root op class")
    doc = inspect.getdoc(fn) or ""
    if not doc:
        raise TypeError(f"pattern {fn.__name__}: the docstring must show the rewrite")
    return RewritePattern(fn.__name__, root, fn, doc)


Materializer = Callable[[np.ndarray, Operation, Rewriter], Value]
"""Builds a constant op for a folded value, before the given op; returns its result."""


class GreedyRewriteDriver(Listener):
    def __init__(
        self,
        patterns: Iterable[RewritePattern],
        *,
        fold: bool = True,
        materialize: Materializer | None = None,
        max_rewrites_per_op: int = 20,
    ) -> None:
        self.by_root: dict[type, list[RewritePattern]] = {}
        for p in patterns:
            self.by_root.setdefault(p.root, []).append(p)
        self.fold = fold
        self.materialize = materialize
        self.max_rewrites_per_op = max_rewrites_per_op
        self.counts: Counter[str] = Counter()
        self._cache: dict[type, list[RewritePattern]] = {}
        self.worklist: deque[Operation] = deque()
        self.queued: set[Operation] = set()
        self.rewriter = Rewriter(listeners=[self])

    # -- listener: keep the worklist current ---------------------------------------------------------
    def push(self, op: Operation | None) -> None:
        if op is not None and op not in self.queued:
            self.queued.add(op)
            self.worklist.append(op)

    def on_inserted(self, op: Operation) -> None:
        for nested in op.walk():
            self.push(nested)

    def on_modified(self, op: Operation) -> None:
        self.push(op)

    def on_erased(self, op: Operation) -> None:
        for v in op._operands:
            self.push(v.defining_op)
        for nested in op.walk():
            self.queued.discard(nested)

    def on_replaced(self, op: Operation, new_values: Sequence[Value]) -> None:
        for r in op.results:
            for u in r.users:
                self.push(u)

    # -- driving -------------------------------------------------------------------------------------
    def patterns_for(self, cls: type) -> list[RewritePattern]:
        pats = self._cache.get(cls)
        if pats is None:
            pats = [p for klass in cls.__mro__ for p in self.by_root.get(klass, ())]
            self._cache[cls] = pats
        return pats

    def run(self, root: Operation) -> Counter[str]:
        for op in root.walk():
            if op is not root:
                self.push(op)
        budget = self.max_rewrites_per_op * max(len(self.queued), 1) + 100
        while self.worklist:
            op = self.worklist.popleft()
            if op not in self.queued:
                continue  # erased meanwhile
            self.queued.discard(op)
            if op.parent is None:
                continue
            if self.visit(op):
                budget -= 1
                if budget < 0:
                    busiest = ", ".join(f"{n} ({c}x)" for n, c in self.counts.most_common(3))
                    raise NonConvergenceError(
                        f"rewrites did not converge; most applied: {busiest}. A pattern "
                        "probably undoes another one."
                    )
        return self.counts

    def visit(self, op: Operation) -> bool:
        rw = self.rewriter
        if Pure in op.TRAITS and Terminator not in op.TRAITS and not any(r.uses for r in op.results):
            rw.erase_op(op)
            self.counts["erase-dead-op"] += 1
            return True
        if self.fold and ConstantLike not in op.TRAITS:
            folded = op.fold() if hasattr(op, "fold") else None  # type: ignore[attr-defined]
            if folded is not None:
                values = []
                for f in folded:
                    if isinstance(f, Value):
                        values.append(f)
                    elif self.materialize is not None:
                        values.append(self.materialize(np.asarray(f), op, rw))
                    else:
                        values = []
                        break
                if values:
                    rw.replace_op(op, values)
                    self.counts[f"fold {op.name}"] += 1
                    return True
        for p in self.patterns_for(type(op)):
            if p(op, rw):
                self.counts[p.name] += 1
                return True
        return False


def apply_patterns_greedily(
    root: Operation, patterns: Iterable[RewritePattern], **kwargs: Any
) -> Counter[str]:
    return GreedyRewriteDriver(patterns, **kwargs).run(root)


def int64_constant(rw: Rewriter, op: Operation, values: list[int]) -> Value:
    """An i64 vector constant inserted at the rewriter's point, at ``op``'s location (the shape,
    pads and slice operands that rewrites build)."""
    from tritium.ir.dialects import nn

    return rw.insert(nn.Constant.of(np.array(values, np.int64), loc=op.loc)).out
