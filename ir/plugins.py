"""Custom layers (TensorRT's plugins): ops that users define by name, outside Tritium.

A plugin is registered once per process with its shape inference, its numpy reference semantics and,
optionally, a device implementation (a torch function, or a Python function that launches the user's
Triton kernel). The IR carries a plugin as one ``nn.plugin`` op naming it, with its fields as JSON;
the ONNX importer maps nodes whose op type is a registered plugin to it, the network API's
``add_plugin_v2`` builds it, and plans record it by name, version and fields (never by code): loading
a plan whose plugin is not registered is a clear error.

    import tritium as tr

    tr.register_plugin(
        "ScaledSwish",
        infer=lambda shapes, dtypes, fields: [(shapes[0], dtypes[0])],
        reference=lambda xs, fields: [xs[0] * fields["scale"] / (1 + np.exp(-xs[0]))],
        device=lambda xs, outs, fields: outs[0].copy_(xs[0] * fields["scale"] * torch.sigmoid(xs[0])),
    )
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tritium.ir.diagnostics import TritiumError

Shape = tuple[Any, ...]
"""A shape as plugins see it: ints, symbolic dimension names (str) or None for unknown sizes."""

InferFn = Callable[[list[Shape], list[np.dtype], dict[str, Any]], Sequence[tuple[Shape, Any]]]
ReferenceFn = Callable[[list[np.ndarray], dict[str, Any]], Sequence[np.ndarray]]
DeviceFn = Callable[[list[Any], list[Any], dict[str, Any]], None]


class PluginError(TritiumError):
    """A plugin that is not registered, or that broke its contract (shapes, output count)."""


@dataclass(frozen=True)
class PluginDef:
    name: str
    infer: InferFn
    """(input shapes, input numpy dtypes, fields) -> [(output shape, output dtype), ...]."""
    reference: ReferenceFn
    """(input arrays, fields) -> output arrays: the ground truth, and the CPU implementation."""
    device: DeviceFn | None = None
    """(input tensors, preallocated output tensors, fields) -> None, on the current CUDA stream."""
    version: str = "1"
    field_names: tuple[str, ...] = ()
    """Fields the plugin accepts (empty: any)."""
    doc: str = ""

    def check_fields(self, fields: dict[str, Any]) -> None:
        if self.field_names:
            unknown = sorted(set(fields) - set(self.field_names))
            if unknown:
                raise PluginError(
                    f"plugin '{self.name}' has no field{'s' if len(unknown) > 1 else ''} {unknown}; "
                    f"it takes {list(self.field_names)}"
                )


@dataclass
class PluginRegistry:
    plugins: dict[tuple[str, str], PluginDef] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, plugin: PluginDef) -> PluginDef:
        with self.lock:
            self.plugins[(plugin.name, plugin.version)] = plugin
        return plugin

    def deregister(self, name: str, version: str = "1") -> bool:
        with self.lock:
            return self.plugins.pop((name, version), None) is not None

    def find(self, name: str, version: str = "1") -> PluginDef | None:
        return self.plugins.get((name, version))

    def get(self, name: str, version: str = "1") -> PluginDef:
        p = self.find(name, version)
        if p is None:
            known = sorted(f"{n} (version {v})" for n, v in self.plugins) or ["none"]
            raise PluginError(
                f"plugin '{name}' (version {version}) is not registered in this process; register it "
                f"with tritium.register_plugin before building or loading (registered: {', '.join(known)})"
            )
        return p

    def names(self) -> list[str]:
        return sorted({n for n, _ in self.plugins})


REGISTRY = PluginRegistry()


def register_plugin(
    name: str,
    *,
    infer: InferFn,
    reference: ReferenceFn,
    device: DeviceFn | None = None,
    version: str = "1",
    fields: Sequence[str] = (),
    doc: str = "",
) -> PluginDef:
    """Register (or replace) the plugin ``name``; see the module docstring."""
    if not name or not isinstance(name, str):
        raise PluginError("a plugin needs a non-empty name")
    return REGISTRY.register(PluginDef(name, infer, reference, device, str(version), tuple(fields), doc))


def encode_fields(fields: dict[str, Any]) -> str:
    """Fields as canonical JSON (arrays become lists): what the IR and plans store."""

    def plain(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, bytes):
            return v.decode()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise PluginError(f"plugin field value {v!r} is not a number, string, array or list")

    return json.dumps({str(k): plain(v) for k, v in fields.items()}, sort_keys=True)


def decode_fields(text: str) -> dict[str, Any]:
    try:
        out = json.loads(text)
    except json.JSONDecodeError as e:
        raise PluginError(f"plugin fields are not valid JSON: {e}") from None
    if not isinstance(out, dict):
        raise PluginError("plugin fields must be a JSON object")
    return out
