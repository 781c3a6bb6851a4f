"""String tensors: constants, normalization, splitting, concatenation, regex matching.

String tensors hold Python ``str`` objects in numpy object arrays (element type ``string``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import BOOL, INT, INTS, STR, STRS, one_of
from tritium.ir.dialects.nn.common import broadcast_shapes, ttype
from tritium.ir.opdef import ConstantLike, Elementwise, Op, Pure, attr, operand, result
from tritium.ir.types import TensorType

STRING = [D.string]


def string_array(values: Any, shape: tuple[int, ...]) -> np.ndarray:
    """An object array of Python str (bytes are decoded as UTF-8)."""
    flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(shape)


class StringConstant(Op):
    """A constant string tensor: ``value`` holds its elements in row-major order."""

    name = "nn.string_constant"
    traits = (Pure, ConstantLike)
    value = attr(STRS)
    shape = attr(INTS)
    out = result()

    @classmethod
    def of(cls, array: np.ndarray, loc: Any = None) -> StringConstant:
        arr = np.asarray(array, dtype=object)
        return cls.build(value=tuple(arr.reshape(-1).tolist()), shape=arr.shape, loc=loc)

    def infer(self) -> TensorType:
        return TensorType(tuple(self.shape), D.string)

    def verify_op(self) -> None:
        if any(d < 0 for d in self.shape):
            self.fail(f"shape {list(self.shape)} has a negative dimension")
        n = int(np.prod(self.shape, dtype=np.int64))
        if n != len(self.value):
            self.fail(f"holds {len(self.value)} strings for shape {list(self.shape)} ({n} elements)")

    def value_array(self) -> np.ndarray:
        return string_array(self.value, tuple(self.shape))

    def reference(self) -> np.ndarray:
        return self.value_array()


class StringNormalizer(Op):
    """Drops ``stopwords`` (compared case-insensitively unless ``is_case_sensitive``) from a [C] or
    [1, C] tensor, then changes case; when every element is dropped the result holds one empty string.
    Case changes follow Unicode's default case mapping; ``locale`` is recorded, not interpreted."""

    name = "nn.string_normalizer"
    traits = (Pure,)
    x = operand(STRING)
    out = result()
    case_change_action = attr(one_of("NONE", "LOWER", "UPPER"), default="NONE")
    is_case_sensitive = attr(BOOL, default=False)
    locale = attr(STR, default="")
    stopwords = attr(STRS, default=())

    def infer(self) -> TensorType:
        t = ttype(self, self.x)
        if t.shape is None:
            return TensorType(None, D.string)
        if len(t.shape) == 1:
            return TensorType((None,), D.string)
        if len(t.shape) == 2 and t.shape[0] in (1, None):
            return TensorType((1, None), D.string)
        self.fail(f"input must be [C] or [1, C], found {t}")
        raise AssertionError

    def reference(self, x: np.ndarray) -> np.ndarray:
        if self.is_case_sensitive:
            stop = set(self.stopwords)
            keep = [s for s in x.reshape(-1) if s not in stop]
        else:
            stop = {w.casefold() for w in self.stopwords}
            keep = [s for s in x.reshape(-1) if s.casefold() not in stop]
        action = self.case_change_action
        if action == "LOWER":
            keep = [s.lower() for s in keep]
        elif action == "UPPER":
            keep = [s.upper() for s in keep]
        if not keep:
            keep = [""]
        shape = (len(keep),) if x.ndim == 1 else (1, len(keep))
        return string_array(keep, shape)


def _split(s: str, delimiter: str, maxsplit: int) -> list[str]:
    if delimiter:
        return s.split(delimiter, maxsplit)
    parts = s.split(None, maxsplit)  # runs of whitespace separate; none at either end
    if parts:
        parts[-1] = parts[-1].rstrip()
    return parts


class StringSplit(Op):
    """Splits each string at ``delimiter`` (at most ``maxsplit`` times; -1: no limit). An empty
    delimiter splits at runs of whitespace and drops leading and trailing whitespace. ``y`` has one
    more axis, as long as the longest split, padded with empty strings; ``z`` counts the pieces."""

    name = "nn.string_split"
    traits = (Pure,)
    x = operand(STRING)
    y = result()
    z = result()
    delimiter = attr(STR, default="")
    maxsplit = attr(INT, default=-1)

    def infer(self) -> list[TensorType]:
        t = ttype(self, self.x)
        if t.shape is None:
            return [TensorType(None, D.string), TensorType(None, D.i64)]
        return [TensorType((*t.shape, None), D.string), TensorType(t.shape, D.i64)]

    def verify_op(self) -> None:
        if self.maxsplit < -1:
            self.fail(f"maxsplit must be -1 (no limit) or >= 0, found {self.maxsplit}")

    def reference(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pieces = [_split(s, self.delimiter, self.maxsplit) for s in x.reshape(-1)]
        width = max((len(p) for p in pieces), default=0)
        flat = [s for p in pieces for s in p + [""] * (width - len(p))]
        counts = np.array([len(p) for p in pieces], np.int64).reshape(x.shape)
        return string_array(flat, (*x.shape, width)), counts


class StringConcat(Op):
    """Elementwise ``lhs + rhs`` of string tensors, with numpy broadcasting."""

    name = "nn.string_concat"
    traits = (Pure, Elementwise)
    lhs = operand(STRING)
    rhs = operand(STRING)
    out = result()

    def infer(self) -> TensorType:
        a, b = ttype(self, self.lhs), ttype(self, self.rhs)
        return TensorType(broadcast_shapes(self, a.shape, b.shape), D.string)

    def reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        x, y = np.broadcast_arrays(a, b)
        return string_array([p + q for p, q in zip(x.reshape(-1), y.reshape(-1))], x.shape)


class RegexFullMatch(Op):
    """Whether each string matches ``pattern`` as a whole (RE2 syntax, run with Python's ``re``,
    which accepts the RE2 constructs used in practice)."""

    name = "nn.regex_full_match"
    traits = (Pure, Elementwise)
    x = operand(STRING)
    out = result()
    pattern = attr(STR)

    def infer(self) -> TensorType:
        return TensorType(ttype(self, self.x).shape, D.bool_)

    def verify_op(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as e:
            self.fail(f"pattern {self.pattern!r} is not a valid regular expression: {e}")

    def reference(self, x: np.ndarray) -> np.ndarray:
        rx = re.compile(self.pattern)
        return np.array([rx.fullmatch(s) is not None for s in x.reshape(-1)], np.bool_).reshape(x.shape)
