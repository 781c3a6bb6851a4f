"""specialize-shapes: give the entry function concrete input shapes and re-infer every type.

Engines are built for shapes (an optimization profile's opt shape) and re-specialized when a run
brings new ones: memory planning and kernel launch grids need static sizes. Types flow forward
through each op's ``infer``; kernel bodies are refined from their operands; constants keep theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tritium.ir.core import Block, Operation
from tritium.ir.diagnostics import TritiumError
from tritium.ir.opdef import Op, Terminator
from tritium.ir.rewriter import Rewriter
from tritium.ir.types import FunctionType, TensorType, Type, types_compatible
from tritium.passes.base import Pass, register_pass


class ShapeError(TritiumError):
    pass


def specialize(module: Any, shapes: Mapping[str, Sequence[int]]) -> None:
    """Set the entry function's input shapes (by input name) and refine all types in place."""
    func = module.main
    names = list(func.input_names or [a.name_hint for a in func.args])
    rw = Rewriter()
    for name, arg in zip(names, func.args):
        if name not in shapes:
            continue
        t = arg.type
        new = TensorType(tuple(int(d) for d in shapes[name]), t.dtype)  # type: ignore[attr-defined]
        if not types_compatible(t, new):
            raise ShapeError(f"input '{name}' has type {t}; shape {list(shapes[name])} does not fit it")
        rw.set_type(arg, new)
    unknown = set(shapes) - set(names)
    if unknown:
        raise ShapeError(f"no inputs named {sorted(unknown)}; the inputs are {names}")
    refine_block(func.block, rw)
    outs = tuple(v.type for v in func.return_op.operands)
    rw.set_attr(func, "function_type", FunctionType(tuple(a.type for a in func.args), outs))


def refine_block(block: Block, rw: Rewriter) -> None:
    for op in block.ops:
        if Terminator in op.TRAITS:
            continue
        if op.name == "kernel.fused":
            for a, v in zip(op.body.block.args, op.operands):  # type: ignore[attr-defined]
                if a.type != v.type:
                    rw.set_type(a, v.type)
            refine_block(op.body.block, rw)  # type: ignore[attr-defined]
        elif op.regions:
            for r in op.regions:
                for b in r.blocks:
                    refine_block(b, rw)
        refine_op(op, rw)


def refine_op(op: Operation, rw: Rewriter) -> None:
    if not isinstance(op, Op):
        return
    try:
        inferred = op.infer()
    except NotImplementedError:
        return
    except (TritiumError, ValueError, IndexError, TypeError) as e:
        raise ShapeError(f"{op.describe()}: {e}") from None
    types: list[Type] = [inferred] if isinstance(inferred, Type) else list(inferred)
    for r, t in zip(op.results, types):
        if r.type != t:
            if not types_compatible(r.type, t) and not types_compatible(t, r.type):
                raise ShapeError(f"{op.describe()}: result #{r.index} was {r.type}, the new shapes give {t}")
            rw.set_type(r, _more_precise(r.type, t))


def _more_precise(old: Type, new: Type) -> Type:
    if (
        isinstance(old, TensorType)
        and isinstance(new, TensorType)
        and old.shape is not None
        and new.shape is not None
    ):
        dims = tuple(n if isinstance(n, int) else o for o, n in zip(old.shape, new.shape))
        return TensorType(dims, new.dtype)
    return new


@register_pass
@dataclass(frozen=True)
class SpecializeShapes(Pass):
    """Fix the entry function's input shapes and refine every type.

    Requires: valid IR; ``shapes`` written ``name:1x3x224x224;other:1x128``. Guarantees: the inputs
    have exactly those shapes and every op's result type is re-inferred from them (kept where an op
    cannot infer); an input shape that contradicts the declared type is an error.
    """

    name = "specialize-shapes"
    shapes: str = ""

    def run(self, module: Any) -> None:
        parsed: dict[str, list[int]] = {}
        for item in filter(None, self.shapes.split(";")):
            name, _, dims = item.rpartition(":")
            parsed[name] = [int(d) for d in dims.split("x")] if dims else []
        specialize(module, parsed)


@register_pass
@dataclass(frozen=True)
class PropagateShapes(Pass):
    """Re-infer every type and fold what became constant, until neither changes anything.

    Requires: valid IR. Guarantees: every op's result type is as precise as its inference allows
    given the constants folding reveals (a shape computed from static shapes becomes a constant, its
    users' types become static, and so on); values are unchanged. Stops after ``max_rounds``.
    """

    name = "propagate-shapes"
    max_rounds: int = 8

    def run(self, module: Any) -> dict[str, int]:
        from tritium.ir.core import mutation_count
        from tritium.passes.fold_constants import FoldConstants

        rw = Rewriter()
        rounds = 0
        for rounds in range(1, self.max_rounds + 1):  # noqa: B007
            before = mutation_count()
            for func in module.functions:
                refine_block(func.block, rw)
                outs = tuple(v.type for v in func.return_op.operands)
                if outs != func.function_type.outputs:
                    rw.set_attr(func, "function_type", FunctionType(func.function_type.inputs, outs))
            FoldConstants().run(module)
            if mutation_count() == before:
                break
        return {"rounds": rounds}
