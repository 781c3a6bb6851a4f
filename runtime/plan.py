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
from dataclasses import dataclass
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
SOURCE_PREFIX = "\x00src/"  # source weights of a refittable engine that the optimized IR does not hold


class PlanError(TritiumError):
    """A plan that cannot be loaded: truncated, corrupted, foreign, or from a newer Tritium."""


@dataclass
class LoadedPlan:
    module: Any
    manifest: dict[str, Any]
    binaries: dict[str, bytes]
    source: Any = None
    """The unoptimized module of a refittable engine (None otherwise)."""


def serialize_plan(
    module: Any, manifest: dict[str, Any], binaries: dict[str, bytes] | None = None, source: Any = None
) -> bytes:
    tensors: dict[str, np.ndarray] = dict(module.resources)
    for key, blob in (binaries or {}).items():
        tensors[BINARY_PREFIX + key] = np.frombuffer(blob, dtype=np.uint8)
    meta = dict(manifest)
    if source is not None:  # a refittable engine: its source graph, and the weights the build folded away
        meta["source_ir"] = print_ir(source)
        for name, arr in source.resources.items():
            if module.resources.get(name) is not arr:
                tensors[SOURCE_PREFIX + name] = arr
    meta["plan_version"] = PLAN_VERSION
    meta["ir"] = print_ir(module)
    meta["binaries"] = sorted(binaries or {})
    meta["plugins"] = sorted({f"{op.plugin}/{op.version}" for op in module.walk() if op.name == "nn.plugin"})
    buf = io.BytesIO()
    write_tensors(buf, tensors, meta, magic=PLAN_MAGIC)
    return buf.getvalue()


def deserialize_plan(data: bytes | memoryview | Any, where: str = "<plan>") -> LoadedPlan:
    """The module with its weights attached, the manifest, binaries and refit source from plan bytes."""
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
    weights = {k: v for k, v in tensors.items() if not k.startswith((BINARY_PREFIX, SOURCE_PREFIX))}
    referenced = {
        op.attributes["value"].name
        for op in module.walk()
        if op.name == "nn.constant" and hasattr(op.attributes.get("value"), "name")
    }
    missing = sorted(referenced - set(weights))
    if missing:
        raise PlanError(f"{where}: weights {missing[:5]} referenced by the IR are missing from the plan")
    plugins = sorted({(op.plugin, op.version) for op in module.walk() if op.name == "nn.plugin"})
    from tritium.ir.plugins import REGISTRY

    missing_plugins = [f"'{n}' (version {v})" for n, v in plugins if REGISTRY.find(n, v) is None]
    if missing_plugins:
        raise PlanError(
            f"{where}: the plan uses plugin{'s' if len(missing_plugins) > 1 else ''} "
            f"{', '.join(missing_plugins)}, not registered in this process; register "
            "it with tritium.register_plugin before loading the plan"
        )
    module.resources.update(weights)
    source = None
    if isinstance(meta.get("source_ir"), str):
        try:
            source = parse_ir(meta["source_ir"], f"{where}:source_ir")
        except TritiumError as e:
            raise PlanError(f"{where}: the plan's refit source IR does not parse: {e}") from None
        own = {k[len(SOURCE_PREFIX) :]: v for k, v in tensors.items() if k.startswith(SOURCE_PREFIX)}
        for op in source.walk():
            ref = op.attributes.get("value") if op.name == "nn.constant" else None
            name = getattr(ref, "name", None)
            if name is not None:
                arr = own.get(name, weights.get(name))
                if arr is None:
                    raise PlanError(f"{where}: refit source weight '{name}' is missing from the plan")
                source.resources[name] = arr
    return LoadedPlan(module, meta, binaries, source)


def load_plan_file(path: str | os.PathLike) -> LoadedPlan:
    import mmap

    p = Path(path)
    if not p.is_file():
        raise PlanError(f"{p}: no such plan file")
    with open(p, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise PlanError(f"{p}: the file is empty: not a Tritium plan")
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return deserialize_plan(mm, str(p))
