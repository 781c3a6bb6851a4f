"""The IR graph: values with use-lists, operations, blocks and regions (MLIR's model, in plain Python).

The graph is mutable, but only through the `Builder`/`Rewriter` API (``ir/rewriter.py``), which calls
the underscore methods here and tells listeners what changed. Every such change also bumps a global
counter (`mutation_count`), which is how the pass manager knows whether a pass changed anything.

Blocks keep their operations in a doubly linked list, so that inserting or erasing an op is O(1) even
in a function of ten thousand ops.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from tritium.ir.attributes import Location
from tritium.ir.types import Type

if TYPE_CHECKING:
    from tritium.ir.opdef import AttrDef, OperandDef, RegionDef, ResultDef, Trait

_mutations = [0]


def mutation_count() -> int:
    """A counter bumped by every change to any IR; compare two readings to see if anything changed."""
    return _mutations[0]


def _touch() -> None:
    _mutations[0] += 1


class Use(NamedTuple):
    op: Operation
    index: int


class Value:
    """An SSA value: the result of an op or an argument of a block."""

    __slots__ = ("name_hint", "type", "uses")

    def __init__(self, type: Type, name_hint: str | None = None) -> None:
        self.type = type
        self.uses: dict[Use, None] = {}
        self.name_hint = name_hint

    @property
    def owner(self) -> Operation | Block:
        raise NotImplementedError

    @property
    def users(self) -> list[Operation]:
        """The ops that use this value, each once, in first-use order."""
        return list(dict.fromkeys(u.op for u in self.uses))

    @property
    def has_uses(self) -> bool:
        return bool(self.uses)

    @property
    def has_one_use(self) -> bool:
        return len(self.uses) == 1

    @property
    def defining_op(self) -> Operation | None:
        return None


class OpResult(Value):
    __slots__ = ("index", "op")

    def __init__(self, type: Type, op: Operation, index: int) -> None:
        super().__init__(type)
        self.op = op
        self.index = index

    @property
    def owner(self) -> Operation:
        return self.op

    @property
    def defining_op(self) -> Operation:
        return self.op

    def __repr__(self) -> str:
        return f"<OpResult #{self.index} of {self.op.name} : {self.type}>"


class BlockArgument(Value):
    __slots__ = ("block", "index")

    def __init__(self, type: Type, block: Block, index: int, name_hint: str | None = None) -> None:
        super().__init__(type, name_hint)
        self.block = block
        self.index = index

    @property
    def owner(self) -> Block:
        return self.block

    def __repr__(self) -> str:
        return f"<BlockArgument #{self.index} : {self.type}>"


class Operation:
    """One operation. Concrete ops subclass this with a declaration (see ``ir/opdef.py``)."""

    name: ClassVar[str] = "builtin.unregistered"
    # Filled by the declaration machinery for each op class:
    OPERANDS: ClassVar[tuple[OperandDef, ...]] = ()
    RESULTS: ClassVar[tuple[ResultDef, ...]] = ()
    ATTRS: ClassVar[dict[str, AttrDef]] = {}
    REGIONS: ClassVar[tuple[RegionDef, ...]] = ()
    TRAITS: ClassVar[frozenset[type[Trait]]] = frozenset()

    __slots__ = (
        "__dict__",
        "_next",
        "_operands",
        "_prev",
        "_segments",
        "attributes",
        "loc",
        "parent",
        "regions",
        "results",
        "src",
    )

    def __init__(
        self,
        operands: Sequence[Value] = (),
        result_types: Sequence[Type] | None = None,
        attributes: dict[str, Any] | None = None,
        regions: Sequence[Region] = (),
        loc: Location | None = None,
        segments: Sequence[int] | None = None,
    ) -> None:
        self.parent: Block | None = None
        self._prev: Operation | None = None
        self._next: Operation | None = None
        self.loc = loc
        self.src: tuple[Any, int] | None = None  # (source text object, offset) when parsed
        self._segments = tuple(segments) if segments is not None else None
        self.attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self._operands: list[Value] = []
        for i, v in enumerate(operands):
            if not isinstance(v, Value):
                raise TypeError(f"{self.name}: operand #{i} is {type(v).__name__}, not a Value")
            self._operands.append(v)
            v.uses[Use(self, i)] = None
        self.regions: tuple[Region, ...] = tuple(regions)
        for r in self.regions:
            if r.parent is not None:
                raise ValueError(f"{self.name}: region already belongs to {r.parent.name}")
            r.parent = self
        if result_types is None:
            result_types = self.infer_result_types()
        self.results: tuple[OpResult, ...] = tuple(OpResult(t, self, i) for i, t in enumerate(result_types))

    def infer_result_types(self) -> list[Type]:
        raise ValueError(f"'{self.name}' cannot infer its result types: pass result_types")

    # -- operands and results ------------------------------------------------------------------------
    @property
    def operands(self) -> tuple[Value, ...]:
        return tuple(self._operands)

    def operand(self, i: int) -> Value:
        return self._operands[i]

    @property
    def num_operands(self) -> int:
        return len(self._operands)

    @property
    def result(self) -> OpResult:
        """The single result (an error if the op has not exactly one)."""
        if len(self.results) != 1:
            raise ValueError(f"'{self.name}' has {len(self.results)} results, not one")
        return self.results[0]

    @property
    def result_types(self) -> list[Type]:
        return [r.type for r in self.results]

    @property
    def operand_types(self) -> list[Type]:
        return [v.type for v in self._operands]

    # -- traits and context ----------------------------------------------------------------------------
    @classmethod
    def has_trait(cls, trait: type[Trait]) -> bool:
        return trait in cls.TRAITS

    @property
    def parent_op(self) -> Operation | None:
        block = self.parent
        if block is None or block.parent is None:
            return None
        return block.parent.parent

    def ancestors(self) -> Iterator[Operation]:
        op = self.parent_op
        while op is not None:
            yield op
            op = op.parent_op

    def module(self) -> Operation | None:
        """The enclosing builtin.module, or None for detached IR."""
        op: Operation | None = self
        while op is not None:
            if op.name == "builtin.module":
                return op
            op = op.parent_op
        return None

    @property
    def next_op(self) -> Operation | None:
        return self._next

    @property
    def prev_op(self) -> Operation | None:
        return self._prev

    def is_before_in_block(self, other: Operation) -> bool:
        """True when ``self`` comes before ``other`` in the same block (linear scan)."""
        op = self._next
        while op is not None:
            if op is other:
                return True
            op = op._next
        return False

    def walk(self) -> Iterator[Operation]:
        """This op and every op nested in it, pre-order."""
        stack: list[Operation] = [self]
        while stack:
            op = stack.pop()
            yield op
            if op.regions:
                nested: list[Operation] = []
                for r in op.regions:
                    for b in r.blocks:
                        nested.extend(b.ops)
                stack.extend(reversed(nested))

    def describe(self) -> str:
        """``'nn.conv' op at loc("conv1")``: how diagnostics name an op."""
        where = f" at {self.loc}" if self.loc is not None else ""
        return f"'{self.name}' op{where}"

    def __repr__(self) -> str:
        from tritium.ir.printer import Printer

        try:
            return Printer().op_text(self).strip()
        except Exception:  # printing must never hide the real problem
            return f"<{self.name} with {len(self._operands)} operands>"

    # -- private mutation primitives: used by Builder/Rewriter only -----------------------------------
    def _set_operand(self, i: int, v: Value) -> None:
        old = self._operands[i]
        del old.uses[Use(self, i)]
        self._operands[i] = v
        v.uses[Use(self, i)] = None
        _touch()

    def _set_operands(self, values: Sequence[Value], segments: Sequence[int] | None = None) -> None:
        self._drop_operand_uses()
        self._operands = list(values)
        for i, v in enumerate(self._operands):
            v.uses[Use(self, i)] = None
        self._segments = tuple(segments) if segments is not None else None
        _touch()

    def _drop_operand_uses(self) -> None:
        for i, v in enumerate(self._operands):
            v.uses.pop(Use(self, i), None)

    def _drop_all_uses_recursive(self) -> None:
        """Forget this op's operands and those of every nested op (before erasing the whole tree)."""
        for op in self.walk():
            op._drop_operand_uses()
            op._operands = []


class Block:
    """A list of operations with arguments. Tritium's regions hold one block each (graph regions)."""

    __slots__ = ("_first", "_last", "_len", "args", "parent")

    def __init__(self, arg_types: Sequence[Type] = (), arg_names: Sequence[str | None] | None = None) -> None:
        self.parent: Region | None = None
        self._first: Operation | None = None
        self._last: Operation | None = None
        self._len = 0
        names = list(arg_names) if arg_names is not None else [None] * len(arg_types)
        self.args: list[BlockArgument] = [
            BlockArgument(t, self, i, n) for i, (t, n) in enumerate(zip(arg_types, names))
        ]

    @property
    def ops(self) -> Iterator[Operation]:
        """The ops in order. Safe against erasing the current op while iterating."""
        op = self._first
        while op is not None:
            nxt = op._next
            yield op
            op = nxt

    def ops_reversed(self) -> Iterator[Operation]:
        op = self._last
        while op is not None:
            prv = op._prev
            yield op
            op = prv

    @property
    def first_op(self) -> Operation | None:
        return self._first

    @property
    def last_op(self) -> Operation | None:
        return self._last

    def __len__(self) -> int:
        return self._len

    @property
    def parent_op(self) -> Operation | None:
        return self.parent.parent if self.parent is not None else None

    # -- private mutation primitives ----------------------------------------------------------------
    def _add_arg(self, type: Type, name_hint: str | None = None) -> BlockArgument:
        arg = BlockArgument(type, self, len(self.args), name_hint)
        self.args.append(arg)
        _touch()
        return arg

    def _erase_arg(self, index: int) -> None:
        arg = self.args[index]
        if arg.uses:
            raise ValueError(f"cannot erase block argument #{index}: it still has {len(arg.uses)} uses")
        del self.args[index]
        for i, a in enumerate(self.args):
            a.index = i
        _touch()

    def _insert(self, op: Operation, before: Operation | None) -> None:
        """Link ``op`` before ``before`` (or at the end when None)."""
        if op.parent is not None:
            raise ValueError(f"{op.describe()} is already in a block; detach it first")
        op.parent = self
        if before is None:
            op._prev, op._next = self._last, None
            if self._last is not None:
                self._last._next = op
            else:
                self._first = op
            self._last = op
        else:
            if before.parent is not self:
                raise ValueError("insertion point is not in this block")
            op._prev, op._next = before._prev, before
            if before._prev is not None:
                before._prev._next = op
            else:
                self._first = op
            before._prev = op
        self._len += 1
        _touch()

    def _unlink(self, op: Operation) -> None:
        if op.parent is not self:
            raise ValueError(f"{op.describe()} is not in this block")
        if op._prev is not None:
            op._prev._next = op._next
        else:
            self._first = op._next
        if op._next is not None:
            op._next._prev = op._prev
        else:
            self._last = op._prev
        op._prev = op._next = None
        op.parent = None
        self._len -= 1
        _touch()


class Region:
    """An ordered list of blocks owned by an op (a function body, a kernel body, a branch of an if)."""

    __slots__ = ("blocks", "parent")

    def __init__(self, blocks: Sequence[Block] = ()) -> None:
        self.parent: Operation | None = None
        self.blocks: list[Block] = []
        for b in blocks:
            self._append_block(b)

    @property
    def block(self) -> Block:
        """The single block (an error if there is not exactly one)."""
        if len(self.blocks) != 1:
            raise ValueError(f"region has {len(self.blocks)} blocks, expected one")
        return self.blocks[0]

    def _append_block(self, b: Block) -> None:
        if b.parent is not None:
            raise ValueError("block already belongs to a region")
        b.parent = self
        self.blocks.append(b)
        _touch()

    def ops(self) -> Iterator[Operation]:
        for b in self.blocks:
            yield from b.ops


def single_block_region(
    arg_types: Sequence[Type] = (), arg_names: Sequence[str | None] | None = None
) -> Region:
    return Region([Block(arg_types, arg_names)])
