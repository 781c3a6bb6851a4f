"""Reading ONNX protobuf pieces: models (paths, bytes, ModelProto, external data), tensors, types and
attributes, into Tritium's values. Weights in files are memory-mapped and viewed, not copied: loading
a model file costs about the size of its graph, not of its weights."""

from __future__ import annotations

import math
import mmap
import os
import threading
import weakref
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
#
# ``onnx.load_model`` reads a file into bytes and parses all of it, so every weight is held twice
# while loading (and a third time when ``t.raw_data`` hands out a copy). For a file, we instead walk
# the protobuf wire format (positioned reads, only the bytes of field keys and tensor headers) just
# deep enough to find the tensors whose ``raw_data`` is large: graph initializers, tensor attributes
# of nodes, sparse tensors, and the same inside subgraphs. The ModelProto is parsed from a copy of
# the file with those payloads left out; each such tensor instead says where its bytes are, in
# ONNX's own external-data form: ``data_location = EXTERNAL`` and ``external_data = {location: <the
# model file's name>, offset, length, tritium.file_id}``. ``tensor_to_array`` returns a read-only
# numpy view of one shared read-only mapping of the file (as for real external data files): no copy,
# and a page is read from disk only when used. ``tritium.file_id`` (device, inode, size, mtime) turns
# a view of a file replaced after loading into an error rather than wrong weights. To onnx such a
# proto is a model with external data (``onnx.external_data_helper.load_external_data_for_model``
# with the model's folder restores it, warning that it ignores the extra key).
#
# Bytes and ModelProto inputs are parsed and used as before (their raw_data is read from the proto).
#
# Field numbers below are those of onnx.proto.

MIN_VIEW_BYTES = 1024
"""Tensor payloads of a model file at least this large are mapped rather than copied into the proto."""

FILE_ID_KEY = "tritium.file_id"
"""external_data key marking a payload left in the model file itself by `load_model`."""

# message kind -> {field number: kind of the (length-delimited) submessage that may hold tensors}
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph"},  # ModelProto.graph
    "graph": {1: "node", 5: "tensor", 15: "sparse"},  # node, initializer, sparse_initializer
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},  # SparseTensorProto.values, .indices
}
_T_DIMS, _T_DATA_TYPE, _T_SEGMENT, _T_RAW_DATA, _T_EXTERNAL_DATA, _T_DATA_LOCATION = 1, 2, 3, 9, 13, 14


class _WireError(Exception):
    """The bytes are not the protobuf encoding we walk; onnx's own parser then reports why."""


def _varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _WireError
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _WireError


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _fields(buf: Any, start: int, end: int) -> Any:
    """(field, wire type, start of key, end of key, start of value, end of value) for each field."""
    pos = start
    while pos < end:
        key_start = pos
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        key_end = pos
        if wire == 0:
            _, pos = _varint(buf, pos, end)
            yield field, wire, key_start, key_end, key_end, pos
            continue
        if wire == 2:
            n, vstart = _varint(buf, pos, end)
            pos = vstart + n
        elif wire == 1:
            vstart, pos = pos, pos + 8
        elif wire == 5:
            vstart, pos = pos, pos + 4
        else:  # groups (3, 4) do not occur in onnx.proto
            raise _WireError
        if pos > end or field == 0:
            raise _WireError
        yield field, wire, key_start, key_end, vstart, pos


def _string_entry(key: str, value: str) -> bytes:
    """A TensorProto.external_data field: StringStringEntryProto {key = 1; value = 2}."""
    k, v = key.encode(), value.encode()
    body = b"\x0a" + _encode_varint(len(k)) + k + b"\x12" + _encode_varint(len(v)) + v
    return bytes([_T_EXTERNAL_DATA << 3 | 2]) + _encode_varint(len(body)) + body


class _FileBytes:
    """Random access to a file's bytes by positioned reads. The walk reads only the headers of the
    tensors; mapping the file for it would make the pages around each header resident (read-around
    and large folios: megabytes per tensor), so it reads them instead."""

    CHUNK = 1 << 16

    def __init__(self, f: Any, size: int) -> None:
        self.f = f
        self.size = size
        self.start = 0
        self.chunk = b""

    def _pread(self, n: int, pos: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self.f.fileno(), n, pos)
        self.f.seek(pos)  # (Windows)
        return self.f.read(n)

    def __getitem__(self, pos: int) -> int:
        off = pos - self.start
        if not 0 <= off < len(self.chunk):
            self.start, off = pos, 0
            self.chunk = self._pread(self.CHUNK, pos)
            if not self.chunk:
                raise _WireError
        return self.chunk[off]

    def read(self, start: int, end: int) -> bytes:
        parts = []
        while start < end:
            part = self._pread(end - start, start)
            if not part:
                raise _WireError
            parts.append(part)
            start += len(part)
        return b"".join(parts)


class _Stripper:
    """Rewrites a serialized ModelProto with large raw_data payloads replaced by references."""

    def __init__(self, buf: _FileBytes, location: str, file_id: str) -> None:
        self.buf = buf
        self.location = location
        self.file_id = file_id

    def message(self, start: int, end: int, kind: str) -> list[Any] | None:
        """The pieces of the rewritten message, or None when nothing in it changes."""
        children = _CHILDREN[kind]
        out: list[Any] = []
        done = start  # bytes before this offset are already in `out`
        for field, wire, _, key_end, vstart, vend in _fields(self.buf, start, end):
            child = children.get(field)
            if child is None or wire != 2 or vend - vstart < MIN_VIEW_BYTES:
                continue
            sub = self.tensor(vstart, vend) if child == "tensor" else self.message(vstart, vend, child)
            if sub is None:
                continue
            out.append(self.buf.read(done, key_end))
            out.append(_encode_varint(sum(len(p) for p in sub)))
            out.extend(sub)
            done = vend
        if not out:
            return None
        out.append(self.buf.read(done, end))
        return out

    def tensor(self, start: int, end: int) -> list[Any] | None:
        buf = self.buf
        dims: list[int] = []
        data_type = 0
        raw: tuple[int, int, int] | None = None
        raw_fields = 0
        for field, wire, key_start, _, vstart, vend in _fields(buf, start, end):
            if field == _T_DIMS and wire == 0:
                dims.append(_varint(buf, vstart, vend)[0])
            elif field == _T_DIMS and wire == 2:  # packed
                pos = vstart
                while pos < vend:
                    d, pos = _varint(buf, pos, vend)
                    dims.append(d)
            elif field == _T_DATA_TYPE and wire == 0:
                data_type = _varint(buf, vstart, vend)[0]
            elif field == _T_RAW_DATA and wire == 2:
                raw = (key_start, vstart, vend)
                raw_fields += 1
            elif field == _T_DATA_LOCATION and wire == 0:
                if _varint(buf, vstart, vend)[0] != TensorProto.DEFAULT:
                    return None  # already external
            elif field in (_T_SEGMENT, _T_EXTERNAL_DATA):
                return None  # segmented or external: leave it to the general path
        if raw is None or raw_fields != 1:
            return None
        dt = ONNX_TO_DTYPE.get(data_type)
        key_start, vstart, vend = raw
        if dt is None or dt.kind == "string" or dt.bits < 8:
            return None
        if math.prod(dims) * dt.np_dtype.itemsize != vend - vstart:  # (negative dims: huge varints)
            return None  # tensor_to_array reports the mismatch
        return [
            self.buf.read(start, key_start),
            self.buf.read(vend, end),
            _string_entry("location", self.location),
            _string_entry("offset", str(vstart)),
            _string_entry("length", str(vend - vstart)),
            _string_entry(FILE_ID_KEY, self.file_id),
            bytes([_T_DATA_LOCATION << 3, TensorProto.EXTERNAL]),
        ]


def _file_id(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


_MAPS: weakref.WeakValueDictionary[tuple[str, str], mmap.mmap] = weakref.WeakValueDictionary()
"""Read-only mappings of model and data files by (resolved path, file id); alive while a view is."""
_MAPS_LOCK = threading.Lock()


def _mapping(path: Path, expect_id: str | None, where: str) -> mmap.mmap | None:
    """The shared read-only mapping of ``path`` (None for an empty file); with ``expect_id``, the file
    must still be the one `load_model` read."""
    key = str(path.resolve())
    with _MAPS_LOCK:
        if expect_id is not None:
            mm = _MAPS.get((key, expect_id))
            if mm is not None:
                return mm
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            fid = _file_id(st)
            if expect_id is not None and fid != expect_id:
                raise OnnxFormatError(f"{where}: {path} changed after the model was loaded from it")
            mm = _MAPS.get((key, fid))
            if mm is None and st.st_size:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                _MAPS[(key, fid)] = mm
        return mm


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # a file name that is not valid UTF-8 (surrogate escapes)
        return False


def _load_file(path: Path) -> onnx.ModelProto:
    """Parse a model file, leaving its large raw_data payloads in the file."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_size >= MIN_VIEW_BYTES and _is_utf8(path.name):  # (proto strings are UTF-8)
            stripper = _Stripper(_FileBytes(f, st.st_size), path.name, _file_id(st))
            try:
                pieces = stripper.message(0, st.st_size, "model")
            except _WireError:
                pieces = None  # not the encoding of a ModelProto: onnx's parser says why below
            if pieces is not None:
                return onnx.load_model_from_string(b"".join(pieces))
        f.seek(0)
        return onnx.load_model_from_string(f.read())


def load_model(model: str | os.PathLike | bytes | onnx.ModelProto) -> tuple[onnx.ModelProto, Path | None]:
    """A ModelProto and the folder its external data lives in (None for bytes or an in-memory proto).

    From a file, tensors with large ``raw_data`` come back as references into the file itself (see
    above); `tensor_to_array` views them in place. Bytes and ModelProto inputs are used as given.
    """
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
    if not path.is_file():
        raise OnnxFormatError(f"{path}: not a file")
    try:
        proto = _load_file(path)
    except Exception as e:
        raise OnnxFormatError(f"{path}: not an ONNX model ({type(e).__name__}: {e})") from None
    return proto, path.absolute().parent  # (absolute: data is found even after a chdir)


def is_mapped(t: TensorProto) -> bool:
    """Whether `load_model` left this tensor's data in the model file (a view, not external data)."""
    return any(e.key == FILE_ID_KEY for e in t.external_data)


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
    if dt.kind == "string" or dt.bits < 8:
        raise OnnxFormatError(f"{where}: tensor '{t.name}': external {dt} data is not supported")
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise OnnxFormatError(f"{where}: tensor '{t.name}': bad external data offset or length") from None
    shape = tuple(t.dims)
    count = int(np.prod(shape, dtype=np.int64))
    nbytes = count * dt.np_dtype.itemsize
    if length is not None and length != nbytes:
        raise OnnxFormatError(
            f"{where}: tensor '{t.name}': external data length {length} does not fit its shape"
        )
    mm = _mapping(loc, info.get(FILE_ID_KEY), where)
    size = len(mm) if mm is not None else 0
    if offset < 0 or offset + nbytes > size:
        raise OnnxFormatError(f"{where}: tensor '{t.name}': external data runs past the end of {loc}")
    if count == 0 or mm is None:
        return np.zeros(shape, dt.np_dtype)
    arr = np.frombuffer(mm, dtype=dt.np_dtype.newbyteorder("<"), count=count, offset=offset)
    return arr.reshape(shape).astype(dt.np_dtype, copy=False)


def tensor_to_array(t: TensorProto, base: Path | None = None, where: str = "model") -> np.ndarray:
    """The value of a TensorProto. Data in files (external, or left in the model file by `load_model`)
    is a read-only view of a shared mapping; inline raw data is read once from the proto."""
    if t.data_location == TensorProto.EXTERNAL:
        return _external(t, base, where)
    dt = onnx_dtype(t.data_type, f"tensor '{t.name}'")
    shape = tuple(t.dims)
    if t.HasField("raw_data") and dt.kind != "string" and dt.bits >= 8:
        arr = np.frombuffer(t.raw_data, dtype=dt.np_dtype.newbyteorder("<"))
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
