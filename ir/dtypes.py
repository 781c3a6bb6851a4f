"""Element types of tensors.

A `DType` is a frozen value naming one scalar type. Its textual name is the MLIR spelling (`f32`,
`bf16`, `f8E4M3FN`, `i64`, `ui8`, `i1` for bool); `DType.parse` takes that name. Each dtype maps to a
numpy dtype (bf16 and the f8 types through `ml_dtypes`), which is what the reference semantics use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ml_dtypes
import numpy as np


@dataclass(frozen=True, slots=True)
class DType:
    name: str
    """The textual spelling, e.g. ``f32``."""
    kind: str
    """One of ``float``, ``int``, ``uint``, ``bool``, ``complex``, ``string``."""
    bits: int
    np_dtype: np.dtype = field(compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return self.name

    @property
    def itemsize(self) -> int:
        return max(self.bits // 8, 1)

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_int(self) -> bool:
        """Signed or unsigned integer (not bool)."""
        return self.kind in ("int", "uint")

    @property
    def is_signed(self) -> bool:
        return self.kind in ("int", "float", "complex")

    @staticmethod
    def parse(name: str) -> DType:
        try:
            return _BY_NAME[name]
        except KeyError:
            raise ValueError(
                f"unknown element type '{name}' (expected one of {', '.join(_BY_NAME)})"
            ) from None

    @staticmethod
    def from_numpy(dt: np.dtype | type) -> DType:
        dt = np.dtype(dt)
        try:
            return _BY_NUMPY[dt]
        except KeyError:
            raise ValueError(f"numpy dtype {dt} has no Tritium element type") from None


def _dt(name: str, kind: str, bits: int, np_dtype) -> DType:
    return DType(name, kind, bits, np.dtype(np_dtype))


f64 = _dt("f64", "float", 64, np.float64)
f32 = _dt("f32", "float", 32, np.float32)
f16 = _dt("f16", "float", 16, np.float16)
bf16 = _dt("bf16", "float", 16, ml_dtypes.bfloat16)
f8E4M3FN = _dt("f8E4M3FN", "float", 8, ml_dtypes.float8_e4m3fn)
f8E5M2 = _dt("f8E5M2", "float", 8, ml_dtypes.float8_e5m2)
f8E4M3FNUZ = _dt("f8E4M3FNUZ", "float", 8, ml_dtypes.float8_e4m3fnuz)
f8E5M2FNUZ = _dt("f8E5M2FNUZ", "float", 8, ml_dtypes.float8_e5m2fnuz)
i64 = _dt("i64", "int", 64, np.int64)
i32 = _dt("i32", "int", 32, np.int32)
i16 = _dt("i16", "int", 16, np.int16)
i8 = _dt("i8", "int", 8, np.int8)
i4 = _dt("i4", "int", 4, ml_dtypes.int4)
u64 = _dt("ui64", "uint", 64, np.uint64)
u32 = _dt("ui32", "uint", 32, np.uint32)
u16 = _dt("ui16", "uint", 16, np.uint16)
u8 = _dt("ui8", "uint", 8, np.uint8)
u4 = _dt("ui4", "uint", 4, ml_dtypes.uint4)
bool_ = _dt("i1", "bool", 8, np.bool_)
c64 = _dt("c64", "complex", 64, np.complex64)
c128 = _dt("c128", "complex", 128, np.complex128)
string = _dt("string", "string", 0, np.object_)

ALL: tuple[DType, ...] = (
    f64,
    f32,
    f16,
    bf16,
    f8E4M3FN,
    f8E5M2,
    f8E4M3FNUZ,
    f8E5M2FNUZ,
    i64,
    i32,
    i16,
    i8,
    i4,
    u64,
    u32,
    u16,
    u8,
    u4,
    bool_,
    c64,
    c128,
    string,
)
FLOATS = frozenset(d for d in ALL if d.is_float)
INTS = frozenset(d for d in ALL if d.is_int)
NUMERIC = FLOATS | INTS
_BY_NAME = {d.name: d for d in ALL} | {"bool": bool_}
_BY_NUMPY = {d.np_dtype: d for d in ALL if d is not string} | {np.dtype(np.str_): string}
