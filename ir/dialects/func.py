"""The func dialect: functions, return and call.

    func.func @main(%x: tensor<?x3xf32>) -> tensor<?x3xf32> attributes {input_names = ["x"]} {
      ...
      func.return %y : tensor<?x3xf32>
    }

``input_names``/``output_names`` keep the user's tensor names (ONNX graph inputs and outputs) exactly,
since SSA names are sanitized for the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tritium.ir.attributes import STR, STRS, SYMBOL, TYPE, Location, SymbolRef, name_text, unquote_symbol
from tritium.ir.core import Block, Region, Value
from tritium.ir.opdef import IsolatedFromAbove, Op, Terminator, attr, region, var_operand, var_result
from tritium.ir.printer import Printer, attr_dict_text
from tritium.ir.types import FunctionType, Type, types_compatible


class FuncOp(Op):
    """A function: one region whose entry block arguments are the parameters."""

    name = "func.func"
    traits = (IsolatedFromAbove,)
    sym_name = attr(STR)
    function_type = attr(TYPE)
    input_names = attr(STRS, default=None, doc="the user's names of the parameters")
    output_names = attr(STRS, default=None, doc="the user's names of the results")
    body = region()

    @classmethod
    def new(
        cls,
        name: str,
        inputs: Sequence[Type],
        outputs: Sequence[Type] = (),
        arg_names: Sequence[str | None] | None = None,
        loc: Location | None = None,
    ) -> FuncOp:
        """A function with an empty body whose block arguments carry ``arg_names`` as name hints."""
        body = Region([Block(list(inputs), arg_names)])
        return cls.build(
            sym_name=name, function_type=FunctionType(tuple(inputs), tuple(outputs)), regions=[body], loc=loc
        )

    def infer(self) -> list:
        return []

    @property
    def block(self) -> Block:
        return self.body.block

    @property
    def args(self) -> list[Value]:
        return list(self.block.args)

    @property
    def arg_names(self) -> list[str]:
        """The user's names of the parameters (``input_names``, else the SSA name hints)."""
        if self.input_names:
            return list(self.input_names)
        return [a.name_hint or f"input_{i}" for i, a in enumerate(self.block.args)]

    @property
    def result_names(self) -> list[str]:
        if self.output_names:
            return list(self.output_names)
        return [f"output_{i}" for i in range(len(self.function_type.outputs))]

    @property
    def return_op(self) -> ReturnOp:
        last = self.block.last_op
        if not isinstance(last, ReturnOp):
            raise ValueError(f"function @{self.sym_name} does not end in func.return")
        return last

    def verify_op(self) -> None:
        ft = self.function_type
        if not isinstance(ft, FunctionType):
            self.fail(f"function_type must be a function type, found {ft}")
        if len(self.body.blocks) != 1:
            self.fail(f"function body must have one block, found {len(self.body.blocks)}")
        block = self.block
        arg_types = tuple(a.type for a in block.args)
        if arg_types != ft.inputs:
            self.fail(
                f"entry block arguments have types ({', '.join(map(str, arg_types))}) "
                f"but the signature says ({', '.join(map(str, ft.inputs))})"
            )
        last = block.last_op
        if not isinstance(last, ReturnOp):
            self.fail("function body must end with func.return")
        ret = tuple(v.type for v in last.operands)  # type: ignore[union-attr]
        if len(ret) != len(ft.outputs) or not all(types_compatible(d, t) for d, t in zip(ft.outputs, ret)):
            self.fail(
                f"returns ({', '.join(map(str, ret))}) but the signature says ({', '.join(map(str, ft.outputs))})"
            )
        for key, n in (("input_names", len(ft.inputs)), ("output_names", len(ft.outputs))):
            names = self.attributes.get(key)
            if names is not None and len(names) != n:
                self.fail(f"{key} has {len(names)} entries for {n} values")

    def print_custom(self, p: Printer) -> None:
        p.push_scope()
        ft: FunctionType = self.function_type
        args = ", ".join(f"{p._assign(a)}: {a.type}" for a in self.block.args)
        head = f"func.func @{name_text(self.sym_name)}({args})"
        if len(ft.outputs) == 1:
            head += f" -> {ft.outputs[0]}"
        elif ft.outputs:
            head += " -> (" + ", ".join(map(str, ft.outputs)) + ")"
        extra = {k: v for k, v in self.attributes.items() if k not in ("sym_name", "function_type")}
        if extra:
            head += " attributes " + attr_dict_text(extra)
        p.emit(head + " {")
        p.depth += 1
        p.block_ops(self.block)
        p.depth -= 1
        p.emit("}" + p.loc_text(self.loc))
        p.pop_scope()

    @classmethod
    def parse_custom(cls, parser: Any, n_results: int) -> FuncOp:
        sym = parser.expect_kind("symbol", "a function name @name")[1]
        parser.expect("(")
        args = parser.comma_list(parser._typed_name, ")")
        outs: list[Type] = []
        if parser.accept("->"):
            outs = parser.comma_list(parser.parse_type, ")") if parser.accept("(") else [parser.parse_type()]
        attrs: dict[str, Any] = {}
        if parser.accept("attributes"):
            attrs = parser.parse_attr_dict()
        body = parser.parse_region(isolated=True, entry_args=args)
        loc = parser.parse_optional_loc()
        attrs["sym_name"] = unquote_symbol(sym)
        attrs["function_type"] = FunctionType(tuple(t for _, t, _ in args), tuple(outs))
        return cls.create([], [], attrs, [body], loc)


class ReturnOp(Op):
    """Ends a function, yielding its results."""

    name = "func.return"
    traits = (Terminator,)
    values = var_operand()

    def infer(self) -> list:
        return []

    def print_custom(self, p: Printer) -> None:
        if not self._operands:
            p.emit("func.return" + p.loc_text(self.loc))
            return
        types = ", ".join(str(v.type) for v in self._operands)
        p.emit(f"func.return {p.operands_text(self._operands)} : {types}{p.loc_text(self.loc)}")

    @classmethod
    def parse_custom(cls, parser: Any, n_results: int) -> ReturnOp:
        names = parser._operand_names()
        types: list[Type] = []
        if names:
            parser.expect(":")
            types = [parser.parse_type()]
            while parser.accept(","):
                types.append(parser.parse_type())
            if len(types) != len(names):
                raise parser.error(f"{len(names)} values but {len(types)} types")
        operands = [parser.resolve(n, pos, t) for (n, pos), t in zip(names, types)]
        return cls.create(operands, [], {}, [], parser.parse_optional_loc())


class CallOp(Op):
    """Calls a function of the same module: ``%r = func.call @f(%a) : (T) -> T``."""

    name = "func.call"
    callee = attr(SYMBOL)
    args = var_operand()
    outs = var_result()

    def verify_op(self) -> None:
        module = self.module()
        if module is None:
            return
        f = module.lookup(self.callee.name)  # type: ignore[attr-defined]
        if f is None:
            self.fail(f"calls @{self.callee.name}, which is not a function of this module")
        ft: FunctionType = f.function_type
        got_in = tuple(v.type for v in self._operands)
        got_out = tuple(r.type for r in self.results)
        if got_in != ft.inputs or got_out != ft.outputs:
            self.fail(
                f"has type ({', '.join(map(str, got_in))}) -> ({', '.join(map(str, got_out))}) "
                f"but @{self.callee.name} has type {ft}"
            )

    def evaluate(self, interp: Any, vals: list[Any], env: Any) -> tuple:
        """Reference semantics: run the callee on the interpreter."""
        module = self.module()
        callee = module.lookup(self.callee.name) if module is not None else None
        if callee is None:
            raise ValueError(f"callee @{self.callee.name} not found")
        return tuple(interp.call(callee, vals))

    def print_custom(self, p: Printer) -> None:
        head = p.results_prefix(self)
        ins = ", ".join(str(v.type) for v in self._operands)
        outs = ", ".join(str(r.type) for r in self.results)
        p.emit(
            f"{head}func.call {self.callee}({p.operands_text(self._operands)}) : ({ins}) -> ({outs})"
            + p.loc_text(self.loc)
        )

    @classmethod
    def parse_custom(cls, parser: Any, n_results: int) -> CallOp:
        sym = parser.expect_kind("symbol", "a function name @name")[1]
        parser.expect("(")
        names = [] if parser.accept(")") else parser._operand_names()
        if names:
            parser.expect(")")
        parser.expect(":")
        ins, outs = parser.parse_function_type()
        if len(ins) != len(names):
            raise parser.error(f"{len(names)} operands but {len(ins)} operand types")
        operands = [parser.resolve(n, pos, t) for (n, pos), t in zip(names, ins)]
        return cls.create(
            operands, outs, {"callee": SymbolRef(unquote_symbol(sym))}, [], parser.parse_optional_loc()
        )
