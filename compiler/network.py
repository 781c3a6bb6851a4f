"""TensorRT-style network definition over a Tritium module.

A network *is* an nn-dialect module: parsing ONNX into it and building it layer by layer end in the
same IR. `ITensor` is a view of an SSA value with the user's name; `ILayer` a view of an op. The
layer-building ``add_*`` methods arrive with the network-definition API (issue 7).
"""

from __future__ import annotations

from typing import Any

from tritium.ir.core import Operation, Value
from tritium.ir.dialects.builtin import ModuleOp
from tritium.ir.types import TensorType
from tritium.runtime.types import DataType


class ITensor:
    """A tensor of the network: a value and the user's name for it."""

    def __init__(self, value: Value, name: str) -> None:
        self.value = value
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        """Dimensions with -1 for dynamic ones (TensorRT's convention)."""
        t = self.value.type
        if not isinstance(t, TensorType) or t.shape is None:
            return ()
        return tuple(d if isinstance(d, int) else -1 for d in t.shape)

    @property
    def dtype(self) -> DataType:
        return DataType.of(self.value.type.dtype)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"ITensor({self.name!r}, {self.value.type})"


class ILayer:
    def __init__(self, op: Operation) -> None:
        self.op = op

    @property
    def name(self) -> str:
        names = getattr(self.op.loc, "names", None)
        return names[0] if names else self.op.name

    @property
    def type(self) -> str:
        return self.op.name

    @property
    def num_inputs(self) -> int:
        return self.op.num_operands

    @property
    def num_outputs(self) -> int:
        return len(self.op.results)

    def __repr__(self) -> str:
        return f"ILayer({self.name!r}, {self.type})"


class INetworkDefinition:
    def __init__(self, flags: int = 0, name: str = "network") -> None:
        self.flags = flags
        self.module: ModuleOp = ModuleOp.new(name)
        self.name = name

    def _replace_module(self, module: ModuleOp) -> None:
        self.module = module

    @property
    def func(self) -> Any:
        return self.module.main if self.module.functions else None

    @property
    def num_inputs(self) -> int:
        return len(self.func.args) if self.func is not None else 0

    def get_input(self, index: int) -> ITensor:
        f = self.func
        return ITensor(f.args[index], f.input_names[index])

    @property
    def num_outputs(self) -> int:
        return len(self.func.function_type.outputs) if self.func is not None else 0

    def get_output(self, index: int) -> ITensor:
        f = self.func
        return ITensor(f.return_op.operand(index), f.output_names[index])

    @property
    def layers(self) -> list[ILayer]:
        f = self.func
        if f is None:
            return []
        return [ILayer(op) for op in f.block.ops if op.name not in ("nn.constant", "func.return")]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_layer(self, index: int) -> ILayer:
        return self.layers[index]
