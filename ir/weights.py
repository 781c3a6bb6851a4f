"""A safe container for named tensors (module weights, plan weights): no pickle, memory-mappable.

Layout (all integers little-endian):

    magic    8 bytes   b"TRTMWGT1"
    hlen     8 bytes   length of the JSON header in bytes
    header   hlen      {"format": 1, "tensors": {name: {"dtype", "shape", "offset", "nbytes", "crc32"}}, "meta": {...}}
    padding            to a multiple of ALIGN
    data               each tensor at ``offset`` (relative to the data start), aligned to ALIGN

Reading checks the magic, the header, every offset, size and checksum before handing out arrays, and
names the file and tensor in every error.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from tritium.ir.diagnostics import TritiumError
from tritium.ir.dtypes import DType

MAGIC = b"TRTMWGT1"
ALIGN = 64


class WeightsFileError(TritiumError):
    pass


def _pad(n: int) -> int:
    return (-n) % ALIGN


def write_tensors(
    f: BinaryIO, tensors: Mapping[str, np.ndarray], meta: dict[str, Any] | None = None, magic: bytes = MAGIC
) -> None:
    """Write ``tensors`` to an open binary file."""
    entries: dict[str, dict[str, Any]] = {}
    offset = 0
    arrays = []
    for name, arr in tensors.items():
        a = np.require(arr, requirements="C")  # keeps 0-d arrays 0-d (ascontiguousarray would not)
        dt = DType.from_numpy(a.dtype)
        if dt.kind == "string":
            raise WeightsFileError(f"tensor '{name}': string tensors cannot be stored")
        data = memoryview(a.reshape(-1).view(np.uint8)) if a.size else memoryview(b"")
        entries[name] = {
            "dtype": dt.name,
            "shape": list(a.shape),
            "offset": offset,
            "nbytes": a.nbytes,
            "crc32": zlib.crc32(data),
        }
        arrays.append(data)
        offset += a.nbytes + _pad(a.nbytes)
    header = json.dumps({"format": 1, "tensors": entries, "meta": meta or {}}, separators=(",", ":")).encode()
    f.write(magic)
    f.write(struct.pack("<Q", len(header)))
    f.write(header)
    f.write(b"\0" * _pad(len(magic) + 8 + len(header)))
    for data in arrays:
        f.write(data)
        f.write(b"\0" * _pad(len(data)))


def save_tensors(
    path: str | os.PathLike, tensors: Mapping[str, np.ndarray], meta: dict[str, Any] | None = None
) -> None:
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        write_tensors(f, tensors, meta)
    os.replace(tmp, path)


def read_tensors(
    buf: bytes | memoryview | mmap.mmap, where: str = "<bytes>", magic: bytes = MAGIC, verify: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse a container held in ``buf``; arrays are read-only views into it (no copy)."""
    view = memoryview(buf)
    if len(view) < len(magic) + 8:
        raise WeightsFileError(f"{where}: file is truncated ({len(view)} bytes): not a Tritium weights file")
    if bytes(view[: len(magic)]) != magic:
        raise WeightsFileError(
            f"{where}: wrong magic {bytes(view[: len(magic)])!r}, expected {magic!r}: "
            "not a Tritium weights file (or a different version)"
        )
    (hlen,) = struct.unpack_from("<Q", view, len(magic))
    hstart = len(magic) + 8
    if hstart + hlen > len(view):
        raise WeightsFileError(
            f"{where}: header length {hlen} runs past the end of the file ({len(view)} bytes): truncated"
        )
    try:
        header = json.loads(bytes(view[hstart : hstart + hlen]))
        entries = header["tensors"]
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsFileError(f"{where}: corrupted header ({e})") from None
    if header.get("format") != 1:
        raise WeightsFileError(
            f"{where}: weights format {header.get('format')} is not supported (this Tritium reads 1)"
        )
    data_start = hstart + hlen + _pad(hstart + hlen)
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        try:
            dt = DType.parse(e["dtype"])
            shape = tuple(int(d) for d in e["shape"])
            off, nbytes = int(e["offset"]), int(e["nbytes"])
        except (KeyError, ValueError, TypeError) as err:
            raise WeightsFileError(f"{where}: tensor '{name}': bad header entry ({err})") from None
        expect = int(np.prod(shape, dtype=np.int64)) * dt.np_dtype.itemsize
        if nbytes != expect or off < 0 or off % ALIGN:
            raise WeightsFileError(
                f"{where}: tensor '{name}': size {nbytes} or offset {off} does not fit "
                f"{dt.name}{list(shape)} ({expect} bytes, {ALIGN}-byte aligned)"
            )
        lo = data_start + off
        if lo + nbytes > len(view):
            raise WeightsFileError(
                f"{where}: tensor '{name}' ends at byte {lo + nbytes}, past the end of the "
                f"file ({len(view)} bytes): truncated"
            )
        chunk = view[lo : lo + nbytes]
        if verify and zlib.crc32(chunk) != e.get("crc32"):
            raise WeightsFileError(f"{where}: tensor '{name}': checksum mismatch: the file is corrupted")
        arr = (
            np.frombuffer(chunk, dtype=dt.np_dtype).reshape(shape) if nbytes else np.zeros(shape, dt.np_dtype)
        )
        arr.flags.writeable = False
        out[name] = arr
    return out, header.get("meta", {})


def load_tensors(
    path: str | os.PathLike, verify: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Memory-map ``path`` and return its tensors (read-only views of the map) and metadata."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise WeightsFileError(f"{path}: file is empty")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return read_tensors(mm, str(path), verify=verify)
