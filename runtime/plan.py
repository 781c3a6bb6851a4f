"""The plan file: an engine as data (DESIGN.md section 6).

It is the safe tensor container of ``ir/weights.py`` with its own magic, holding:

- a JSON manifest: plan format version, the kernel IR as text, the I/O table, the kernel table with
  tuning choices, the build environment (GPU, compute capability, Triton/torch/Tritium versions,
  builder flags) and the names of any cached kernel binaries;
- the weights, aligned and memory-mappable, each with its checksum;
- optionally, compiled kernel binaries (Triton's cache files), keyed by their cache path.

Loading checks the magic, the version, every size, offset and checksum before use. Nothing in the
file is executed on the host: the IR is parsed, and kernels are regenerated from it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from tritium.ir.diagnostics import TritiumError
from tritium.ir.parser import parse_ir
from tritium.ir.printer import print_ir
from tritium.ir.weights import WeightsFileError, read_tensors, write_tensors

PLAN_MAGIC = b"TRITPLN1"
PLAN_VERSION = 1
BINARY_PREFIX = "\x00bin/"  # container keys of kernel binaries (cannot clash with IR resource names)


class PlanError(TritiumError):
    """A plan that cannot be loaded: truncated, corrupted, foreign, or from a newer Tritium."""


def serialize_plan(module: Any, manifest: dict[str, Any], binaries: dict[str, bytes] | None = None) -> bytes:
    tensors: dict[str, np.ndarray] = dict(module.resources)
    for key, blob in (binaries or {}).items():
        tensors[BINARY_PREFIX + key] = np.frombuffer(blob, dtype=np.uint8)
    meta = dict(manifest)
    meta["plan_version"] = PLAN_VERSION
    meta["ir"] = print_ir(module)
    meta["binaries"] = sorted(binaries or {})
    buf = io.BytesIO()
    write_tensors(buf, tensors, meta, magic=PLAN_MAGIC)
    return buf.getvalue()


def deserialize_plan(
    data: bytes | memoryview | Any, where: str = "<plan>"
) -> tuple[Any, dict[str, Any], dict[str, bytes]]:
    """(module with weights attached, manifest, binaries) from plan bytes."""
    try:
        tensors, meta = read_tensors(data, where, magic=PLAN_MAGIC)
    except WeightsFileError as e:
        msg = str(e).replace("Tritium weights file", "Tritium plan")
        raise PlanError(msg) from None
    version = meta.get("plan_version")
    if not isinstance(version, int):
        raise PlanError(f"{where}: the manifest has no plan version: corrupted")
    if version > PLAN_VERSION:
        raise PlanError(
            f"{where}: plan format {version} is newer than this Tritium reads ({PLAN_VERSION}); "
            "rebuild the engine or upgrade Tritium"
        )
    text = meta.get("ir")
    if not isinstance(text, str):
        raise PlanError(f"{where}: the manifest holds no IR: corrupted")
    try:
        module = parse_ir(text, f"{where}:ir")
    except TritiumError as e:
        raise PlanError(f"{where}: the plan's IR does not parse: {e}") from None
    binaries = {k[len(BINARY_PREFIX) :]: bytes(v) for k, v in tensors.items() if k.startswith(BINARY_PREFIX)}
    weights = {k: v for k, v in tensors.items() if not k.startswith(BINARY_PREFIX)}
    referenced = {
        op.attributes["value"].name
        for op in module.walk()
        if op.name == "nn.constant" and hasattr(op.attributes.get("value"), "name")
    }
    missing = sorted(referenced - set(weights))
    if missing:
        raise PlanError(f"{where}: weights {missing[:5]} referenced by the IR are missing from the plan")
    module.resources.update(weights)
    return module, meta, binaries


def load_plan_file(path: str | os.PathLike) -> tuple[Any, dict[str, Any], dict[str, bytes]]:
    import mmap

    p = Path(path)
    if not p.is_file():
        raise PlanError(f"{p}: no such plan file")
    with open(p, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise PlanError(f"{p}: the file is empty: not a Tritium plan")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return deserialize_plan(mm, str(p))
