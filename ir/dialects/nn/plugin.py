"""``nn.plugin``: a user-registered custom layer (see tritium.ir.plugins)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir import dtypes as D
from tritium.ir.attributes import STR
from tritium.ir.opdef import Op, attr, var_operand, var_result
from tritium.ir.plugins import REGISTRY, PluginDef, PluginError, decode_fields
from tritium.ir.types import TensorType


class Plugin(Op):
    """Runs the registered plugin ``plugin`` (``version``) with ``fields`` (a JSON object)."""

    name = "nn.plugin"
    inputs = var_operand()
    outs = var_result()
    plugin = attr(STR)
    version = attr(STR, "1")
    fields = attr(STR, "{}")

    def definition(self) -> PluginDef:
        try:
            return REGISTRY.get(self.plugin, self.version)
        except PluginError as e:
            self.fail(str(e))
            raise

    def field_values(self) -> dict[str, Any]:
        try:
            return decode_fields(self.fields)
        except PluginError as e:
            self.fail(str(e))
            raise

    def infer(self) -> list[TensorType]:
        p = self.definition()
        types = []
        for i, v in enumerate(self.inputs):
            if not isinstance(v.type, TensorType):
                self.fail(f"input #{i} must be a tensor, found {v.type}")
            types.append(v.type)
        shapes = [tuple(t.shape) if t.shape is not None else None for t in types]
        dtypes = [t.dtype.np_dtype for t in types]
        try:
            result = list(p.infer(shapes, dtypes, self.field_values()))  # type: ignore[arg-type]
        except Exception as e:
            self.fail(f"plugin '{self.plugin}' shape inference failed: {type(e).__name__}: {e}")
            raise
        out = []
        for k, item in enumerate(result):
            try:
                shape, dtype = item
                out.append(
                    TensorType(None if shape is None else tuple(shape), D.DType.from_numpy(np.dtype(dtype)))
                )
            except Exception as e:
                self.fail(
                    f"plugin '{self.plugin}' inferred output #{k} as {item!r}: expected (shape, dtype) ({e})"
                )
        return out

    def verify_op(self) -> None:
        p = self.definition()
        try:
            p.check_fields(self.field_values())
        except PluginError as e:
            self.fail(str(e))

    def reference(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        p = self.definition()
        outs = list(p.reference(list(inputs), self.field_values()))
        if len(outs) != len(self.results):
            raise PluginError(
                f"plugin '{self.plugin}' returned {len(outs)} outputs from its reference, expected {len(self.results)}"
            )
        return tuple(np.asarray(o, dtype=r.type.dtype.np_dtype) for o, r in zip(outs, self.results))  # type: ignore[attr-defined]
