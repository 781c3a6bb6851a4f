"""nn.constant: a tensor known at build time, held inline (`Dense`) or as a named weight (resource)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.ir.attributes import ELEMENTS, Dense, ResourceRef
from tritium.ir.opdef import ConstantLike, Op, Pure, attr, result
from tritium.ir.printer import Printer, attr_text
from tritium.ir.types import TensorType

INLINE_LIMIT_ELEMENTS = 16
"""`Constant.of` keeps values of up to this many elements inline (shapes, scalars); larger ones become
module resources, which the text never shows."""


class Constant(Op):
    """A constant tensor. ``nn.constant dense_resource<conv1.weight> : tensor<64x3x7x7xf32>``."""

    name = "nn.constant"
    traits = (Pure, ConstantLike)
    value = attr(ELEMENTS)
    out = result()

    @classmethod
    def of(cls, array: Any, module: Any = None, name: str = "const", loc: Any = None) -> Constant:
        """A constant holding ``array``: inline when small (or when there is no module), else a resource."""
        arr = np.asarray(array)
        if module is None or arr.size <= INLINE_LIMIT_ELEMENTS:
            return cls.build(value=Dense.from_array(arr), loc=loc)
        from tritium.ir.dtypes import DType

        key = module.add_resource(name, arr)
        t = TensorType(arr.shape, DType.from_numpy(arr.dtype))
        return cls.build(value=ResourceRef(key), result_types=[t], loc=loc)

    def infer(self) -> TensorType:
        if isinstance(self.value, Dense):
            return self.value.type
        raise NotImplementedError  # a resource's type is the declared result type

    def verify_op(self) -> None:
        t = self.results[0].type if self.results else None
        if not isinstance(t, TensorType) or not t.is_static:
            self.fail(f"result must be a statically shaped tensor, found {t}")
        if isinstance(self.value, ResourceRef):
            module = self.module()
            data = module.resources.get(self.value.name) if module is not None else None
            if data is not None and (tuple(data.shape) != t.shape or data.dtype != t.dtype.np_dtype):
                self.fail(
                    f"resource '{self.value.name}' holds {data.dtype}{list(data.shape)} but the result is {t}"
                )

    def value_array(self) -> np.ndarray | None:
        """The value, or None for a resource whose data is not loaded."""
        if isinstance(self.value, Dense):
            return self.value.array
        module = self.module()
        if module is None:
            return None
        return module.resources.get(self.value.name)

    def reference(self) -> np.ndarray:
        arr = self.value_array()
        if arr is None:
            raise ValueError(f"weight '{self.value.name}' has no data: load the module with its weights file")
        return arr

    def print_custom(self, p: Printer) -> None:
        head = p.results_prefix(self)
        if isinstance(self.value, Dense):
            body = attr_text(self.value)
        else:
            body = f"{self.value} : {self.results[0].type}"
        extra = {k: v for k, v in self.attributes.items() if k != "value"}
        if extra:  # discardable attributes (provenance, precision pins) survive the round trip
            from tritium.ir.printer import attr_dict_text

            body += " attributes " + attr_dict_text(extra)
        p.emit(f"{head}nn.constant {body}{p.loc_text(self.loc)}")

    @classmethod
    def parse_custom(cls, parser: Any, n_results: int) -> Constant:
        pos = parser.peek()[2]
        value = parser.parse_attr_value()
        if isinstance(value, Dense):
            t = value.type
        elif isinstance(value, ResourceRef):
            parser.expect(":")
            t = parser.parse_type()
        else:
            raise parser.error("nn.constant takes dense<...> or dense_resource<...>", pos)
        attrs = {"value": value}
        if parser.accept("attributes"):
            attrs.update(parser.parse_attr_dict())
        return cls.create([], [t], attrs, [], parser.parse_optional_loc())
