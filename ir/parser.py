"""IR text in: the inverse of ``printer.py``.

Conventions (xDSL's): ``parse_x`` raises a `ParseError` (file:line:col, the line, a caret) when the
text does not hold an x; ``parse_optional_x`` returns None when the next token cannot start one.
Ops with a ``parse_custom`` class method read their own sugar; all others use the declared default
form or MLIR's generic form (``"nn.add"(%a, %b) : ...``). Uses of not-yet-defined names are held as
forward references, so that the verifier, not the parser, reports a use before its definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from tritium.ir.attributes import (
    Dense,
    FileLoc,
    FusedLoc,
    Location,
    NameLoc,
    ResourceRef,
    SymbolRef,
    unquote_symbol,
)
from tritium.ir.core import Block, Operation, Region, Value
from tritium.ir.diagnostics import ParseError, Source
from tritium.ir.dtypes import DType
from tritium.ir.opdef import IsolatedFromAbove, lookup_op
from tritium.ir.types import FunctionType, OptionalType, SequenceType, TensorType, Type

_TOKEN = re.compile(
    r"""
    (?P<ws>(?:\s+|//[^\n]*)+)
  | (?P<value>%[A-Za-z0-9_.$-]+)
  | (?P<symbol>@(?:[A-Za-z_][\w.$-]*|"(?:[^"\\]|\\.)*"))
  | (?P<block>\^[\w.$-]+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<tensor>tensor<[^<>]*>)
  | (?P<number>-?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|inf\b))
  | (?P<arrow>->)
  | (?P<ident>[A-Za-z_][\w.$]*)
  | (?P<punct>[(){}\[\]<>,:=*?])
  | (?P<error>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_DIM_NAME = re.compile(r"\{([^{}]*)\}")

Token = tuple[str, str, int]  # (kind, text, offset)


def tokenize(source: Source) -> list[Token]:
    toks: list[Token] = []
    append = toks.append
    for m in _TOKEN.finditer(source.text):
        kind = m.lastgroup
        if kind == "ws":
            continue
        if kind == "error":
            raise ParseError(source, m.start(), f"unexpected character {m.group()!r}")
        append((kind, m.group(), m.start()))  # type: ignore[arg-type]
    append(("eof", "", len(source.text)))
    return toks


def unquote(s: str) -> str:
    """The value of a string literal token (JSON escapes, as the printer writes them)."""
    return json.loads(s) if "\\" in s else s[1:-1]


class _ForwardRef(Value):
    """A use of a name whose definition has not been read yet."""

    __slots__ = ("name", "pos")

    def __init__(self, type: Type, name: str, pos: int) -> None:
        super().__init__(type)
        self.name, self.pos = name, pos


class Parser:
    def __init__(self, text: str, filename: str = "<string>") -> None:
        self.source = Source(text, filename)
        self.toks = tokenize(self.source)
        self.i = 0
        self.scopes: list[tuple[dict[str, Value], bool]] = [({}, True)]  # (names, isolated)
        self.forward: dict[str, _ForwardRef] = {}
        self._type_cache: dict[str, TensorType] = {}

    # -- token helpers -------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, message: str, pos: int | None = None) -> ParseError:
        return ParseError(self.source, self.peek()[2] if pos is None else pos, message)

    def at(self, text: str) -> bool:
        return self.toks[self.i][1] == text and self.toks[self.i][0] in ("punct", "arrow", "ident")

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str = "") -> Token:
        if not self.at(text):
            kind, found, _ = self.peek()
            shown = "end of input" if kind == "eof" else f"'{found}'"
            raise self.error(f"expected '{text}'{' ' + what if what else ''}, found {shown}")
        return self.next()

    def expect_kind(self, kind: str, what: str) -> Token:
        t = self.peek()
        if t[0] != kind:
            raise self.error(f"expected {what}, found {'end of input' if t[0] == 'eof' else repr(t[1])}")
        self.i += 1
        return t

    def comma_list(self, item: Callable[[], Any], close: str) -> list[Any]:
        """Items separated by commas up to (and consuming) ``close``."""
        out: list[Any] = []
        if self.accept(close):
            return out
        while True:
            out.append(item())
            if self.accept(close):
                return out
            self.expect(",", f"or '{close}'")

    # -- names -----------------------------------------------------------------------------------------
    def push_scope(self, isolated: bool) -> None:
        self.scopes.append(({}, isolated))

    def pop_scope(self) -> None:
        self.scopes.pop()

    def lookup(self, name: str) -> Value | None:
        for names, isolated in reversed(self.scopes):
            v = names.get(name)
            if v is not None:
                return v
            if isolated:
                break
        return None

    def define(self, name: str, value: Value, pos: int) -> None:
        names = self.scopes[-1][0]
        if name in names:
            raise self.error(f"redefinition of value %{name}", pos)
        names[name] = value
        if not name.isdigit():
            value.name_hint = name
        fwd = self.forward.pop(name, None)
        if fwd is not None:
            if fwd.type != value.type:
                raise self.error(
                    f"%{name} was used with type {fwd.type} but is defined with type {value.type}", fwd.pos
                )
            for use in list(fwd.uses):
                use.op._set_operand(use.index, value)

    def resolve(self, name: str, pos: int, type: Type) -> Value:
        v = self.lookup(name)
        if v is None and any(name in names for names, _ in self.scopes):
            raise self.error(
                f"%{name} is defined outside an isolated region (a function or kernel body) "
                "and cannot be used inside it; pass it as an operand",
                pos,
            )
        if v is None:
            fwd = self.forward.get(name)
            if fwd is None:
                fwd = self.forward[name] = _ForwardRef(type, name, pos)
            v = fwd
        if v.type != type:
            raise self.error(f"%{name} has type {v.type} but is used here as {type}", pos)
        return v

    # -- types ----------------------------------------------------------------------------------------
    def parse_optional_type(self) -> Type | None:
        kind, text, pos = self.peek()
        if kind == "tensor":
            self.i += 1
            return self._tensor(text, pos)
        if kind == "ident" and text in ("seq", "opt") and self.peek(1)[1] == "<":
            self.i += 2
            elem = self.parse_type()
            self.expect(">")
            return SequenceType(elem) if text == "seq" else OptionalType(elem)
        return None

    def parse_type(self) -> Type:
        t = self.parse_optional_type()
        if t is None:
            raise self.error(f"expected a type, found '{self.peek()[1]}'")
        return t

    def _tensor(self, text: str, pos: int) -> TensorType:
        t = self._type_cache.get(text)
        if t is not None:
            return t
        body = text[7:-1]
        names: list[str] = []
        body = _DIM_NAME.sub(lambda m: (names.append(m.group(1)), "{}")[1], body)
        parts = body.split("x")
        try:
            dtype = DType.parse(parts[-1])
        except ValueError as e:
            raise self.error(str(e), pos) from None
        if len(parts) == 2 and parts[0] == "*":
            t = TensorType(None, dtype)
        else:
            dims: list[int | str | None] = []
            for p in parts[:-1]:
                if p == "?":
                    dims.append(None)
                elif p == "{}":
                    dims.append(names.pop(0))
                elif p.isdigit():
                    dims.append(int(p))
                else:
                    raise self.error(f"bad dimension '{p}' in {text} (expected a size, ? or {{name}})", pos)
            t = TensorType(tuple(dims), dtype)
        self._type_cache[text] = t
        return t

    def parse_function_type(self) -> tuple[list[Type], list[Type]]:
        self.expect("(")
        ins = self.comma_list(self.parse_type, ")")
        self.expect("->")
        if self.accept("("):
            outs = self.comma_list(self.parse_type, ")")
        else:
            outs = [self.parse_type()]
        return ins, outs

    # -- attributes ------------------------------------------------------------------------------------
    def parse_attr_value(self) -> Any:
        kind, text, pos = self.next()
        if kind == "number":
            if text.lstrip("-").isdigit():
                return int(text)
            return float(text)
        if kind == "string":
            return unquote(text)
        if kind == "symbol":
            return SymbolRef(unquote_symbol(text))
        if kind == "tensor":
            return self._tensor(text, pos)
        if kind == "ident":
            if text == "true":
                return True
            if text == "false":
                return False
            if text == "nan":
                return float("nan")
            if text == "dense_resource":
                self.expect("<")
                k, name, _ = self.next()
                if k not in ("ident", "string"):
                    raise self.error("expected a resource name", pos)
                self.expect(">")
                return ResourceRef(unquote(name) if k == "string" else name)
            if text == "dense":
                return self._dense(pos)
            if text in ("seq", "opt"):
                self.i -= 1
                return self.parse_type()
            try:
                return DType.parse(text)
            except ValueError:
                raise self.error(f"unknown attribute value '{text}'", pos) from None
        if text == "[":
            return tuple(self.comma_list(self.parse_attr_value, "]"))
        if text == "(":
            self.i -= 1
            ins, outs = self.parse_function_type()
            return FunctionType(tuple(ins), tuple(outs))
        raise self.error(f"expected an attribute value, found '{text}'", pos)

    def _dense(self, pos: int) -> Dense:
        self.expect("<")
        if self.peek()[0] == "string":
            hex_text = unquote(self.next()[1])
            self.expect(">")
            self.expect(":")
            t = self.parse_type()
            if not (isinstance(t, TensorType) and t.is_static):
                raise self.error("dense<...> needs a static tensor type", pos)
            if not hex_text.startswith("0x"):
                raise self.error('dense<"..."> holds hex digits after 0x', pos)
            data = bytes.fromhex(hex_text[2:])
            if len(data) != t.nbytes:
                raise self.error(f"dense hex holds {len(data)} bytes but {t} needs {t.nbytes}", pos)
            return Dense(t, data)
        value = self.parse_attr_value()
        self.expect(">")
        self.expect(":")
        t = self.parse_type()
        if not (isinstance(t, TensorType) and t.is_static):
            raise self.error("dense<...> needs a static tensor type", pos)
        try:
            arr = np.array(value, dtype=np.float64 if t.dtype.is_float else None)
            if arr.size == 0 and t.numel == 0:
                arr = arr.reshape(t.shape)
            if arr.shape == () and t.shape != ():
                arr = np.broadcast_to(arr, t.shape)
            arr = arr.astype(t.dtype.np_dtype)
            if arr.shape != t.shape:
                raise ValueError(f"literal has shape {list(arr.shape)} but the type is {t}")
        except (ValueError, TypeError) as e:
            raise self.error(f"bad dense literal: {e}", pos) from None
        return Dense(t, np.ascontiguousarray(arr).tobytes())

    def _attr_entry(self) -> tuple[str, Any]:
        kind, text, pos = self.next()
        if kind not in ("ident", "string"):
            raise self.error(f"expected an attribute name, found '{text}'", pos)
        key = unquote(text) if kind == "string" else text
        self.expect("=")
        return key, self.parse_attr_value()

    def parse_attr_dict(self) -> dict[str, Any]:
        self.expect("{")
        out: dict[str, Any] = {}
        for key, val in self.comma_list(self._attr_entry, "}"):
            if key in out:
                raise self.error(f"attribute '{key}' given twice")
            out[key] = val
        return out

    def at_attr_dict(self) -> bool:
        """``{name = ...``: an attribute dict rather than a region (the printer never prints ``{}``)."""
        return self.at("{") and self.peek(1)[0] in ("ident", "string") and self.peek(2)[1] == "="

    def parse_optional_loc(self) -> Location | None:
        if not (self.peek()[0] == "ident" and self.peek()[1] == "loc" and self.peek(1)[1] == "("):
            return None
        self.i += 2
        if self.accept("fused"):
            self.expect("[")
            names = self.comma_list(lambda: unquote(self.expect_kind("string", "a location name")[1]), "]")
            self.expect(")")
            return FusedLoc(tuple(names))
        name = unquote(self.expect_kind("string", "a location name")[1])
        if self.accept(":"):
            line = int(self.expect_kind("number", "a line number")[1])
            self.expect(":")
            col = int(self.expect_kind("number", "a column number")[1])
            self.expect(")")
            return FileLoc(name, line, col)
        self.expect(")")
        return NameLoc(name)

    # -- regions and blocks ----------------------------------------------------------------------------
    def parse_region(self, isolated: bool, entry_args: list[tuple[str, Type, int]] | None = None) -> Region:
        """``{ [^bb0(%a: T, ...):] ops }``. ``entry_args`` come from a custom syntax (function signatures)."""
        self.expect("{")
        self.push_scope(isolated)
        region = Region()
        args = entry_args
        if self.peek()[0] == "block":
            args = self._block_header()
        block = Block([t for _, t, _ in args or ()])
        region._append_block(block)
        for (name, _, pos), arg in zip(args or (), block.args):
            self.define(name, arg, pos)
        while True:
            if self.accept("}"):
                break
            if self.peek()[0] == "block":
                block = Block()
                region._append_block(block)
                for name, t, pos in self._block_header():
                    self.define(name, block._add_arg(t), pos)
                continue
            if self.peek()[0] == "eof":
                raise self.error("expected '}' to close the region")
            self.parse_op_into(block)
        self.pop_scope()
        return region

    def _block_header(self) -> list[tuple[str, Type, int]]:
        self.next()
        args: list[tuple[str, Type, int]] = []
        if self.accept("("):
            args = self.comma_list(self._typed_name, ")")
        self.expect(":")
        return args

    def _typed_name(self) -> tuple[str, Type, int]:
        _, text, pos = self.expect_kind("value", "a value name")
        self.expect(":")
        return text[1:], self.parse_type(), pos

    # -- ops -------------------------------------------------------------------------------------------
    def parse_op_into(self, block: Block) -> Operation:
        start = self.peek()[2]
        result_names: list[tuple[str, int]] = []
        if self.peek()[0] == "value":
            while True:
                _, text, pos = self.expect_kind("value", "a result name")
                result_names.append((text[1:], pos))
                if not self.accept(","):
                    break
            self.expect("=")
        kind, text, pos = self.next()
        if kind == "string":
            op = self._generic_op(unquote(text), pos, len(result_names))
        elif kind == "ident":
            cls = lookup_op(text) or lookup_op("builtin." + text)
            if cls is None:
                raise self.error(f"unknown op '{text}'", pos)
            custom = getattr(cls, "parse_custom", None)
            op = (
                custom(self, len(result_names))
                if custom is not None
                else self._default_op(cls, pos, len(result_names))
            )
        else:
            raise self.error(f"expected an op, found '{text}'", pos)
        op.src = (self.source, start)
        if len(op.results) != len(result_names):
            raise self.error(
                f"'{op.name}' has {len(op.results)} results but {len(result_names)} names are given", start
            )
        block._insert(op, None)
        for (name, npos), r in zip(result_names, op.results):
            self.define(name, r, npos)
        return op

    def _operand_names(self) -> list[tuple[str, int]]:
        names: list[tuple[str, int]] = []
        if self.peek()[0] != "value":
            return names
        while True:
            _, text, pos = self.expect_kind("value", "an operand")
            names.append((text[1:], pos))
            if not self.accept(","):
                return names

    def _signature(self, n_operands: int, n_results: int) -> tuple[list[Type], list[Type]]:
        self.expect(":", "before the op's types")
        if self.at("("):
            ins, outs = self.parse_function_type()
        else:
            t = self.parse_type()
            ins, outs = [t] * n_operands, [t] * n_results
        if len(ins) != n_operands:
            raise self.error(f"{n_operands} operands but {len(ins)} operand types")
        return ins, outs

    def _build(
        self,
        name: str,
        pos: int,
        operand_names: list[tuple[str, int]],
        ins: list[Type],
        outs: list[Type],
        attrs: dict[str, Any],
        regions: list[Region],
        loc: Location | None,
    ) -> Operation:
        operands = [self.resolve(n, p, t) for (n, p), t in zip(operand_names, ins)]
        cls = lookup_op(name)
        if cls is None:
            raise self.error(f"unknown op '{name}'", pos)
        segments = attrs.pop("operand_segments", None)
        try:
            return cls.create(operands, outs, attrs, regions, loc, segments)
        except (ValueError, TypeError) as e:
            raise self.error(str(e), pos) from None

    def _default_op(self, cls: type, pos: int, n_results: int) -> Operation:
        names = self._operand_names()
        attrs = self.parse_attr_dict() if self.at_attr_dict() else {}
        isolated = IsolatedFromAbove in cls.TRAITS  # type: ignore[attr-defined]
        regions = []
        while self.at("{"):
            regions.append(self.parse_region(isolated))
        ins, outs = self._signature(len(names), n_results)
        loc = self.parse_optional_loc()
        return self._build(cls.name, pos, names, ins, outs, attrs, regions, loc)  # type: ignore[attr-defined]

    def _generic_op(self, name: str, pos: int, n_results: int) -> Operation:
        cls = lookup_op(name)
        if cls is None:
            raise self.error(f"unknown op '{name}'", pos)
        self.expect("(")
        names = [] if self.accept(")") else self._operand_names()
        if names:
            self.expect(")")
        regions: list[Region] = []
        if self.accept("("):
            isolated = IsolatedFromAbove in cls.TRAITS
            regions = self.comma_list(lambda: self.parse_region(isolated), ")")
        attrs = self.parse_attr_dict() if self.at("{") else {}
        self.expect(":")
        ins, outs = self.parse_function_type()
        if len(ins) != len(names):
            raise self.error(f"{len(names)} operands but {len(ins)} operand types")
        loc = self.parse_optional_loc()
        return self._build(name, pos, names, ins, outs, attrs, regions, loc)

    # -- top level -------------------------------------------------------------------------------------
    def parse_top(self) -> Operation:
        """One top-level op (normally ``module``). A bare list of funcs is wrapped in a module."""
        from tritium.ir.dialects.builtin import ModuleOp

        holder = Block()
        while self.peek()[0] != "eof":
            self.parse_op_into(holder)
        if self.forward:
            name, fwd = next(iter(self.forward.items()))
            raise self.error(f"use of undefined value %{name}", fwd.pos)
        ops = list(holder.ops)
        if len(ops) == 1 and isinstance(ops[0], ModuleOp):
            holder._unlink(ops[0])
            return ops[0]
        module = ModuleOp.new()
        for op in ops:
            holder._unlink(op)
            module.body.block._insert(op, None)
        return module


def parse_ir(text: str, filename: str = "<string>") -> Any:
    """Parse IR text into a `ModuleOp` (ops at top level that are not in a module get one)."""
    return Parser(text, filename).parse_top()


def parse_type(text: str) -> Type:
    p = Parser(text)
    t = p.parse_type()
    if p.peek()[0] != "eof":
        raise p.error("unexpected text after the type")
    return t
