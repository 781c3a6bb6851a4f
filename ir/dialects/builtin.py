"""The builtin dialect: the module, which holds functions and the table of named weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir.attributes import STR, name_text, unquote_symbol
from tritium.ir.core import Block, Region
from tritium.ir.opdef import IsolatedFromAbove, Op, SymbolTable, attr, region
from tritium.ir.printer import Printer, attr_dict_text


class ModuleOp(Op):
    """The top-level container: functions in one block, and the weights they reference by name.

    Weights (``resources``) never appear in the text: ``nn.constant dense_resource<name>`` refers to
    them, and ``ir/modulefile.py`` stores them beside the text. Arrays may be read-only memory maps.
    """

    name = "builtin.module"
    traits = (IsolatedFromAbove, SymbolTable)
    sym_name = attr(STR, default=None, doc="the module's name, printed module @name")
    body = region()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resources: dict[str, np.ndarray] = {}
        if not self.regions[0].blocks:
            self.regions[0]._append_block(Block())

    def infer(self) -> list:
        return []

    def verify_op(self) -> None:
        if len(self.body.blocks) != 1:
            self.fail(f"module body must have one block, found {len(self.body.blocks)}")

    @property
    def block(self) -> Block:
        return self.body.block

    @property
    def functions(self) -> list[Any]:
        return [op for op in self.block.ops if op.name == "func.func"]

    def lookup(self, sym: str) -> Any:
        """The function named ``sym``, or None."""
        for op in self.block.ops:
            if op.attributes.get("sym_name") == sym:
                return op
        return None

    @property
    def main(self) -> Any:
        """The entry function: ``@main`` when present, else the only function."""
        f = self.lookup("main")
        if f is None and len(self.functions) == 1:
            f = self.functions[0]
        if f is None:
            raise ValueError("module has no @main function and not exactly one function")
        return f

    def add_resource(self, name: str, value: np.ndarray) -> str:
        """Store a weight under a unique name derived from ``name``; returns the name used."""
        base, n = name, 1
        while name in self.resources:
            name = f"{base}_{n}"
            n += 1
        self.resources[name] = value
        return name

    def print_custom(self, p: Printer) -> None:
        head = "module"
        if self.sym_name is not None:
            head += " @" + name_text(self.sym_name)
        extra = {k: v for k, v in self.attributes.items() if k != "sym_name"}
        if extra:
            head += " attributes " + attr_dict_text(extra)
        p.emit(head + " {")
        p.region(self.body)
        p.emit("}" + p.loc_text(self.loc))

    @classmethod
    def parse_custom(cls, parser: Any, n_results: int) -> ModuleOp:
        attrs: dict[str, Any] = {}
        if parser.peek()[0] == "symbol":
            attrs["sym_name"] = unquote_symbol(parser.next()[1])
        if parser.accept("attributes"):
            attrs.update(parser.parse_attr_dict())
        body = parser.parse_region(isolated=True)
        loc = parser.parse_optional_loc()
        return cls.create([], [], attrs, [body], loc)

    @classmethod
    def new(cls, name: str | None = None) -> ModuleOp:
        return cls.build(sym_name=name, regions=[Region([Block()])])
