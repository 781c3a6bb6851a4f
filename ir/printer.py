"""IR text out.

Every op prints in the default declared form

    %r = nn.conv %x, %w {group = 1, pads = [3, 3, 3, 3], ...} : (tensor<..>, tensor<..>) -> tensor<..> loc("conv1")

where ``: T`` replaces the function type when every operand and the one result share type ``T``.
Regions follow the attributes as ``{ ... }`` blocks. Ops with a ``print_custom`` method (module, func,
return, constant) print their own sugar; ``generic=True`` prints everything in MLIR's generic form
``"nn.conv"(%x, %w) {...} : (...) -> ...``. Names come from value name hints, made unique per function.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from tritium.ir.attributes import Dense, Location, ResourceRef, SymbolRef, quote
from tritium.ir.core import Block, Operation, Region, Value
from tritium.ir.dtypes import DType
from tritium.ir.types import Type

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.$-]")
DENSE_LITERAL_LIMIT = 32
"""Dense values with more elements print as hex."""


def float_text(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def _scalar_text(x: Any, dtype: DType) -> str:
    if dtype.kind == "bool":
        return "true" if x else "false"
    if dtype.is_float:
        if dtype.name in ("f32", "f16", "f64"):
            s = str(x)  # numpy's shortest text that reads back to the same value of this width
            if s in ("nan", "inf", "-inf"):
                return s
            return s if any(c in s for c in ".en") else s + ".0"
        return float_text(float(x))
    return str(int(x))


def _nested(arr: np.ndarray, dtype: DType) -> str:
    if arr.ndim == 0:
        return _scalar_text(arr[()], dtype)
    return "[" + ", ".join(_nested(a, dtype) for a in arr) + "]"


def _splat(arr: np.ndarray, dt: DType) -> bool:
    """Whether ``arr`` prints as one value: all equal, no NaN, and its zeros of one sign."""
    if arr.size <= 1 or not (arr.flat[0] == arr).all():
        return False
    if not dt.is_float:
        return True
    wide = arr.astype(np.float64)
    return not np.isnan(wide).any() and np.signbit(wide).all() == np.signbit(wide).any()


def dense_text(d: Dense) -> str:
    arr = d.array
    dt = d.type.dtype
    if _splat(arr, dt):
        body = _scalar_text(arr.flat[0], dt)
    elif arr.size <= DENSE_LITERAL_LIMIT:
        body = _nested(arr, dt)
    else:
        body = quote("0x" + d.data.hex().upper())
    return f"dense<{body}> : {d.type}"


def attr_text(v: Any) -> str:
    """The IR text of one attribute value."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return float_text(v)
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, tuple | list):
        return "[" + ", ".join(attr_text(x) for x in v) + "]"
    if isinstance(v, Dense):
        return dense_text(v)
    if isinstance(v, DType | Type | ResourceRef | SymbolRef):
        return str(v)
    raise TypeError(f"cannot print attribute value of Python type {type(v).__name__}: {v!r}")


def attr_dict_text(attrs: dict[str, Any]) -> str:
    if not attrs:
        return ""
    parts = []
    for k in sorted(attrs):
        key = k if re.fullmatch(r"[A-Za-z_][\w.$]*", k) else quote(k)
        parts.append(f"{key} = {attr_text(attrs[k])}")
    return "{" + ", ".join(parts) + "}"


class _Scope:
    __slots__ = ("counters", "names", "next_id", "used")

    def __init__(self) -> None:
        self.names: dict[Value, str] = {}
        self.used: set[str] = set()
        self.counters: dict[str, int] = {}
        self.next_id = 0


class Printer:
    def __init__(
        self, *, generic: bool = False, print_locs: bool = True, indent: str = "  ", hints: bool = True
    ) -> None:
        self.generic = generic
        self.print_locs = print_locs
        self.hints = hints
        """False: values are numbered, never named after their name hints (a canonical text)."""
        self.indent_unit = indent
        self.scopes: list[_Scope] = [_Scope()]
        self.lines: list[str] = []
        self.depth = 0

    # -- names ----------------------------------------------------------------------------------------
    def _assign(self, v: Value) -> str:
        scope = self.scopes[-1]
        hint = v.name_hint if self.hints else None
        if hint:
            h = _BAD_NAME_CHARS.sub("_", hint)
            if h[0].isdigit():
                h = "v" + h
            if h not in scope.used:
                name = h
            else:
                n = scope.counters.get(h, 1)
                while f"{h}_{n}" in scope.used:
                    n += 1
                scope.counters[h] = n + 1
                name = f"{h}_{n}"
        else:
            name = str(scope.next_id)
            scope.next_id += 1
        scope.used.add(name)
        scope.names[v] = name
        return "%" + name

    def name(self, v: Value) -> str:
        for scope in reversed(self.scopes):
            n = scope.names.get(v)
            if n is not None:
                return "%" + n
        return "%<<unknown value>>"  # a value from outside the printed IR (detached op); visible, not silent

    def push_scope(self) -> None:
        self.scopes.append(_Scope())

    def pop_scope(self) -> None:
        self.scopes.pop()

    # -- pieces ----------------------------------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append(self.indent_unit * self.depth + line)

    def operands_text(self, values: Any) -> str:
        return ", ".join(self.name(v) for v in values)

    def loc_text(self, loc: Location | None) -> str:
        if loc is None or not self.print_locs:
            return ""
        return " " + str(loc)

    def type_signature(self, op: Operation) -> str:
        ins = [v.type for v in op._operands]
        outs = [r.type for r in op.results]
        if len(outs) == 1 and all(t == outs[0] for t in ins) and not self.generic:
            return str(outs[0])
        ins_t = "(" + ", ".join(map(str, ins)) + ")"
        if len(outs) == 1:
            return f"{ins_t} -> {outs[0]}"
        return f"{ins_t} -> (" + ", ".join(map(str, outs)) + ")"

    def results_prefix(self, op: Operation) -> str:
        if not op.results:
            return ""
        return ", ".join(self._assign(r) for r in op.results) + " = "

    def region(self, r: Region, *, print_entry_args: bool = True) -> None:
        """Print the blocks of ``r`` one level deeper (the caller prints the braces)."""
        from tritium.ir.opdef import IsolatedFromAbove

        isolated = r.parent is not None and IsolatedFromAbove in r.parent.TRAITS
        if isolated:
            self.push_scope()
        self.depth += 1
        for i, b in enumerate(r.blocks):
            if b.args and (print_entry_args or i > 0):
                args = ", ".join(f"{self._assign(a)}: {a.type}" for a in b.args)
                self.lines.append(self.indent_unit * (self.depth - 1) + f"^bb{i}({args}):")
            elif i > 0:
                self.lines.append(self.indent_unit * (self.depth - 1) + f"^bb{i}:")
            self.block_ops(b)
        self.depth -= 1
        if isolated:
            self.pop_scope()

    def block_ops(self, b: Block) -> None:
        for op in b.ops:
            self.op(op)

    # -- ops -------------------------------------------------------------------------------------------
    def op(self, op: Operation) -> None:
        custom = getattr(op, "print_custom", None)
        if custom is not None and not self.generic:
            custom(self)
            return
        self.default_op(op)

    def default_op(self, op: Operation) -> None:
        from tritium.ir.opdef import Op, needs_segments

        head = self.results_prefix(op)
        attrs = op.attributes
        if isinstance(op, Op) and op.OPERANDS:
            sizes = op.segment_sizes()
            if op._segments is not None or needs_segments(type(op), sizes):
                attrs = {**attrs, "operand_segments": tuple(sizes)}
        attr_str = (" " + attr_dict_text(attrs)) if attrs else ""
        tail = " : " + self.type_signature(op) + self.loc_text(op.loc)
        if self.generic:
            # MLIR's generic form: "name"(operands) ({regions}) {attrs} : type
            head += f'"{op.name}"({self.operands_text(op._operands)})'
            if not op.regions:
                self.emit(head + attr_str + tail)
                return
            opener = head + " ({"
            for r in op.regions:
                self.emit(opener)
                self.region(r)
                opener = "}, {"
            self.emit("})" + attr_str + tail)
            return
        head += op.name + (" " + self.operands_text(op._operands) if op._operands else "") + attr_str
        if not op.regions:
            self.emit(head + tail)
            return
        opener = head + " {"
        for r in op.regions:
            self.emit(opener)
            self.region(r)
            opener = "} {"
        self.emit("}" + tail)

    def op_text(self, op: Operation) -> str:
        self.lines = []
        self.op(op)
        return "\n".join(self.lines) + "\n"


def print_ir(op: Operation, *, generic: bool = False, print_locs: bool = True) -> str:
    """The text of ``op`` (usually a module) and everything in it."""
    return Printer(generic=generic, print_locs=print_locs).op_text(op)
