"""Builder and Rewriter: the one way to create and change IR.

`Builder` inserts new ops at an insertion point. `Rewriter` adds erasing, replacing and modifying.
Both tell their `Listener`s about every change, which is how pattern drivers keep their worklists and
how instrumentation watches passes. As in MLIR, a rewrite pattern must not call the rewriter before it
knows that it matches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from tritium.ir.core import Block, Operation, Region, Value, _touch
from tritium.ir.types import Type

OpT = TypeVar("OpT", bound=Operation)


class Listener:
    """Override what you need. ``on_erased`` comes before the op is unlinked."""

    def on_inserted(self, op: Operation) -> None: ...
    def on_erased(self, op: Operation) -> None: ...
    def on_modified(self, op: Operation) -> None: ...
    def on_replaced(self, op: Operation, new_values: Sequence[Value]) -> None: ...


class Builder:
    def __init__(
        self, block: Block | None = None, before: Operation | None = None, listeners: Sequence[Listener] = ()
    ) -> None:
        self.block = block
        self.before = before
        self.listeners: list[Listener] = list(listeners)

    # -- insertion point ---------------------------------------------------------------------------
    def set_end(self, block: Block) -> Builder:
        self.block, self.before = block, None
        return self

    def set_before(self, op: Operation) -> Builder:
        if op.parent is None:
            raise ValueError(f"{op.describe()} is not in a block")
        self.block, self.before = op.parent, op
        return self

    def set_after(self, op: Operation) -> Builder:
        if op.parent is None:
            raise ValueError(f"{op.describe()} is not in a block")
        self.block, self.before = op.parent, op.next_op
        return self

    @contextmanager
    def at(
        self, block: Block | None = None, *, before: Operation | None = None, after: Operation | None = None
    ) -> Iterator[Builder]:
        """Temporarily move the insertion point: ``with b.at(before=op): ...``."""
        saved = (self.block, self.before)
        if before is not None:
            self.set_before(before)
        elif after is not None:
            self.set_after(after)
        elif block is not None:
            self.set_end(block)
        try:
            yield self
        finally:
            self.block, self.before = saved

    # -- creation ------------------------------------------------------------------------------------
    def insert(self, op: OpT) -> OpT:
        if self.block is None:
            raise ValueError("the builder has no insertion point")
        self.block._insert(op, self.before)
        for lst in self.listeners:
            lst.on_inserted(op)
        return op

    def create(self, cls: type[OpT], *args: Any, **kwargs: Any) -> OpT:
        """``cls.build(*args, **kwargs)`` inserted at the insertion point."""
        return self.insert(cls.build(*args, **kwargs))  # type: ignore[attr-defined]


class Rewriter(Builder):
    def notify_modified(self, op: Operation) -> None:
        for lst in self.listeners:
            lst.on_modified(op)

    # -- erasing ---------------------------------------------------------------------------------------
    def erase_op(self, op: Operation) -> None:
        """Erase ``op`` and everything nested in it. Its results must have no uses left."""
        for r in op.results:
            if r.uses:
                users = ", ".join(u.op.describe() for u in list(r.uses)[:3])
                raise ValueError(f"cannot erase {op.describe()}: result #{r.index} is still used by {users}")
        for lst in self.listeners:
            lst.on_erased(op)
        op._drop_all_uses_recursive()
        if op.parent is not None:
            op.parent._unlink(op)

    def detach_op(self, op: Operation) -> Operation:
        """Take ``op`` out of its block without destroying it (to insert it elsewhere)."""
        if op.parent is not None:
            op.parent._unlink(op)
        return op

    # -- replacing ------------------------------------------------------------------------------------
    def replace_all_uses_with(
        self, old: Value, new: Value, only_if: Callable[[Operation], bool] | None = None
    ) -> None:
        if old is new:
            return
        if old.type != new.type and not _same_tensor_kind(old.type, new.type):
            raise ValueError(f"cannot replace a value of type {old.type} with one of type {new.type}")
        for use in list(old.uses):
            if only_if is None or only_if(use.op):
                use.op._set_operand(use.index, new)
                self.notify_modified(use.op)

    def replace_op(self, op: Operation, new: Sequence[Value | None] | Operation) -> None:
        """Replace every result of ``op`` by the matching new value, then erase ``op``.

        New values without a name hint inherit the replaced result's, so names stay stable. A result
        nobody uses may be given None (multi-result ops whose extra outputs are unused).
        """
        values = list(new.results) if isinstance(new, Operation) else list(new)
        if len(values) != len(op.results):
            raise ValueError(
                f"replacing {op.describe()}: {len(op.results)} results but {len(values)} new values"
            )
        for r, v in zip(op.results, values):
            if v is None and r.uses:
                raise ValueError(
                    f"replacing {op.describe()}: result #{r.index} is used but gets no new value"
                )
        for lst in self.listeners:
            lst.on_replaced(op, [v for v in values if v is not None])
        for r, v in zip(op.results, values):
            if v is None:
                continue
            if v.name_hint is None and r.name_hint is not None:
                v.name_hint = r.name_hint
            self.replace_all_uses_with(r, v)
        self.erase_op(op)

    def replace_op_with(self, op: Operation, cls: type[OpT], *args: Any, **kwargs: Any) -> OpT:
        """Build ``cls`` before ``op`` (keeping op's location unless given) and replace op with it."""
        kwargs.setdefault("loc", op.loc)
        with self.at(before=op):
            new = self.create(cls, *args, **kwargs)
        self.replace_op(op, new)
        return new

    # -- modifying ------------------------------------------------------------------------------------
    def set_operand(self, op: Operation, index: int, value: Value) -> None:
        op._set_operand(index, value)
        self.notify_modified(op)

    def set_operands(
        self, op: Operation, values: Sequence[Value], segments: Sequence[int] | None = None
    ) -> None:
        op._set_operands(values, segments)
        self.notify_modified(op)

    def set_attr(self, op: Operation, key: str, value: Any) -> None:
        op.attributes[key] = value
        _touch()
        self.notify_modified(op)

    def remove_attr(self, op: Operation, key: str) -> None:
        if op.attributes.pop(key, None) is not None:
            _touch()
            self.notify_modified(op)

    def set_type(self, value: Value, type: Type) -> None:
        """Change a value's type (its users may need re-verification; the pass is responsible)."""
        value.type = type
        _touch()
        owner = value.defining_op
        if owner is not None:
            self.notify_modified(owner)
        for u in value.users:
            self.notify_modified(u)

    def set_loc(self, op: Operation, loc: Any) -> None:
        op.loc = loc
        _touch()

    def move_before(self, op: Operation, anchor: Operation) -> None:
        self.detach_op(op)
        anchor.parent._insert(op, anchor)  # type: ignore[union-attr]
        self.notify_modified(op)

    def move_after(self, op: Operation, anchor: Operation) -> None:
        self.detach_op(op)
        anchor.parent._insert(op, anchor.next_op)  # type: ignore[union-attr]
        self.notify_modified(op)

    # -- blocks and regions ------------------------------------------------------------------------------
    def add_block_arg(self, block: Block, type: Type, name_hint: str | None = None) -> Value:
        return block._add_arg(type, name_hint)

    def erase_block_arg(self, block: Block, index: int) -> None:
        block._erase_arg(index)

    def inline_block_before(self, block: Block, anchor: Operation, args: Sequence[Value]) -> None:
        """Move the ops of ``block`` before ``anchor``, its arguments replaced by ``args``."""
        if len(args) != len(block.args):
            raise ValueError(f"block has {len(block.args)} arguments, {len(args)} values given")
        for a, v in zip(block.args, args):
            self.replace_all_uses_with(a, v)
        for op in list(block.ops):
            block._unlink(op)
            anchor.parent._insert(op, anchor)  # type: ignore[union-attr]
            for lst in self.listeners:
                lst.on_inserted(op)

    def take_region(self, src: Region) -> Region:
        """Move the blocks of ``src`` into a new, detached region (to hand them to a new op)."""
        new = Region()
        for b in list(src.blocks):
            src.blocks.remove(b)
            b.parent = None
            new._append_block(b)
        return new


def _same_tensor_kind(a: Type, b: Type) -> bool:
    """Replacing a value by one with a more (or less) precise shape of the same dtype is allowed."""
    from tritium.ir.types import types_compatible

    return types_compatible(a, b) or types_compatible(b, a)
