"""Attribute values and locations.

Attributes are plain, frozen Python values, so that pass code reads naturally (``op.strides`` is a
tuple of ints): ``int``, ``float``, ``bool``, ``str``, ``tuple`` (arrays, nested), `DType`, `Type`,
and the three classes here: `Dense` (a small tensor value held inline), `ResourceRef` (a named weight
held out of line by the module, printed ``dense_resource<name>``) and `SymbolRef` (``@name``).
Each op declares the kind of each of its attributes (`AttrKind`), which checks and normalizes values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from tritium.ir.dtypes import DType
from tritium.ir.types import TensorType, Type

_BARE_NAME = re.compile(r"[A-Za-z_][\w.$-]*\Z")


def quote(s: str) -> str:
    """A string literal in IR text (JSON escapes)."""
    out = ['"']
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def name_text(name: str) -> str:
    """A symbol or resource name: bare when it is a plain identifier, quoted otherwise."""
    return name if _BARE_NAME.match(name) else quote(name)


def unquote_symbol(text: str) -> str:
    """The name in ``@name`` or ``@"quoted name"``."""
    import json

    return json.loads(text[1:]) if text[1:2] == '"' else text[1:]


@dataclass(frozen=True)
class SymbolRef:
    """A reference to a symbol (a function) by name: ``@main``."""

    name: str

    def __str__(self) -> str:
        return "@" + name_text(self.name)


@dataclass(frozen=True)
class ResourceRef:
    """A named weight kept out of line in the module's resource table: ``dense_resource<conv1.weight>``."""

    name: str

    def __str__(self) -> str:
        return f"dense_resource<{name_text(self.name)}>"


@dataclass(frozen=True, eq=False)
class Dense:
    """A tensor value held in the IR itself (shape constants, scalars). Immutable and hashable.

    Large values belong in resources; `Dense` is for the small constants that passes reason about.
    """

    type: TensorType
    data: bytes

    @staticmethod
    def from_array(value: Any, dtype: DType | None = None) -> Dense:
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype.np_dtype)
        dt = DType.from_numpy(arr.dtype)
        if dt.kind == "string":
            raise ValueError("string tensors are not supported in dense attributes")
        return Dense(TensorType(arr.shape, dt), np.ascontiguousarray(arr).tobytes())

    @cached_property
    def array(self) -> np.ndarray:
        """The value as a read-only numpy array."""
        arr = np.frombuffer(self.data, dtype=self.type.dtype.np_dtype).reshape(self.type.shape)
        arr.flags.writeable = False
        return arr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dense) and self.type == other.type and self.data == other.data

    def __hash__(self) -> int:
        return hash((self.type, self.data))

    def __repr__(self) -> str:
        return f"Dense({self.type}, {self.array.tolist()!r})"


# ---------------------------------------------------------------------------------------------------
# Locations


class Location:
    """Where an op came from. Printed as a trailing ``loc(...)``."""

    __slots__ = ()


@dataclass(frozen=True)
class NameLoc(Location):
    """The name of the source node (ONNX node name, Caffe layer, TF node, API layer)."""

    name: str

    def __str__(self) -> str:
        return f"loc({quote(self.name)})"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class FusedLoc(Location):
    """Several source nodes that one op now stands for (after fusion)."""

    locs: tuple[str, ...]

    def __str__(self) -> str:
        return "loc(fused[" + ", ".join(quote(n) for n in self.locs) + "])"

    @property
    def names(self) -> tuple[str, ...]:
        return self.locs


@dataclass(frozen=True)
class FileLoc(Location):
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"loc({quote(self.file)}:{self.line}:{self.col})"

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.file}:{self.line}:{self.col}",)


def fuse_locs(*locs: Location | None) -> Location | None:
    """A location standing for all of ``locs`` (duplicates dropped, order kept)."""
    names: list[str] = []
    for loc in locs:
        if loc is None:
            continue
        for n in loc.names:  # type: ignore[attr-defined]
            if n not in names:
                names.append(n)
    if not names:
        return None
    return NameLoc(names[0]) if len(names) == 1 else FusedLoc(tuple(names))


# ---------------------------------------------------------------------------------------------------
# Attribute kinds: what an op declares for each attribute. ``check`` normalizes or raises ValueError.


@dataclass(frozen=True)
class AttrKind:
    name: str
    check: Callable[[Any], Any]

    def __str__(self) -> str:
        return self.name


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"expected an integer, got {_show(v)}")
    return int(v)


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"expected a number, got {_show(v)}")
    return float(v)


def _bool(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ValueError(f"expected true or false, got {_show(v)}")


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {_show(v)}")
    return v


def _array(elem: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    def check(v: Any) -> tuple:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if not isinstance(v, (tuple, list)):
            raise ValueError(f"expected an array, got {_show(v)}")
        return tuple(elem(x) for x in v)

    return check


def _dtype(v: Any) -> DType:
    if isinstance(v, DType):
        return v
    if isinstance(v, str):
        return DType.parse(v)
    raise ValueError(f"expected an element type, got {_show(v)}")


def _type(v: Any) -> Type:
    if not isinstance(v, Type):
        raise ValueError(f"expected a type, got {_show(v)}")
    return v


def _dense(v: Any) -> Dense:
    if isinstance(v, Dense):
        return v
    raise ValueError(f"expected a dense<...> value, got {_show(v)}")


def _resource_or_dense(v: Any) -> Dense | ResourceRef:
    if isinstance(v, (Dense, ResourceRef)):
        return v
    raise ValueError(f"expected dense<...> or dense_resource<...>, got {_show(v)}")


def _symbol(v: Any) -> SymbolRef:
    if isinstance(v, SymbolRef):
        return v
    raise ValueError(f"expected a symbol reference @name, got {_show(v)}")


def _any(v: Any) -> Any:
    return v


def _show(v: Any) -> str:
    from tritium.ir.printer import attr_text

    try:
        return attr_text(v)
    except Exception:
        return repr(v)


INT = AttrKind("int", _int)
FLOAT = AttrKind("float", _float)
BOOL = AttrKind("bool", _bool)
STR = AttrKind("string", _str)
INTS = AttrKind("array<int>", _array(_int))
FLOATS = AttrKind("array<float>", _array(_float))
STRS = AttrKind("array<string>", _array(_str))
DTYPE = AttrKind("dtype", _dtype)
DTYPES = AttrKind("array<dtype>", _array(_dtype))
TYPE = AttrKind("type", _type)
TYPES = AttrKind("array<type>", _array(_type))
DENSE = AttrKind("dense", _dense)
ELEMENTS = AttrKind("dense or dense_resource", _resource_or_dense)
SYMBOL = AttrKind("symbol", _symbol)
ANY = AttrKind("any", _any)


def one_of(*choices: str) -> AttrKind:
    """A string attribute restricted to ``choices`` (an enum)."""

    def check(v: Any) -> str:
        s = _str(v)
        if s not in choices:
            raise ValueError(f"expected one of {', '.join(map(quote, choices))}, got {quote(s)}")
        return s

    return AttrKind("enum<" + "|".join(choices) + ">", check)
