"""Control flow: ops with regions whose values are yielded back to them (if, loop, scan).

A region ends with ``nn.yield``. Regions see the values of the enclosing blocks. Loop and scan bodies
take block arguments; the types of loop-carried arguments describe every iteration's value (they are
at least as general as the initial value and as each value the body yields for them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import INT, INTS
from tritium.ir.opdef import Op, Terminator, attr, operand, opt_operand, region, var_operand, var_result
from tritium.ir.types import OptionalType, SequenceType, TensorType, Type, dims_compatible


class Yield(Op):
    """Ends a region of a control-flow op (if/loop/scan bodies, kernel bodies), yielding its values."""

    name = "nn.yield"
    traits = (Terminator,)
    values = var_operand()

    def infer(self) -> list:
        return []


# ---------------------------------------------------------------------------------------------------
# Type helpers shared by the ops with regions


def join_types(a: Type, b: Type) -> Type | None:
    """The most precise type describing both ``a`` and ``b`` (None when they cannot be joined).

    Tensors of one element type join dim by dim (differing dims become unknown, differing ranks an
    unknown rank); sequences join their elements; an optional joins with its element's type.
    """
    if a == b:
        return a
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        if a.dtype != b.dtype:
            return None
        if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
            return TensorType(None, a.dtype)
        return TensorType(tuple(x if x == y else None for x, y in zip(a.shape, b.shape)), a.dtype)
    if isinstance(a, SequenceType) and isinstance(b, SequenceType):
        e = join_types(a.element, b.element)
        return None if e is None else SequenceType(e)
    if isinstance(a, OptionalType) or isinstance(b, OptionalType):
        ea = a.element if isinstance(a, OptionalType) else a
        eb = b.element if isinstance(b, OptionalType) else b
        e = join_types(ea, eb)
        return None if e is None else OptionalType(e)
    return None


def fits(value: Type, declared: Type) -> bool:
    """Whether every value of type ``value`` is also a value of type ``declared``.

    Unknown and named dims of ``declared`` accept any size; an optional accepts its element's values.
    """
    if isinstance(declared, TensorType) and isinstance(value, TensorType):
        if declared.dtype != value.dtype:
            return False
        if declared.shape is None:
            return True
        if value.shape is None or len(value.shape) != len(declared.shape):
            return False
        return all(
            not isinstance(d, int) or (isinstance(v, int) and v == d)
            for d, v in zip(declared.shape, value.shape)
        )
    if isinstance(declared, SequenceType) and isinstance(value, SequenceType):
        return fits(value.element, declared.element)
    if isinstance(declared, OptionalType):
        inner = value.element if isinstance(value, OptionalType) else value
        return fits(inner, declared.element)
    return value == declared


def yielded(op: Op, index: int) -> list[Any]:
    """The values that region ``index`` of ``op`` yields."""
    last = op.regions[index].block.last_op
    if not isinstance(last, Yield):
        op.fail(f"region #{index} must end with nn.yield")
    return list(last.values)


def scalar_flag(x: Any) -> bool:
    """A one-element bool tensor's value."""
    arr = np.asarray(x)
    if arr.size != 1:
        raise ValueError(f"a condition must hold one element, got shape {list(arr.shape)}")
    return bool(arr.reshape(-1)[0])


def one_element(op: Op, t: Type, what: str) -> None:
    if (
        isinstance(t, TensorType)
        and t.shape is not None
        and any(isinstance(d, int) and d != 1 for d in t.shape)
    ):
        op.fail(f"{what} must hold one element, found {t}")


# ---------------------------------------------------------------------------------------------------
# nn.if


class If(Op):
    """Runs ``then_region`` when ``cond`` (a one-element bool tensor) is true, else ``else_region``;
    the results are the values the branch yields (tensors, sequences or optionals)."""

    name = "nn.if"
    cond = operand([D.bool_])
    outs = var_result()
    then_region = region()
    else_region = region()

    def infer(self) -> list[Type]:
        a = [v.type for v in yielded(self, 0)]
        b = [v.type for v in yielded(self, 1)]
        if len(a) != len(b):
            self.fail(f"branches yield {len(a)} and {len(b)} values")
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            j = join_types(x, y)
            if j is None:
                self.fail(f"branches yield incompatible types for result #{i}: {x} and {y}")
            out.append(j)
        return out

    def verify_op(self) -> None:
        one_element(self, self.cond.type, "cond")
        for r, t in zip(self.results, self.infer()):
            if isinstance(t, TensorType) and isinstance(r.type, TensorType) and t.shape and r.type.shape:
                if not all(dims_compatible(x, y) for x, y in zip(t.shape, r.type.shape)):
                    self.fail(f"result #{r.index} has type {r.type} but the branches yield {t}")

    def evaluate(self, interp: Any, vals: list[Any], env: dict) -> tuple:
        cond = scalar_flag(vals[0])
        return tuple(interp.run_block(self.regions[0 if cond else 1].block, [], env))


# ---------------------------------------------------------------------------------------------------
# nn.loop


def _stack(op: Op, items: list[np.ndarray], t: TensorType, axis: int, what: str) -> np.ndarray:
    """Stack per-iteration values along a new ``axis``; an empty list gives a size-0 axis."""
    if items:
        shapes = {x.shape for x in items}
        if len(shapes) > 1:
            raise ValueError(f"{what} has different shapes in different iterations: {sorted(shapes)}")
        return np.stack(items, axis=axis)
    if t.shape is None or not all(isinstance(d, int) for d in t.shape):
        raise ValueError(f"{what}: no iteration ran and the element shape {t} is not static")
    shape = list(t.shape)
    shape.insert(axis, 0)
    return np.zeros(shape, t.dtype.np_dtype)


class Loop(Op):
    """ONNX Loop: runs ``body`` while ``i < max_trip_count`` (when given) and the condition holds.

    The body takes ``(iteration_num: tensor<i64>, cond: tensor<i1>, carried...)`` and yields
    ``(cond, carried..., scan_elements...)``. The results are the final carried values, then each scan
    element stacked over the iterations along a new first axis. When ``cond`` is absent, the
    condition the body yields is ignored (the loop runs ``max_trip_count`` times).
    """

    name = "nn.loop"
    max_trip_count = opt_operand([D.i64])
    cond = opt_operand([D.bool_])
    initial = var_operand()
    outs = var_result()
    body = region()

    def _parts(self) -> tuple[list[Any], list[Any], list[Any]]:
        """(body carried args, yielded carried values, yielded scan elements)."""
        n = len(self.initial)
        args = self.body.block.args
        ys = yielded(self, 0)
        if len(args) != n + 2:
            self.fail(f"body takes {len(args)} arguments, expected {n + 2} (iteration, cond, {n} carried)")
        if len(ys) < n + 1:
            self.fail(f"body yields {len(ys)} values, expected at least {n + 1} (cond, {n} carried)")
        return list(args[2:]), ys[1 : n + 1], ys[n + 1 :]

    def infer(self) -> list[Type]:
        _, carried, scans = self._parts()
        out: list[Type] = []
        for i, (v, y) in enumerate(zip(self.initial, carried)):
            j = join_types(v.type, y.type)
            if j is None:
                self.fail(f"carried value #{i} starts as {v.type} but the body yields {y.type}")
            out.append(j)
        trips = self.const(self.max_trip_count) if self.cond is None else None
        n = int(trips.reshape(-1)[0]) if trips is not None and trips.size == 1 else None
        for i, y in enumerate(scans):
            t = y.type
            if not isinstance(t, TensorType):
                self.fail(f"scan output #{i} must be a tensor, found {t}")
            out.append(
                TensorType(
                    None if t.shape is None else (max(n, 0) if n is not None else None, *t.shape), t.dtype
                )
            )
        return out

    def verify_op(self) -> None:
        if self.max_trip_count is None and self.cond is None:
            self.fail("needs max_trip_count or cond (without either it never ends)")
        for v, what in ((self.max_trip_count, "max_trip_count"), (self.cond, "cond")):
            if v is not None:
                one_element(self, v.type, what)
        args = self.body.block.args
        args_carried, carried, _ = self._parts()
        if args[0].type != TensorType((), D.i64) or args[1].type != TensorType((), D.bool_):
            self.fail(
                f"body must take tensor<i64> and tensor<i1> first, found {args[0].type}, {args[1].type}"
            )
        cond_t = yielded(self, 0)[0].type
        if not isinstance(cond_t, TensorType) or cond_t.dtype != D.bool_:
            self.fail(f"body must yield a bool condition first, found {cond_t}")
        one_element(self, cond_t, "the yielded condition")
        for i, (a, v, y) in enumerate(zip(args_carried, self.initial, carried)):
            if not fits(v.type, a.type):
                self.fail(
                    f"carried value #{i} starts as {v.type}, which the body argument {a.type} does not hold"
                )
            if not fits(y.type, a.type):
                self.fail(
                    f"carried value #{i} is yielded as {y.type}, which the body argument {a.type} does not hold"
                )

    def evaluate(self, interp: Any, vals: list[Any], env: dict) -> tuple:
        m, c, init = self.operand_groups(vals)
        limit = None if m is None else int(np.asarray(m).reshape(-1)[0])
        cond = True if c is None else scalar_flag(c)
        block = self.body.block
        carried = list(init)
        n = len(carried)
        scans: list[list[np.ndarray]] = [[] for _ in range(len(self.results) - n)]
        i = 0
        while cond and (limit is None or i < limit):
            args = [np.array(i, np.int64), np.array(cond), *carried]
            for a, x in zip(block.args[2:], carried):
                interp.check_value(self, a.type, x, f"body argument '{a.name_hint or a.index}'")
            outs = interp.run_block(block, args, env)
            if c is not None:
                cond = scalar_flag(outs[0])
            carried = list(outs[1 : n + 1])
            for k, x in enumerate(outs[n + 1 :]):
                scans[k].append(x)
            i += 1
        stacked = [
            _stack(self, s, r.type, 0, f"scan output #{k}")  # type: ignore[arg-type]
            for k, (s, r) in enumerate(zip(scans, self.results[n:]))
        ]
        return (*carried, *stacked)


# ---------------------------------------------------------------------------------------------------
# nn.scan


class Scan(Op):
    """ONNX Scan (opset 9+): ``inputs`` are N initial states then M scan inputs (``num_scan_inputs``).

    The body takes ``(states..., slices...)``, a slice being scan input ``j`` indexed along
    ``scan_input_axes[j]`` (backward when ``scan_input_directions[j]`` is 1), and yields
    ``(states..., scan_elements...)``. The results are the final states, then each scan element
    stacked along ``scan_output_axes[k]`` (in reverse iteration order when its direction is 1).
    """

    name = "nn.scan"
    inputs = var_operand()
    outs = var_result()
    body = region()
    num_scan_inputs = attr(INT)
    scan_input_axes = attr(INTS, default=())
    scan_input_directions = attr(INTS, default=())
    scan_output_axes = attr(INTS, default=())
    scan_output_directions = attr(INTS, default=())

    def _counts(self) -> tuple[int, int, int]:
        m = self.num_scan_inputs
        total = len(self.inputs)
        if not 0 < m <= total:
            self.fail(f"num_scan_inputs {m} must be in [1, {total}] (the number of inputs)")
        n = total - m
        ys = yielded(self, 0)
        if len(ys) < n:
            self.fail(f"body yields {len(ys)} values, expected at least {n} states")
        return n, m, len(ys) - n

    def _axes(self, key: str, count: int) -> tuple[int, ...]:
        vals = tuple(getattr(self, key))
        if not vals:
            return (0,) * count
        if len(vals) != count:
            self.fail(f"{key} has {len(vals)} entries, expected {count}")
        return vals

    def _in_axis(self, j: int) -> int:
        n, m, _ = self._counts()
        axis = self._axes("scan_input_axes", m)[j]
        t = self.inputs[n + j].type
        if not isinstance(t, TensorType):
            self.fail(f"scan input #{j} must be a tensor, found {t}")
        if t.rank is None:
            return axis
        if not -t.rank <= axis < t.rank:
            self.fail(f"scan_input_axes[{j}] = {axis} is out of range for {t}")
        return axis % t.rank

    def slice_type(self, j: int) -> TensorType:
        """The type of the body's slice of scan input ``j``."""
        n, _, _ = self._counts()
        t = self.inputs[n + j].type
        axis = self._in_axis(j)
        if t.shape is None:  # type: ignore[union-attr]
            return t  # type: ignore[return-value]
        return TensorType(t.shape[:axis] + t.shape[axis + 1 :], t.dtype)  # type: ignore[union-attr]

    def _length(self) -> int | None:
        n, m, _ = self._counts()
        for j in range(m):
            t = self.inputs[n + j].type
            axis = self._in_axis(j)
            if t.shape is not None and isinstance(t.shape[axis], int):  # type: ignore[union-attr]
                return t.shape[axis]  # type: ignore[union-attr]
        return None

    def infer(self) -> list[Type]:
        n, _, k = self._counts()
        ys = yielded(self, 0)
        out: list[Type] = []
        for i in range(n):
            j = join_types(self.inputs[i].type, ys[i].type)
            if j is None:
                self.fail(f"state #{i} starts as {self.inputs[i].type} but the body yields {ys[i].type}")
            out.append(j)
        length = self._length()
        axes = self._axes("scan_output_axes", k)
        for i, y in enumerate(ys[n:]):
            t = y.type
            if not isinstance(t, TensorType):
                self.fail(f"scan output #{i} must be a tensor, found {t}")
            if t.shape is None:
                out.append(t)
                continue
            r = len(t.shape) + 1
            if not -r <= axes[i] < r:
                self.fail(f"scan_output_axes[{i}] = {axes[i]} is out of range for rank {r}")
            shape = list(t.shape)
            shape.insert(axes[i] % r, length)
            out.append(TensorType(tuple(shape), t.dtype))
        return out

    def verify_op(self) -> None:
        n, m, k = self._counts()
        for key, count in (("scan_input_directions", m), ("scan_output_directions", k)):
            if any(d not in (0, 1) for d in self._axes(key, count)):
                self.fail(f"{key} must hold 0 (forward) or 1 (backward), found {list(getattr(self, key))}")
        args = self.body.block.args
        if len(args) != n + m:
            self.fail(f"body takes {len(args)} arguments, expected {n + m} ({n} states, {m} slices)")
        ys = yielded(self, 0)
        for i in range(n):
            if not fits(self.inputs[i].type, args[i].type):
                self.fail(
                    f"state #{i} starts as {self.inputs[i].type}, which the body argument {args[i].type} does not hold"
                )
            if not fits(ys[i].type, args[i].type):
                self.fail(
                    f"state #{i} is yielded as {ys[i].type}, which the body argument {args[i].type} does not hold"
                )
        for j in range(m):
            st = self.slice_type(j)
            if not fits(st, args[n + j].type):
                self.fail(f"scan input #{j} gives slices of type {st}, but the body takes {args[n + j].type}")

    def evaluate(self, interp: Any, vals: list[Any], env: dict) -> tuple:
        n, m, k = self._counts()
        in_axes = [self._in_axis(j) for j in range(m)]
        in_dirs = self._axes("scan_input_directions", m)
        xs = vals[n:]
        lengths = {x.shape[a] for x, a in zip(xs, in_axes)}
        if len(lengths) != 1:
            raise ValueError(f"scan inputs have different lengths along their scan axes: {sorted(lengths)}")
        length = lengths.pop()
        states = list(vals[:n])
        block = self.body.block
        elems: list[list[np.ndarray]] = [[] for _ in range(k)]
        for t in range(length):
            slices = [np.take(x, length - 1 - t if d else t, axis=a) for x, a, d in zip(xs, in_axes, in_dirs)]
            outs = interp.run_block(block, [*states, *slices], env)
            states = list(outs[:n])
            for i, y in enumerate(outs[n:]):
                elems[i].append(y)
        out_axes = self._axes("scan_output_axes", k)
        out_dirs = self._axes("scan_output_directions", k)
        stacked = []
        for i, (items, r) in enumerate(zip(elems, self.results[n:])):
            t = r.type
            rank = (
                t.rank
                if isinstance(t, TensorType) and t.rank is not None
                else (items[0].ndim + 1 if items else 1)
            )
            axis = out_axes[i] % rank
            elem_t = TensorType(None if t.shape is None else t.shape[:axis] + t.shape[axis + 1 :], t.dtype)  # type: ignore[union-attr]
            seq = items[::-1] if out_dirs[i] else items
            stacked.append(_stack(self, seq, elem_t, axis, f"scan output #{i}"))
        return (*states, *stacked)
