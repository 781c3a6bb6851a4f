"""Reading ONNX protobuf pieces: models (paths, bytes, ModelProto, external data), tensors, types and
attributes, into Tritium's values. Tensor data is viewed, not copied, where the bytes allow it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto

from tritium.ir import dtypes as D
from tritium.ir.diagnostics import TritiumError
from tritium.ir.dtypes import DType
from tritium.ir.types import OptionalType, SequenceType, TensorType, Type


class OnnxFormatError(TritiumError):
    """The file is not a readable ONNX model."""


ONNX_TO_DTYPE: dict[int, DType] = {
    TensorProto.FLOAT: D.f32,
    TensorProto.UINT8: D.u8,
    TensorProto.INT8: D.i8,
    TensorProto.UINT16: D.u16,
    TensorProto.INT16: D.i16,
    TensorProto.INT32: D.i32,
    TensorProto.INT64: D.i64,
    TensorProto.STRING: D.string,
    TensorProto.BOOL: D.bool_,
    TensorProto.FLOAT16: D.f16,
    TensorProto.DOUBLE: D.f64,
    TensorProto.UINT32: D.u32,
    TensorProto.UINT64: D.u64,
    TensorProto.COMPLEX64: D.c64,
    TensorProto.COMPLEX128: D.c128,
    TensorProto.BFLOAT16: D.bf16,
    TensorProto.FLOAT8E4M3FN: D.f8E4M3FN,
    TensorProto.FLOAT8E4M3FNUZ: D.f8E4M3FNUZ,
    TensorProto.FLOAT8E5M2: D.f8E5M2,
    TensorProto.FLOAT8E5M2FNUZ: D.f8E5M2FNUZ,
    TensorProto.UINT4: D.u4,
    TensorProto.INT4: D.i4,
}
DTYPE_TO_ONNX = {v: k for k, v in ONNX_TO_DTYPE.items()}


def onnx_dtype(elem_type: int, where: str) -> DType:
    try:
        return ONNX_TO_DTYPE[elem_type]
    except KeyError:
        name = (
            TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else elem_type
        )
        raise OnnxFormatError(f"{where}: element type {name} is not supported") from None


# ---------------------------------------------------------------------------------------------------
# Models


def load_model(model: str | os.PathLike | bytes | onnx.ModelProto) -> tuple[onnx.ModelProto, Path | None]:
    """A ModelProto and the folder its external data lives in (None for bytes or an in-memory proto)."""
    if isinstance(model, onnx.ModelProto):
        return model, None
    if isinstance(model, bytes | bytearray | memoryview):
        try:
            proto = onnx.load_model_from_string(bytes(model))
        except Exception as e:
            raise OnnxFormatError(f"<bytes>: not an ONNX model ({type(e).__name__}: {e})") from None
        return proto, None
    path = Path(model)
    if not path.exists():
        raise OnnxFormatError(f"{path}: no such file")
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:
        raise OnnxFormatError(f"{path}: not an ONNX model ({type(e).__name__}: {e})") from None
    return proto, path.parent


# ---------------------------------------------------------------------------------------------------
# Tensors


def _external(t: TensorProto, base: Path | None, where: str) -> np.ndarray:
    info = {e.key: e.value for e in t.external_data}
    if base is None:
        raise OnnxFormatError(
            f"{where}: tensor '{t.name}' has external data but the model was not loaded from a file"
        )
    loc = base / info.get("location", "")
    if not loc.is_file():
        raise OnnxFormatError(f"{where}: tensor '{t.name}': external data file {loc} not found")
    dt = onnx_dtype(t.data_type, f"tensor '{t.name}'")
    offset = int(info.get("offset", 0))
    count = int(np.prod(t.dims, dtype=np.int64))
    length = int(info["length"]) if "length" in info else count * dt.np_dtype.itemsize
    if count * dt.np_dtype.itemsize != length:
        raise OnnxFormatError(
            f"{where}: tensor '{t.name}': external data length {length} does not fit its shape"
        )
    if offset + length > loc.stat().st_size:
        raise OnnxFormatError(f"{where}: tensor '{t.name}': external data runs past the end of {loc}")
    if count == 0:
        return np.zeros(tuple(t.dims), dt.np_dtype)
    return np.memmap(loc, dtype=dt.np_dtype, mode="r", offset=offset, shape=tuple(t.dims))


def tensor_to_array(t: TensorProto, base: Path | None = None, where: str = "model") -> np.ndarray:
    """The value of a TensorProto; raw data is viewed in place (read-only) rather than copied."""
    if t.data_location == TensorProto.EXTERNAL:
        return _external(t, base, where)
    dt = onnx_dtype(t.data_type, f"tensor '{t.name}'")
    shape = tuple(t.dims)
    if t.HasField("raw_data") and dt.kind != "string" and dt.bits >= 8:
        raw = t.raw_data
        arr = np.frombuffer(raw, dtype=dt.np_dtype.newbyteorder("<"))
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise OnnxFormatError(
                f"{where}: tensor '{t.name}' holds {arr.size} values for shape {list(shape)}"
            )
        return arr.reshape(shape).astype(dt.np_dtype, copy=False)
    try:
        arr = onnx.numpy_helper.to_array(t)
    except Exception as e:
        raise OnnxFormatError(f"{where}: tensor '{t.name}' cannot be read ({e})") from None
    if dt.kind == "string":
        return arr.astype(object)
    if arr.dtype != dt.np_dtype:  # onnx returns some narrow types widened or as raw ints
        arr = arr.astype(dt.np_dtype) if arr.dtype.kind != "V" else arr.view(dt.np_dtype)
    return arr


# ---------------------------------------------------------------------------------------------------
# Types


def type_from_proto(tp: onnx.TypeProto, where: str, dim_names: dict[str, str] | None = None) -> Type | None:
    """A Tritium type for an ONNX TypeProto (None when the proto carries no type at all)."""
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        tt = tp.tensor_type
        if tt.elem_type == 0:
            return None
        dtype = onnx_dtype(tt.elem_type, where)
        if not tt.HasField("shape"):
            return TensorType(None, dtype)
        dims: list[int | str | None] = []
        for d in tt.shape.dim:
            if d.HasField("dim_value") and d.dim_value >= 0:
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
        return TensorType(tuple(dims), dtype)
    if which == "sequence_type":
        elem = type_from_proto(tp.sequence_type.elem_type, where)
        return SequenceType(elem) if elem is not None else None
    if which == "optional_type":
        elem = type_from_proto(tp.optional_type.elem_type, where)
        return OptionalType(elem) if elem is not None else None
    if which is None:
        return None
    raise OnnxFormatError(f"{where}: values of ONNX type '{which}' are not supported")


# ---------------------------------------------------------------------------------------------------
# Attributes


def attribute_value(a: AttributeProto, base: Path | None = None) -> Any:
    """Python value of an attribute: int, float, str, tuple, numpy array (tensors), or GraphProto."""
    t = a.type
    if t == AttributeProto.INT:
        return int(a.i)
    if t == AttributeProto.FLOAT:
        return float(np.float32(a.f))
    if t == AttributeProto.STRING:
        return a.s.decode("utf-8", errors="replace")
    if t == AttributeProto.INTS:
        return tuple(int(x) for x in a.ints)
    if t == AttributeProto.FLOATS:
        return tuple(float(np.float32(x)) for x in a.floats)
    if t == AttributeProto.STRINGS:
        return tuple(s.decode("utf-8", errors="replace") for s in a.strings)
    if t == AttributeProto.TENSOR:
        return tensor_to_array(a.t, base, f"attribute '{a.name}'")
    if t == AttributeProto.TENSORS:
        return tuple(tensor_to_array(x, base, f"attribute '{a.name}'") for x in a.tensors)
    if t == AttributeProto.GRAPH:
        return a.g
    if t == AttributeProto.GRAPHS:
        return tuple(a.graphs)
    if t == AttributeProto.SPARSE_TENSOR:
        return sparse_to_array(a.sparse_tensor, base)
    if t == AttributeProto.TYPE_PROTO:
        return a.tp
    raise OnnxFormatError(f"attribute '{a.name}' has unsupported type {AttributeProto.AttributeType.Name(t)}")


def sparse_to_array(sp: onnx.SparseTensorProto, base: Path | None) -> np.ndarray:
    values = tensor_to_array(sp.values, base, "sparse tensor")
    idx = tensor_to_array(sp.indices, base, "sparse tensor").astype(np.int64)
    dense = np.zeros(tuple(sp.dims), values.dtype)
    if idx.ndim == 1:
        dense.reshape(-1)[idx] = values
    else:
        dense[tuple(idx.T)] = values
    return dense
