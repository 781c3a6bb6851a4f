"""Sequences (``seq<tensor<...>>``, Python lists of arrays) and optionals (``opt<T>``: None or a T).

Sequence ops never change their operands: each returns a new list.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, DTYPE, INT, TYPE
from tritium.ir.dialects.nn.common import norm_axis, ttype
from tritium.ir.dialects.nn.control import fits, join_types, yielded
from tritium.ir.opdef import Op, Pure, attr, operand, opt_operand, region, result, var_operand, var_result
from tritium.ir.types import OptionalType, SequenceType, TensorType, Type

INDEX = [D.i32, D.i64]


def seq_type(op: Op, v: Any, what: str = "sequence") -> SequenceType:
    t = v.type
    if not isinstance(t, SequenceType):
        op.fail(f"{what} must be a sequence, found {t}")
    return t


def elem_tensor(op: Op, t: SequenceType) -> TensorType:
    e = t.element
    if not isinstance(e, TensorType):
        op.fail(f"sequence elements must be tensors, found {e}")
    return e


def unnamed(t: Type) -> Type:
    """``t`` with its named dims made unknown: the elements of a sequence need not agree on the sizes
    of their named dims, so a name is no promise once an element is taken out."""
    if isinstance(t, TensorType) and t.shape is not None and any(isinstance(d, str) for d in t.shape):
        return TensorType(tuple(None if isinstance(d, str) else d for d in t.shape), t.dtype)
    return t


def _position(p: np.ndarray | None, n: int, default: int, hi: int, what: str) -> int:
    """A position in a sequence of ``n`` (negative counts from the back); valid in [-n, hi]."""
    if p is None:
        return default
    arr = np.asarray(p)
    if arr.size != 1:
        raise ValueError(f"{what} must hold one element, got shape {list(arr.shape)}")
    i = int(arr.reshape(-1)[0])
    if not -n <= i <= hi:
        raise ValueError(f"{what} {i} is out of range for a sequence of {n} tensors")
    return i + n if i < 0 else i


def _check_index(op: Op, v: Any, what: str) -> None:
    if v is None:
        return
    t = ttype(op, v, what)
    if t.shape is not None and any(isinstance(d, int) and d != 1 for d in t.shape):
        op.fail(f"{what} must hold one element, found {t}")


class SequenceEmpty(Op):
    """An empty sequence of tensors of element type ``dtype``."""

    name = "nn.sequence_empty"
    traits = (Pure,)
    dtype = attr(DTYPE)
    out = result()

    def infer(self) -> SequenceType:
        return SequenceType(TensorType(None, self.dtype))

    def reference(self) -> list:
        return []


class SequenceConstruct(Op):
    """The sequence of its operands (tensors of one element type)."""

    name = "nn.sequence_construct"
    traits = (Pure,)
    inputs = var_operand()
    out = result()

    def infer(self) -> SequenceType:
        if not self.inputs:
            self.fail("needs at least one tensor")
        t: Type = ttype(self, self.inputs[0], "input #0")
        for i, v in enumerate(self.inputs[1:], 1):
            j = join_types(t, ttype(self, v, f"input #{i}"))
            if j is None:
                self.fail(f"inputs have different element types: {self.inputs[0].type} and {v.type}")
            t = j  # type: ignore[assignment]
        return SequenceType(t)

    def reference(self, inputs: list[np.ndarray]) -> list:
        return list(inputs)


class SequenceInsert(Op):
    """``sequence`` with ``tensor`` inserted before ``position`` (default: at the end)."""

    name = "nn.sequence_insert"
    traits = (Pure,)
    sequence = operand()
    tensor = operand()
    position = opt_operand(INDEX)
    out = result()

    def infer(self) -> SequenceType:
        e = seq_type(self, self.sequence).element
        j = join_types(e, ttype(self, self.tensor, "tensor"))
        if j is None:
            self.fail(f"cannot insert a {self.tensor.type} into a {self.sequence.type}")
        return SequenceType(j)  # type: ignore[arg-type]

    def verify_op(self) -> None:
        _check_index(self, self.position, "position")

    def reference(self, seq: list, x: np.ndarray, pos: np.ndarray | None) -> list:
        i = _position(pos, len(seq), len(seq), len(seq), "position")
        return [*seq[:i], x, *seq[i:]]


class SequenceAt(Op):
    """The tensor at ``position`` (negative counts from the back)."""

    name = "nn.sequence_at"
    traits = (Pure,)
    sequence = operand()
    position = operand(INDEX)
    out = result()

    def infer(self) -> TensorType:
        return unnamed(elem_tensor(self, seq_type(self, self.sequence)))  # type: ignore[return-value]

    def verify_op(self) -> None:
        _check_index(self, self.position, "position")

    def reference(self, seq: list, pos: np.ndarray) -> np.ndarray:
        return seq[_position(pos, len(seq), 0, len(seq) - 1, "position")]


class SequenceErase(Op):
    """``sequence`` without the tensor at ``position`` (default: the last one)."""

    name = "nn.sequence_erase"
    traits = (Pure,)
    sequence = operand()
    position = opt_operand(INDEX)
    out = result()

    def infer(self) -> SequenceType:
        return seq_type(self, self.sequence)

    def verify_op(self) -> None:
        _check_index(self, self.position, "position")

    def reference(self, seq: list, pos: np.ndarray | None) -> list:
        if not seq:
            raise ValueError("cannot erase from an empty sequence")
        i = _position(pos, len(seq), len(seq) - 1, len(seq) - 1, "position")
        return seq[:i] + seq[i + 1 :]


class SequenceLength(Op):
    """The number of tensors in ``sequence``, as an i64 scalar."""

    name = "nn.sequence_length"
    traits = (Pure,)
    sequence = operand()
    out = result()

    def infer(self) -> TensorType:
        seq_type(self, self.sequence)
        return TensorType((), D.i64)

    def reference(self, seq: list) -> np.ndarray:
        return np.array(len(seq), np.int64)


class ConcatFromSequence(Op):
    """The tensors of ``sequence`` concatenated along ``axis``, or stacked along a new ``axis`` when
    ``new_axis``."""

    name = "nn.concat_from_sequence"
    traits = (Pure,)
    sequence = operand()
    out = result()
    axis = attr(INT)
    new_axis = attr(BOOL, default=False)

    def infer(self) -> TensorType:
        e: TensorType = unnamed(elem_tensor(self, seq_type(self, self.sequence)))  # type: ignore[assignment]
        if e.shape is None:
            return TensorType(None, e.dtype)
        rank = len(e.shape) + (1 if self.new_axis else 0)
        if rank == 0:
            self.fail("cannot concatenate scalars (use new_axis)")
        axis = norm_axis(self, self.axis, rank)
        shape = list(e.shape)
        if self.new_axis:
            shape.insert(axis, None)
        else:
            shape[axis] = None
        return TensorType(tuple(shape), e.dtype)

    def reference(self, seq: list) -> np.ndarray:
        if not seq:
            raise ValueError("cannot concatenate an empty sequence")
        if self.new_axis:
            return np.stack(seq, axis=self.axis % (seq[0].ndim + 1))
        return np.concatenate(seq, axis=self.axis % seq[0].ndim)


class SplitToSequence(Op):
    """``x`` split along ``axis`` into a sequence: into pieces of the sizes in ``split`` (1-D), into
    pieces of ``split`` elements (scalar; the last may be shorter), or, without ``split``, into pieces
    of one element, whose axis is dropped unless ``keepdims``."""

    name = "nn.split_to_sequence"
    traits = (Pure,)
    x = operand()
    split = opt_operand(INDEX)
    out = result()
    axis = attr(INT, default=0)
    keepdims = attr(BOOL, default=True)

    def infer(self) -> SequenceType:
        t = ttype(self, self.x)
        if t.shape is None:
            return SequenceType(TensorType(None, t.dtype))
        axis = norm_axis(self, self.axis, len(t.shape))
        shape = list(t.shape)
        s = self.const(self.split)
        if self.split is None:
            if self.keepdims:
                shape[axis] = 1
            else:
                del shape[axis]
        elif (
            s is not None
            and s.size >= 1
            and len(set(s.reshape(-1).tolist())) == 1
            and (s.ndim == 1 or (isinstance(t.shape[axis], int) and t.shape[axis] % int(s) == 0))
        ):
            shape[axis] = int(s.reshape(-1)[0])
        else:
            shape[axis] = None
        return SequenceType(TensorType(tuple(shape), t.dtype))

    def verify_op(self) -> None:
        t = self.split.type if self.split is not None else None
        if isinstance(t, TensorType) and t.rank is not None and t.rank > 1:
            self.fail(f"split must be a scalar or 1-D, found {t}")

    def reference(self, x: np.ndarray, split: np.ndarray | None) -> list:
        axis = self.axis % x.ndim
        n = x.shape[axis]
        if split is None:
            pieces = [np.take(x, [i], axis=axis) for i in range(n)]
            return pieces if self.keepdims else [np.squeeze(p, axis=axis) for p in pieces]
        if split.ndim == 0:
            size = int(split)
            if size <= 0:
                raise ValueError(f"split {size} must be positive")
            sizes = [size] * (n // size) + ([n % size] if n % size else [])
        else:
            sizes = [int(s) for s in split]
            if any(s < 0 for s in sizes) or sum(sizes) != n:
                raise ValueError(f"split sizes {sizes} do not add up to the axis length {n}")
        bounds = np.cumsum([0, *sizes])
        index = [slice(None)] * x.ndim
        out = []
        for lo, hi in itertools.pairwise(bounds):
            index[axis] = slice(int(lo), int(hi))
            out.append(x[tuple(index)].copy())
        return out


class SequenceMap(Op):
    """Runs ``body`` once per tensor of ``sequence``; each additional input is passed whole when a
    tensor, or element by element when a sequence (of the same length). The results are the sequences
    of the values the body yields."""

    name = "nn.sequence_map"
    sequence = operand()
    additional = var_operand()
    outs = var_result()
    body = region()

    def infer(self) -> list[Type]:
        return [SequenceType(v.type) for v in yielded(self, 0)]

    def verify_op(self) -> None:
        seq_type(self, self.sequence)
        inputs = [self.sequence, *self.additional]
        args = self.body.block.args
        if len(args) != len(inputs):
            self.fail(f"body takes {len(args)} arguments, expected {len(inputs)}")
        for i, (v, a) in enumerate(zip(inputs, args)):
            t = v.type.element if isinstance(v.type, SequenceType) else v.type
            if not fits(t, a.type):
                self.fail(f"input #{i} gives the body {t}, but its argument is {a.type}")
        for i, v in enumerate(yielded(self, 0)):
            if not isinstance(v.type, TensorType):
                self.fail(f"body must yield tensors, yields {v.type} as #{i}")

    def evaluate(self, interp: Any, vals: list[Any], env: dict) -> tuple:
        seq = vals[0]
        kinds = [isinstance(v.type, SequenceType) for v in self.operands]
        for v, is_seq in zip(vals[1:], kinds[1:]):
            if is_seq and len(v) != len(seq):
                raise ValueError(f"sequences have different lengths: {len(seq)} and {len(v)}")
        outs: list[list[Any]] = [[] for _ in self.results]
        for i in range(len(seq)):
            args = [v[i] if is_seq else v for v, is_seq in zip(vals, kinds)]
            for k, y in enumerate(interp.run_block(self.body.block, args, env)):
                outs[k].append(y)
        return tuple(outs)


# ---------------------------------------------------------------------------------------------------
# Optionals


class Optional(Op):
    """An optional holding ``x``, or an empty optional of type ``opt<elem_type>`` without ``x``."""

    name = "nn.optional"
    traits = (Pure,)
    x = opt_operand()
    out = result()
    elem_type = attr(TYPE, default=None)

    def infer(self) -> OptionalType:
        if self.x is not None:
            if isinstance(self.x.type, OptionalType):
                self.fail(f"cannot wrap an optional ({self.x.type}) in an optional")
            return OptionalType(self.x.type)
        if self.elem_type is None:
            self.fail("an empty optional needs elem_type")
        return OptionalType(self.elem_type)

    def verify_op(self) -> None:
        if self.x is not None and self.elem_type is not None and not fits(self.x.type, self.elem_type):
            self.fail(f"elem_type {self.elem_type} does not describe the operand's type {self.x.type}")

    def reference(self, x: Any) -> Any:
        return x


class OptionalHasElement(Op):
    """Whether ``x`` holds a value (an i1 scalar); a tensor or sequence always does."""

    name = "nn.optional_has_element"
    traits = (Pure,)
    x = operand()
    out = result()

    def infer(self) -> TensorType:
        return TensorType((), D.bool_)

    def reference(self, x: Any) -> np.ndarray:
        return np.array(x is not None)


class OptionalGetElement(Op):
    """The value an optional holds (an error when it is empty)."""

    name = "nn.optional_get_element"
    traits = (Pure,)
    x = operand()
    out = result()

    def infer(self) -> Type:
        t = self.x.type
        if not isinstance(t, OptionalType):
            self.fail(f"operand must be an optional, found {t}")
        return t.element

    def reference(self, x: Any) -> Any:
        if x is None:
            raise ValueError("the optional is empty")
        return x
