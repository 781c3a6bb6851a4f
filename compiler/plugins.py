"""TensorRT's plugin-creator front over Tritium's plugin registry (tritium.ir.plugins).

tritium.register_plugin("ScaledSwish", infer=..., reference=..., device=..., fields=["scale"])
creator = tritium.get_plugin_registry().get_creator("ScaledSwish", "1")
plugin = creator.create_plugin("swish", tritium.PluginFieldCollection([
    tritium.PluginField("scale", np.array([1.5], np.float32), tritium.PluginFieldType.FLOAT32)]))
layer = network.add_plugin_v2([x], plugin)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tritium.ir.plugins import REGISTRY, PluginDef


class PluginFieldType(enum.IntEnum):
    FLOAT16 = 0
    FLOAT32 = 1
    FLOAT64 = 2
    INT8 = 3
    INT16 = 4
    INT32 = 5
    CHAR = 6
    DIMS = 7
    UNKNOWN = 8
    INT64 = 10


@dataclass
class PluginField:
    name: str
    data: Any = None
    type: PluginFieldType = PluginFieldType.UNKNOWN

    def value(self) -> Any:
        """A scalar for one-element numeric data, a string for CHAR, else a list."""
        if self.type == PluginFieldType.CHAR or isinstance(self.data, (str, bytes)):
            d = self.data
            return d.decode().rstrip("\x00") if isinstance(d, bytes) else str(d)
        arr = np.asarray(self.data)
        return arr.item() if arr.size == 1 else arr.tolist()


class PluginFieldCollection(list):
    def __init__(self, fields: Iterable[PluginField] = ()) -> None:
        super().__init__(fields)


@dataclass
class Plugin:
    """A configured plugin instance (TensorRT's IPluginV2): what ``add_plugin_v2`` takes."""

    name: str
    plugin_type: str
    plugin_version: str
    fields: dict[str, Any]


class PluginCreator:
    def __init__(self, definition: PluginDef) -> None:
        self.definition = definition
        self.name = definition.name
        self.plugin_version = definition.version
        self.plugin_namespace = ""
        self.field_names = PluginFieldCollection(PluginField(n) for n in definition.field_names)

    def create_plugin(
        self, name: str, field_collection: Iterable[PluginField] = (), phase: Any = None
    ) -> Plugin:
        fields = {f.name: f.value() for f in field_collection}
        self.definition.check_fields(fields)
        return Plugin(name, self.definition.name, self.definition.version, fields)


class PluginRegistryView:
    @property
    def plugin_creator_list(self) -> list[PluginCreator]:
        return [PluginCreator(p) for _, p in sorted(REGISTRY.plugins.items())]

    def get_creator(self, name: str, version: str = "1", namespace: str = "") -> PluginCreator | None:
        p = REGISTRY.find(name, str(version))
        return PluginCreator(p) if p is not None else None

    get_plugin_creator = get_creator

    def deregister_creator(self, creator: PluginCreator) -> bool:
        return REGISTRY.deregister(creator.name, creator.plugin_version)


def get_plugin_registry() -> PluginRegistryView:
    return PluginRegistryView()
