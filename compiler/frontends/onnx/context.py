"""What a converter sees of one ONNX node: its inputs as Values, its attributes as Python values, and
a builder that places new ops at the node's position with the node's name as their location."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np
import onnx

from tritium.frontends.onnx.proto import attribute_value
from tritium.ir.attributes import NameLoc
from tritium.ir.core import Region, Value
from tritium.ir.diagnostics import TritiumError
from tritium.ir.dialects import nn
from tritium.ir.opdef import Op
from tritium.ir.types import TensorType, Type

if TYPE_CHECKING:
    from tritium.frontends.onnx.importer import OnnxImporter, Scope

OpT = TypeVar("OpT", bound=Op)
_REQUIRED = object()


@dataclass(frozen=True)
class NodeError:
    """One problem with one node (TensorRT's ParserError: node, name, operator, description)."""

    node_index: int
    node_name: str
    op_type: str
    reason: str

    def __str__(self) -> str:
        return f"node {self.node_index} '{self.node_name}' ({self.op_type}): {self.reason}"


class UnsupportedNode(TritiumError):
    def __init__(self, ctx: NodeContext, reason: str) -> None:
        self.error = NodeError(ctx.index, ctx.name, ctx.op_type, reason)
        super().__init__(str(self.error))


class NodeContext:
    def __init__(
        self, importer: OnnxImporter, node: onnx.NodeProto, index: int, scope: Scope, opset: int
    ) -> None:
        self.importer = importer
        self.node = node
        self.index = index
        self.scope = scope
        self.opset = opset
        self.op_type = node.op_type
        self.domain = node.domain
        self.name = node.name or f"{node.op_type}_{index}"
        self.loc = NameLoc(self.name)
        self._attrs = {a.name: a for a in node.attribute}

    # -- inputs -----------------------------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        """Number of input slots, trailing empty names dropped."""
        n = len(self.node.input)
        while n and not self.node.input[n - 1]:
            n -= 1
        return n

    @property
    def num_outputs(self) -> int:
        return len(self.node.output)

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def input(self, i: int) -> Value:
        """Input ``i``; an error when the node does not give it."""
        if not self.has_input(i):
            self.fail(f"input #{i} is required")
        return self.scope.lookup(self.node.input[i])

    def opt_input(self, i: int) -> Value | None:
        return self.scope.lookup(self.node.input[i]) if self.has_input(i) else None

    def inputs(self) -> list[Value | None]:
        return [self.opt_input(i) for i in range(self.num_inputs)]

    def type(self, i: int) -> TensorType:
        t = self.input(i).type
        if not isinstance(t, TensorType):
            self.fail(f"input #{i} must be a tensor, found {t}")
        return t

    def rank(self, i: int) -> int:
        r = self.type(i).rank
        if r is None:
            self.fail(f"the rank of input #{i} must be known")
        return r  # type: ignore[return-value]

    def const(self, i: int) -> np.ndarray | None:
        """The value of input ``i`` when it is computable at import time (folding its producers)."""
        v = self.opt_input(i)
        return None if v is None else self.importer.try_fold(v)

    def const_ints(self, i: int, what: str) -> tuple[int, ...]:
        """Input ``i`` as a tuple of ints; it must be a constant (axes, sizes that select structure)."""
        c = self.const(i)
        if c is None:
            self.fail(f"{what} (input #{i}) must be a constant; computed {what} are not supported")
        return tuple(int(x) for x in np.asarray(c).reshape(-1))

    def folded_input(self, i: int) -> Value:
        """Input ``i``, replaced by a constant when it can be computed at import time (shapes, sizes)."""
        v = self.input(i)
        if isinstance(v.defining_op, nn.Constant):
            return v
        c = self.importer.try_fold(v)
        return v if c is None else self.constant(c)

    # -- attributes ---------------------------------------------------------------------------------------
    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default: Any = _REQUIRED) -> Any:
        a = self._attrs.get(name)
        if a is None:
            if default is _REQUIRED:
                self.fail(f"attribute '{name}' is required")
            return default
        if a.ref_attr_name:
            self.fail(f"attribute '{name}' refers to a function attribute, which is not supported")
        return attribute_value(a, self.importer.base_dir)

    def check_attrs(self, *allowed: str) -> None:
        """Fail on attributes that the converter does not implement (never ignore one silently)."""
        extra = sorted(set(self._attrs) - set(allowed))
        if extra:
            self.fail(f"attribute{'s' if len(extra) > 1 else ''} {', '.join(extra)} not supported")

    # -- building -------------------------------------------------------------------------------------
    def emit(self, cls: type[OpT], *args: Any, **kwargs: Any) -> OpT:
        """Build ``cls`` at the current position, located at this node. Verification errors of the new
        op (bad shapes, wrong types) become errors of this node."""
        kwargs.setdefault("loc", self.loc)
        try:
            op = cls.build(*args, **kwargs)
        except (ValueError, TypeError, TritiumError) as e:
            self.fail(f"{cls.name}: {e}")
        return self.importer.builder.insert(op)

    def value(self, cls: type[Op], *args: Any, **kwargs: Any) -> Value:
        """``emit(...)``'s single result."""
        return self.emit(cls, *args, **kwargs).results[0]

    def constant(self, value: Any, dtype: Any = None, name: str | None = None) -> Value:
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=np.dtype(dtype))
        return self.importer.constant(arr, name or f"{self.name}.const", self.loc)

    def ints_const(self, values: Sequence[int]) -> Value:
        """An i64 constant vector (shapes, starts, pads)."""
        return self.constant(np.asarray(list(values), np.int64).reshape(-1))

    def subgraph(self, attr_name: str, arg_types: Sequence[Type] | None = None) -> Region:
        """Import the graph attribute ``attr_name`` as a region; its inputs become block arguments."""
        g = self.attr(attr_name)
        return self.importer.import_subgraph(g, self.scope, arg_types, self)

    def body(self, attr_name: str, arg_types: Sequence[Type], carried: dict[int, int]) -> Region:
        """Import the loop body ``attr_name`` (see `OnnxImporter.import_body`): ``arg_types`` types its
        inputs, and input ``a`` receives output ``carried[a]`` in the next iteration."""
        g = self.attr(attr_name)
        if len(g.input) != len(arg_types):
            self.fail(f"its body '{g.name}' takes {len(g.input)} inputs, expected {len(arg_types)}")
        return self.importer.import_body(g, self.scope, arg_types, carried, self)

    def inline(self, region: Region) -> list[Value]:
        """Move the ops of ``region`` (a single block without arguments, ending in nn.yield) to the
        current position; returns the values it yielded."""
        block = region.block
        if block.args:
            self.fail("cannot inline a region that takes arguments")
        term = block.last_op
        values = list(term.operands) if term is not None else []
        for op in list(block.ops):
            block._unlink(op)
            if op is term:
                op._drop_all_uses_recursive()
            else:
                self.importer.builder.insert(op)
        return values

    def output_type(self, i: int) -> Type | None:
        """The type the model declares for output ``i`` (value_info), when it does."""
        if i >= len(self.node.output):
            return None
        return self.importer.declared_types.get(self.node.output[i])

    def fail(self, reason: str) -> NoReturn:
        raise UnsupportedNode(self, reason)
