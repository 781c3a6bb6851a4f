"""lower-precision: run a float32 network in float16 or bfloat16.

Every float32 value inside the function becomes the target type, weights included (converted once,
at build time). The function's inputs and outputs keep their declared types: casts at the boundary
convert them. Ops pinned to float32 (attribute ``precision = "f32"``, set by the builder API's
``layer.precision``, or listed in ``keep``) read and write float32, with casts around them. Kernels
still accumulate in float32 (matrix products, reductions, softmax, normalizations): only storage
and the elementwise arithmetic between them are narrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import Dense, ResourceRef
from tritium.ir.core import Operation, Value
from tritium.ir.diagnostics import TritiumError
from tritium.ir.dialects.nn.constant import Constant
from tritium.ir.opdef import Op, Terminator
from tritium.ir.rewriter import Rewriter
from tritium.ir.types import TensorType, Type
from tritium.passes.base import Pass, register_pass


def _is_f32(t: Type) -> bool:
    return isinstance(t, TensorType) and t.dtype == D.f32


def _retype(t: Type, dt: D.DType) -> Type:
    return t.with_dtype(dt) if _is_f32(t) else t  # type: ignore[attr-defined]


@register_pass
@dataclass(frozen=True)
class LowerPrecision(Pass):
    """Convert float32 computation to ``dtype`` (f16 or bf16).

    Requires: nn-dialect IR (before fusion). Guarantees: values that were float32 are ``dtype``,
    except the function's inputs and outputs (cast at the boundary), ops pinned to float32 (their
    float operands and results stay float32, cast around them) and ops named in ``keep``. Weights are
    converted once; a weight also read by a pinned op keeps a float32 copy through a cast.
    """

    name = "lower-precision"
    dtype: str = "f16"
    keep: tuple[str, ...] = ()
    io: bool = False
    """Also the function's float32 inputs and outputs: the caller passes and gets ``dtype`` (what
    TensorRT's FP16 I/O formats do), and no cast kernel runs at the boundary."""

    def run(self, module: Any) -> dict[str, int]:
        target = D.DType.parse(self.dtype)
        if target not in (D.f16, D.bf16):
            raise TritiumError(f"lower-precision converts to f16 or bf16, not {self.dtype}")
        stats = {"casts": 0, "weights converted": 0, "ops kept in f32": 0, "inputs and outputs narrowed": 0}
        for func in module.functions:
            _Lowering(module, func, target, set(self.keep), stats).run(self.io)
        return stats


class _Lowering:
    def __init__(
        self, module: Any, func: Any, target: D.DType, keep: set[str], stats: dict[str, int]
    ) -> None:
        self.module, self.func, self.target, self.keep, self.stats = module, func, target, keep, stats
        self.rw = Rewriter()
        self.cast_cache: dict[tuple[Value, D.DType], Value] = {}

    def cast(self, v: Value, dt: D.DType, before: Operation) -> Value:
        from tritium.ir.dialects.nn.cast import Cast

        key = (v, dt)
        if key not in self.cast_cache:
            anchor = v.defining_op.next_op if v.defining_op is not None else self.func.block.first_op
            at = anchor if anchor is not None and anchor.parent is before.parent else before
            with self.rw.at(before=at):
                c = self.rw.create(Cast, v, to=dt, loc=before.loc)
            c.out.name_hint = (v.name_hint or "v") + (
                ".f16" if dt == D.f16 else ".bf16" if dt == D.bf16 else ".f32"
            )
            self.cast_cache[key] = c.out
            self.stats["casts"] += 1
        return self.cast_cache[key]

    def pinned(self, op: Operation) -> bool:
        return op.attributes.get("precision") == "f32" or op.name in self.keep

    def run(self, io: bool = False) -> None:
        block = self.func.block
        if io:
            self.narrow_inputs()
        for arg in block.args:  # inputs keep their type; users get a narrow copy (not parameters)
            if _is_f32(arg.type) and any(
                not self.pinned(u.op) and Terminator not in u.op.TRAITS and not is_param(u.op, u.index)
                for u in arg.uses
            ):
                first = block.first_op
                narrow = self.cast(arg, self.target, first)
                for use in list(arg.uses):
                    if (
                        use.op is not narrow.defining_op
                        and not self.pinned(use.op)
                        and Terminator not in use.op.TRAITS
                        and not is_param(use.op, use.index)
                    ):
                        self.rw.set_operand(use.op, use.index, narrow)
        for op in list(block.ops):
            if Terminator in op.TRAITS or (
                op.name == "nn.cast" and op in {c.defining_op for c in self.cast_cache.values()}
            ):
                continue
            if isinstance(op, Constant):
                self.constant(op)
            elif self.pinned(op):
                self.stats["ops kept in f32"] += 1
                for i, v in enumerate(op.operands):
                    if isinstance(v.type, TensorType) and v.type.dtype == self.target:
                        self.rw.set_operand(op, i, self.cast(v, D.f32, op))
            else:
                self.lower_op(op)
        ret = self.func.return_op
        outs = list(self.func.function_type.outputs)
        for i, (v, t) in enumerate(zip(ret.operands, outs)):
            if not (isinstance(t, TensorType) and t.dtype == D.f32):
                continue
            if io:  # the output itself narrows (a pinned op's float32 result is cast to it)
                if _is_f32(v.type):
                    self.rw.set_operand(ret, i, self.cast(v, self.target, ret))
                outs[i] = t.with_dtype(self.target)
                self.stats["inputs and outputs narrowed"] += 1
            elif v.type != t:
                self.rw.set_operand(ret, i, self.cast(v, D.f32, ret))
        if io:
            ft = self.func.function_type
            self.rw.set_attr(
                self.func, "function_type", type(ft)(tuple(a.type for a in block.args), tuple(outs))
            )

    def narrow_inputs(self) -> None:
        """The float32 inputs become the target type; ops pinned to float32 read a widened copy."""
        for arg in self.func.block.args:
            if _is_f32(arg.type) and not any(is_param(u.op, u.index) for u in arg.uses):
                self.rw.set_type(arg, arg.type.with_dtype(self.target))  # type: ignore[attr-defined]
                self.stats["inputs and outputs narrowed"] += 1

    def constant(self, op: Constant) -> None:
        if not _is_f32(op.out.type):
            return
        users = op.out.users
        if users and all(self.pinned(u) for u in users):
            return
        if users and all(is_param(u.op, u.index) for u in op.out.uses):
            return
        value = op.value
        if isinstance(value, Dense):
            self.rw.set_attr(op, "value", Dense.from_array(value.array.astype(self.target.np_dtype)))
        else:
            assert isinstance(value, ResourceRef)
            data = self.module.resources.get(value.name)
            if data is None:
                raise TritiumError(f"{op.describe()}: weight '{value.name}' has no data to convert")
            narrow = np.asarray(data).astype(self.target.np_dtype)
            if any(self.pinned(u.op) or is_param(u.op, u.index) for u in op.out.uses):  # keep an f32 original
                key = self.module.add_resource(value.name + "." + self.target.name, narrow)
                with self.rw.at(after=op):
                    new = self.rw.insert(
                        Constant.build(
                            value=ResourceRef(key),
                            result_types=[op.out.type.with_dtype(self.target)],  # type: ignore[attr-defined]
                            loc=op.loc,
                        )
                    )
                for use in list(op.out.uses):
                    if not self.pinned(use.op) and not is_param(use.op, use.index):
                        self.rw.set_operand(use.op, use.index, new.out)
                self.stats["weights converted"] += 1
                return
            self.module.resources[value.name] = narrow
            self.stats["weights converted"] += 1
        self.rw.set_type(op.out, op.out.type.with_dtype(self.target))  # type: ignore[attr-defined]

    def lower_op(self, op: Operation) -> None:
        to_integer = op.name == "nn.cast" and not op.attributes["to"].is_float
        for i, v in enumerate(op.operands):  # f32 values from inputs or pinned ops: narrow copies
            # (a cast to integers reads float32 as it is: narrowing first would only round twice)
            if _is_f32(v.type) and not is_param(op, i) and not to_integer:
                self.rw.set_operand(op, i, self.cast(v, self.target, op))
        if op.name == "nn.cast" and op.attributes.get("to") == D.f32:
            self.rw.set_attr(op, "to", self.target)
        if not isinstance(op, Op) or op.regions:
            new_types = [_retype(r.type, self.target) for r in op.results]
        else:
            try:
                inferred = op.infer()
                new_types = [inferred] if isinstance(inferred, Type) else list(inferred)
            except NotImplementedError:
                new_types = [_retype(r.type, self.target) for r in op.results]
        for r, t in zip(op.results, new_types):
            if _is_f32(t):  # f32 made from attributes (a dtype attribute, say): narrow it after the op
                users = list(r.uses)
                if users:
                    c = self.cast(r, self.target, op)
                    for use in users:
                        self.rw.set_operand(use.op, use.index, c)
            elif r.type != t:
                self.rw.set_type(r, t)


PARAMS = {"nn.resize": (1, 2), "nn.range": (0, 1, 2)}
"""Float operands that are parameters (scales, bounds), not data: they keep float32."""


def is_param(op: Operation, index: int) -> bool:
    return index in PARAMS.get(op.name, ())
