"""Quantize/dequantize and plugin layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tritium.enums import LayerType
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.layers.base import ILayer, _Emitter, param
from tritium.runtime.types import DataType

if TYPE_CHECKING:
    from tritium.network import INetworkDefinition, ITensor


class IQuantizeLayer(ILayer):
    """``saturate(round(x / scale))`` to INT8 or FP8 (explicit quantization, TensorRT 10's way)."""

    type = LayerType.QUANTIZE
    axis = param("axis")
    to_type = param("to_type")
    dequantize = False

    def _emit(self, e: _Emitter) -> list[Value]:
        from tritium.ir.dialects import quant

        x, scale = self._input(0), self._input(1, "(scale)")
        to = DataType(self._params["to_type"]).dtype
        axis = int(self._params.get("axis", 1) or 0)
        if self.dequantize:
            return [e.value(quant.DequantizeLinear, x, scale, None, axis=axis, output_dtype=to)]
        zp = e.const(np.zeros((), dtype=to.np_dtype))
        return [e.value(quant.QuantizeLinear, x, scale, zp, axis=axis)]


class IDequantizeLayer(IQuantizeLayer):
    type = LayerType.DEQUANTIZE
    dequantize = True


class IPluginV2Layer(ILayer):
    type = LayerType.PLUGIN_V2

    def __init__(
        self, network: INetworkDefinition, inputs: Sequence[ITensor], name: str, plugin: Any
    ) -> None:
        super().__init__(network, inputs, name)
        self.plugin = plugin

    def _emit(self, e: _Emitter) -> list[Value]:
        from tritium.ir.plugins import encode_fields

        op = e.op(
            nn.Plugin,
            [t.value for t in self._inputs if t is not None],
            plugin=self.plugin.plugin_type,
            version=self.plugin.plugin_version,
            fields=encode_fields(self.plugin.fields),
        )
        return list(op.results)
