"""TensorRT's small enums, shared by the runtime and the builder API."""

from __future__ import annotations

import enum

from tritium.ir import dtypes as D
from tritium.ir.dtypes import DType


class DataType(enum.IntEnum):
    """TensorRT's DataType values (DOUBLE and INT16 go beyond TensorRT: ONNX models carry them)."""

    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    FP8 = 6
    BF16 = 7
    INT64 = 8
    INT4 = 9
    DOUBLE = 100
    INT16 = 101

    @property
    def dtype(self) -> DType:
        return _TO_DTYPE[self]

    @staticmethod
    def of(dt: DType) -> DataType:
        try:
            return _FROM_DTYPE[dt]
        except KeyError:
            raise ValueError(f"element type {dt} has no TensorRT DataType") from None


_TO_DTYPE = {
    DataType.FLOAT: D.f32,
    DataType.HALF: D.f16,
    DataType.INT8: D.i8,
    DataType.INT32: D.i32,
    DataType.BOOL: D.bool_,
    DataType.UINT8: D.u8,
    DataType.FP8: D.f8E4M3FN,
    DataType.BF16: D.bf16,
    DataType.INT64: D.i64,
    DataType.INT4: D.i4,
    DataType.DOUBLE: D.f64,
    DataType.INT16: D.i16,
}
_FROM_DTYPE = {v: k for k, v in _TO_DTYPE.items()}


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2
