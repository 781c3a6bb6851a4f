"""The reference interpreter: runs any IR on the ops' numpy semantics.

It is the ground truth that every pass and kernel is checked against. It checks each result against
its declared type (dtype, static dims, and that a named dim has one size throughout a run), frees each
value after its last use, and wraps failures in an error that names the op, its location and the
shapes it was given.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from tritium.ir.core import Block, Operation, Region, Value
from tritium.ir.diagnostics import TritiumError
from tritium.ir.opdef import ConstantLike, Op, Terminator
from tritium.ir.types import OptionalType, SequenceType, TensorType, Type


class ReferenceError(TritiumError):
    """An op failed (or produced a wrong type) during reference execution."""


def _show(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype}[{','.join(map(str, x.shape))}]"
    if isinstance(x, list):
        return "[" + ", ".join(_show(v) for v in x) + "]"
    return "none" if x is None else type(x).__name__


class Interpreter:
    def __init__(self, module: Operation, check_types: bool = True) -> None:
        self.module = module
        self.check_types = check_types
        self._last_use: dict[Block, dict[Operation, list[Value]]] = {}
        self.dims: dict[str, int] = {}  # sizes bound to named dims in the current run

    # -- entry points ----------------------------------------------------------------------------------
    def run(self, inputs: Sequence[Any] | Mapping[str, Any], func: Any = None) -> list[Any]:
        """Run ``func`` (default: the module's main) on positional or named inputs; returns its results."""
        f = func if func is not None else self.module.main  # type: ignore[attr-defined]
        args = self._bind_inputs(f, inputs)
        return self.call(f, args)

    def run_named(self, inputs: Sequence[Any] | Mapping[str, Any], func: Any = None) -> dict[str, Any]:
        f = func if func is not None else self.module.main  # type: ignore[attr-defined]
        outs = self.run(inputs, f)
        names = f.output_names or [f"output_{i}" for i in range(len(outs))]
        return dict(zip(names, outs))

    def call(self, func: Any, args: Sequence[Any]) -> list[Any]:
        return self.run_region(func.body, args)

    # -- execution -------------------------------------------------------------------------------------
    def run_region(self, region: Region, args: Sequence[Any]) -> list[Any]:
        """Run the region's (single) block with ``args`` bound to its arguments; returns what its
        terminator yields."""
        return self.run_block(region.block, args)

    def run_block(
        self, block: Block, args: Sequence[Any], env: MutableMapping[Value, Any] | None = None
    ) -> list[Any]:
        env = ChainMap({}, env) if env is not None else {}  # nested regions see the enclosing values
        for a, v in zip(block.args, args):
            env[a] = v
        frees = self._frees(block)
        for op in block.ops:
            if Terminator in op.TRAITS:
                return [self._get(env, v, op) for v in op._operands]
            if ConstantLike in op.TRAITS:
                outs: Any = (op.reference(),)  # type: ignore[attr-defined]
            else:
                vals = [self._get(env, v, op) for v in op._operands]
                outs = self.eval_op(op, vals, env)
            for r, x in zip(op.results, outs):
                env[r] = x
            for v in frees.get(op, ()):
                env.pop(v, None)
        return []

    def eval_op(self, op: Operation, vals: list[Any], env: dict[Value, Any]) -> tuple:
        try:
            evaluate = getattr(op, "evaluate", None)
            if evaluate is not None:
                outs = evaluate(self, vals, env)
            else:
                groups = op.operand_groups(vals) if isinstance(op, Op) else vals  # type: ignore[attr-defined]
                outs = op.reference(*groups)  # type: ignore[attr-defined]
        except ReferenceError:
            raise
        except Exception as e:
            raise ReferenceError(
                f"{op.describe()} failed on inputs ({', '.join(_show(v) for v in vals)}): "
                f"{type(e).__name__}: {e}"
            ) from e
        if not isinstance(outs, tuple):
            outs = (outs,)
        if len(outs) != len(op.results):
            raise ReferenceError(
                f"{op.describe()}: reference returned {len(outs)} values for {len(op.results)} results"
            )
        if self.check_types:
            for r, x in zip(op.results, outs):
                self.check_value(op, r.type, x, f"result #{r.index}")
        return outs

    def check_value(self, op: Operation | None, t: Type, x: Any, what: str, bind_dims: bool = True) -> None:
        """Raise `ReferenceError` unless ``x`` is a value of type ``t``: an array for a tensor (dtype,
        static dims, named dims bound once per run), a list of such for a sequence, None or the
        element's value for an optional. Elements of a sequence may differ in their named dims."""
        where = op.describe() if op is not None else "function"
        if isinstance(t, TensorType):
            if not isinstance(x, np.ndarray):
                raise ReferenceError(f"{where}: {what} should be a {t} array, got {type(x).__name__}")
            if x.dtype != t.dtype.np_dtype:
                raise ReferenceError(
                    f"{where}: {what} should have element type {t.dtype}, got numpy {x.dtype}"
                )
            if t.shape is None:
                return
            if len(t.shape) != x.ndim:
                raise ReferenceError(f"{where}: {what} should be {t}, got shape {list(x.shape)}")
            for d, n in zip(t.shape, x.shape):
                if isinstance(d, int) and d != n:
                    raise ReferenceError(f"{where}: {what} should be {t}, got shape {list(x.shape)}")
                if isinstance(d, str) and bind_dims:
                    bound = self.dims.setdefault(d, n)
                    if bound != n:
                        raise ReferenceError(
                            f"{where}: {what} has size {n} for dimension '{d}', "
                            f"which is {bound} elsewhere in this run"
                        )
        elif isinstance(t, SequenceType):
            if not isinstance(x, list):
                raise ReferenceError(f"{where}: {what} should be a sequence, got {type(x).__name__}")
            for i, e in enumerate(x):
                self.check_value(op, t.element, e, f"{what}[{i}]", bind_dims=False)
        elif isinstance(t, OptionalType):
            if x is not None:
                self.check_value(op, t.element, x, what, bind_dims)

    def _get(self, env: dict[Value, Any], v: Value, op: Operation) -> Any:
        try:
            return env[v]
        except KeyError:
            raise ReferenceError(
                f"{op.describe()}: operand has no value (defined in an enclosing block that "
                "was not passed, or freed too early)"
            ) from None

    def _frees(self, block: Block) -> dict[Operation, list[Value]]:
        """For each op, the values of this block whose last use it is (uses in nested regions count)."""
        cached = self._last_use.get(block)
        if cached is not None:
            return cached
        last: dict[Value, Operation] = {}
        for op in block.ops:
            for nested in op.walk():
                for v in nested._operands:
                    last[v] = op
        frees: dict[Operation, list[Value]] = {}
        for v, op in last.items():
            frees.setdefault(op, []).append(v)
        self._last_use[block] = frees
        return frees

    def _bind_inputs(self, f: Any, inputs: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
        params = f.block.args
        names = list(f.input_names or [a.name_hint or f"input_{i}" for i, a in enumerate(params)])
        if isinstance(inputs, Mapping):
            missing = [n for n in names if n not in inputs]
            extra = [n for n in inputs if n not in names]
            if missing or extra:
                raise ReferenceError(
                    f"inputs do not match the function: missing {missing}, unexpected {extra}; "
                    f"expected {names}"
                )
            values = [inputs[n] for n in names]
        else:
            if len(inputs) != len(params):
                raise ReferenceError(f"expected {len(params)} inputs ({names}), got {len(inputs)}")
            values = list(inputs)
        self.dims = {}
        out = []
        for name, a, v in zip(names, params, values):
            if isinstance(a.type, TensorType):
                v = np.asarray(v)
                if a.type.dtype.kind == "string" and v.dtype.kind == "U":
                    v = v.astype(object)  # numpy str arrays: strings are held as Python str objects
                if v.dtype != a.type.dtype.np_dtype:
                    raise ReferenceError(
                        f"input '{name}' should have element type {a.type.dtype}, got numpy {v.dtype}"
                    )
            self.check_value(None, a.type, v, f"input '{name}'")
            out.append(v)
        return out


def run_reference(module: Operation, inputs: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    """Run the module's main function on the reference semantics."""
    return Interpreter(module).run(inputs)
