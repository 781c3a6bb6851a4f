"""Types: frozen, hashable values.

``tensor<?x3x{batch}x224xf32>``: a dimension is an int (static), ``None`` (unknown, printed ``?``) or a
string (a named symbolic dimension, printed in braces so that any name survives the ``x`` separators).
``tensor<*xf32>`` is a tensor of unknown rank. Sequences (``seq<tensor<...>>``) and optionals
(``opt<...>``) carry ONNX's non-tensor values. Each type renders its text once and keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias

from tritium.ir.dtypes import DType

Dim: TypeAlias = "int | str | None"


class Type:
    """Base of all types. Subclasses are frozen dataclasses; ``str(t)`` is the IR text."""

    __slots__ = ()


def dim_str(d: Dim) -> str:
    if d is None:
        return "?"
    if isinstance(d, str):
        return "{" + d + "}"
    return str(d)


@dataclass(frozen=True, eq=True)
class TensorType(Type):
    shape: tuple[Dim, ...] | None
    """Dimensions, or None for a tensor of unknown rank."""
    dtype: DType

    def __post_init__(self) -> None:
        if self.shape is not None:
            if not isinstance(self.shape, tuple):
                object.__setattr__(self, "shape", tuple(self.shape))
            for d in self.shape:
                if not (d is None or isinstance(d, str) or (isinstance(d, int) and d >= 0)):
                    raise ValueError(f"bad tensor dimension {d!r} (expected int >= 0, None or a name)")

    @cached_property
    def _text(self) -> str:
        if self.shape is None:
            return f"tensor<*x{self.dtype.name}>"
        return "tensor<" + "".join(dim_str(d) + "x" for d in self.shape) + self.dtype.name + ">"

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return self._text

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    @property
    def numel(self) -> int | None:
        """Number of elements when every dimension is static, else None."""
        if not self.is_static:
            return None
        n = 1
        for d in self.shape:  # type: ignore[union-attr]
            n *= d  # type: ignore[operator]
        return n

    @property
    def nbytes(self) -> int | None:
        n = self.numel
        return None if n is None else n * self.dtype.itemsize

    def with_shape(self, shape: Iterable[Dim] | None) -> TensorType:
        return TensorType(None if shape is None else tuple(shape), self.dtype)

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(self.shape, dtype)


@dataclass(frozen=True, eq=True)
class SequenceType(Type):
    """An ONNX sequence of tensors, all of one element type."""

    element: Type

    def __str__(self) -> str:
        return f"seq<{self.element}>"


@dataclass(frozen=True, eq=True)
class OptionalType(Type):
    """An ONNX optional: a value of ``element`` type, or none."""

    element: Type

    def __str__(self) -> str:
        return f"opt<{self.element}>"


@dataclass(frozen=True, eq=True)
class FunctionType(Type):
    inputs: tuple[Type, ...]
    outputs: tuple[Type, ...]

    def __str__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"({ins}) -> ({outs})"


def tensor(shape: Iterable[Dim] | None, dtype: DType) -> TensorType:
    """Shorthand: ``tensor((1, 3), f32)``."""
    return TensorType(None if shape is None else tuple(shape), dtype)


def dims_compatible(a: Dim, b: Dim) -> bool:
    """Two dimensions can describe the same runtime size."""
    return a is None or b is None or a == b or isinstance(a, str) or isinstance(b, str)


def types_compatible(declared: Type, inferred: Type) -> bool:
    """True when ``declared`` may be the type of a value whose inferred type is ``inferred``.

    Unknown dims and unknown ranks on either side are compatible; named dims match ints and other names
    (a name is a promise of equality among its own uses, checked at run time, not a fixed size).
    """
    if isinstance(declared, TensorType) and isinstance(inferred, TensorType):
        if declared.dtype != inferred.dtype:
            return False
        if declared.shape is None or inferred.shape is None:
            return True
        if len(declared.shape) != len(inferred.shape):
            return False
        return all(dims_compatible(a, b) for a, b in zip(declared.shape, inferred.shape))
    if isinstance(declared, SequenceType) and isinstance(inferred, SequenceType):
        return types_compatible(declared.element, inferred.element)
    if isinstance(declared, OptionalType) and isinstance(inferred, OptionalType):
        return types_compatible(declared.element, inferred.element)
    return declared == inferred
