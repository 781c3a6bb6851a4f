"""What every layer shares: weights, the emitter that places a layer's ops, parameters whose
change re-emits the layer transactionally, and the view of an op a parser produced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tritium.enums import (
    LayerType,
)
from tritium.ir import dtypes as D
from tritium.ir.attributes import NameLoc
from tritium.ir.core import Operation, Value
from tritium.ir.diagnostics import TritiumError
from tritium.ir.dialects import nn
from tritium.ir.types import TensorType
from tritium.runtime.types import DataType

if TYPE_CHECKING:
    from tritium.network import INetworkDefinition, ITensor


class NetworkError(TritiumError):
    """A layer that cannot be built as asked: names the layer, what was expected and what was found."""


class Weights:
    """TensorRT's Weights: an array (any numpy-convertible value), or empty (``Weights()``)."""

    def __init__(self, a: Any = None, dtype: Any = None) -> None:
        self.array = None if a is None else np.asarray(a, dtype=dtype)

    @property
    def size(self) -> int:
        return 0 if self.array is None else int(self.array.size)

    def numpy(self) -> np.ndarray | None:
        return self.array

    def __len__(self) -> int:
        return self.size


def as_array(w: Any) -> np.ndarray | None:
    if w is None:
        return None
    if isinstance(w, Weights):
        return w.array if w.size else None
    arr = np.asarray(w)
    return arr if arr.size else None


def axes_of(mask: int, rank: int) -> tuple[int, ...]:
    """The axes selected by TensorRT's bit mask (bit i = axis i)."""
    return tuple(i for i in range(rank) if mask >> i & 1)


def _default_axis(rank: int) -> int:
    """TensorRT's default for softmax and concatenation: rank - 3, or 0 below rank 3."""
    return max(0, rank - 3)


class _Emitter:
    """Builds one layer's ops before ``anchor``, located at the layer's name."""

    def __init__(self, network: INetworkDefinition, layer: ILayer, anchor: Operation) -> None:
        self.network, self.layer, self.anchor = network, layer, anchor
        self.loc = NameLoc(layer.name)

    def op(self, cls: type, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("loc", self.loc)
        try:
            op = cls.build(*args, **kwargs)
        except (ValueError, TypeError, TritiumError) as e:
            raise NetworkError(f"layer '{self.layer.name}' ({self.layer.type.name}): {e}") from None
        self.anchor.parent._insert(op, self.anchor)  # type: ignore[union-attr]
        return op

    def value(self, cls: type, *args: Any, **kwargs: Any) -> Value:
        return self.op(cls, *args, **kwargs).results[0]

    def const(self, arr: Any, dtype: Any = None) -> Value:
        """A small inline constant (axes, shapes, scalars)."""
        a = np.asarray(arr, dtype=dtype)
        return self.value(nn.Constant, value=_dense(a))

    def scalar_like(self, x: Value, v: float) -> Value:
        return self.const(np.asarray(v, dtype=x.type.dtype.np_dtype))  # type: ignore[attr-defined]

    def weight(self, arr: np.ndarray, role: str) -> Value:
        """A named weight resource ``<layer>.<role>`` (the name Refitter uses)."""
        module = self.network.module
        key = module.add_resource(
            f"{self.layer.name}.{role}", np.require(arr, requirements="C")
        )  # (0-d stays 0-d)
        from tritium.ir.attributes import ResourceRef

        t = TensorType(arr.shape, D.DType.from_numpy(arr.dtype))
        return self.value(nn.Constant, value=ResourceRef(key), result_types=[t])

    def fail(self, msg: str) -> NetworkError:
        return NetworkError(f"layer '{self.layer.name}' ({self.layer.type.name}): {msg}")


def _dense(a: np.ndarray) -> Any:
    from tritium.ir.attributes import Dense

    return Dense.from_array(a)


def param(name: str, doc: str = "") -> Any:
    """A layer parameter: reading returns it, setting it re-emits the layer."""

    def get(self: ILayer) -> Any:
        return self._params[name]

    def set_(self: ILayer, value: Any) -> None:
        self._set(name, value)

    return property(get, set_, doc=doc)


class ILayer:
    """A layer of the network: a name, inputs, outputs, precision, and the ops it emitted."""

    type: LayerType = LayerType.PARSED

    def __init__(
        self, network: INetworkDefinition, inputs: Sequence[ITensor | None], name: str, **params: Any
    ):
        self.network = network
        self._inputs: list[ITensor | None] = list(inputs)
        self._name = name
        self._params: dict[str, Any] = params
        self._ops: list[Operation] = []
        self._outputs: list[ITensor] = []
        self._precision: DataType | None = None
        self._output_types: dict[int, DataType] = {}
        self.metadata = ""

    # -- what subclasses implement --------------------------------------------------------------------------
    def _emit(self, e: _Emitter) -> list[Value]:
        raise NotImplementedError

    # -- TensorRT's ILayer ---------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._change(lambda: setattr(self, "_name", str(value)))

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def get_input(self, index: int) -> ITensor | None:
        return self._inputs[index]

    def set_input(self, index: int, tensor: ITensor) -> None:
        if not 0 <= index < max(len(self._inputs), self._max_inputs()):
            raise NetworkError(f"layer '{self.name}' ({self.type.name}) has no input #{index}")

        def change() -> None:
            while len(self._inputs) <= index:
                self._inputs.append(None)
            self._inputs[index] = tensor

        self._change(change)

    def _max_inputs(self) -> int:
        return len(self._inputs)

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]

    @property
    def precision(self) -> DataType:
        return self._precision if self._precision is not None else DataType.FLOAT

    @precision.setter
    def precision(self, dt: DataType) -> None:
        self._change(lambda: setattr(self, "_precision", DataType(dt)))

    @property
    def precision_is_set(self) -> bool:
        return self._precision is not None

    def reset_precision(self) -> None:
        self._change(lambda: setattr(self, "_precision", None))

    def set_output_type(self, index: int, dt: DataType) -> None:
        """The output's element type: a cast is emitted after the layer when it differs."""
        self._change(lambda: self._output_types.__setitem__(index, DataType(dt)))

    def get_output_type(self, index: int) -> DataType:
        return self._outputs[index].dtype

    def output_type_is_set(self, index: int) -> bool:
        return index in self._output_types

    def reset_output_type(self, index: int) -> None:
        self._change(lambda: self._output_types.pop(index, None))

    def _set(self, name: str, value: Any) -> None:
        def change() -> None:
            self._params[name] = value

        self._change(change)

    def _change(self, change: Any) -> None:
        """Apply ``change`` (a mutation of the layer's settings) and re-emit the layer; when that
        fails, put every setting back, re-emit the layer as it was, and raise NetworkError."""
        saved = (
            dict(self._params),
            list(self._inputs),
            self._name,
            self._precision,
            dict(self._output_types),
        )
        try:
            change()
            self._rebuild()
        except Exception as e:
            self._params, self._inputs, self._name, self._precision, self._output_types = saved
            self._rebuild()
            if isinstance(e, NetworkError):
                raise
            raise NetworkError(f"layer '{self._name}' ({self.type.name}): {e}") from None

    def __repr__(self) -> str:
        return f"ILayer({self.name!r}, {self.type.name})"

    # -- building ------------------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        if self._ops or not self._outputs:
            self.network._emit_layer(self)

    def _input(self, i: int, what: str = "") -> Value:
        t = self._inputs[i] if i < len(self._inputs) else None
        if t is None:
            raise NetworkError(
                f"layer '{self.name}' ({self.type.name}) needs input #{i}{' ' + what if what else ''}"
            )
        return t.value

    def _rank(self, v: Value) -> int:
        t = v.type
        if not isinstance(t, TensorType) or t.rank is None:
            raise NetworkError(f"layer '{self.name}' ({self.type.name}): the rank of its input must be known")
        return t.rank


class ParsedLayer(ILayer):
    """A layer the ONNX parser made: a view of one op (rename and pin precision; not rebuilt)."""

    def __init__(self, network: INetworkDefinition, op: Operation) -> None:
        names = getattr(op.loc, "names", None)
        super().__init__(network, [network._tensor(v) for v in op.operands], names[0] if names else op.name)
        self._ops = [op]
        self._outputs = [network._tensor(r) for r in op.results]
        if op.attributes.get("precision") == "f32":
            self._precision = DataType.FLOAT

    @property
    def op_type(self) -> str:
        """The IR op behind the layer (``nn.conv``, ...)."""
        return self._ops[0].name

    @property  # type: ignore[override]
    def type(self) -> LayerType:
        from tritium.layers import PARSED_TYPES

        return PARSED_TYPES.get(self.op_type, LayerType.PARSED)

    def _rebuild(self) -> None:
        op = self._ops[0]
        op.loc = NameLoc(self._name)
        if self._precision == DataType.FLOAT:
            op.attributes["precision"] = "f32"
        else:
            op.attributes.pop("precision", None)
        if self._output_types:
            raise NetworkError(f"layer '{self.name}': set_output_type is not supported on parsed layers")

    def set_input(self, index: int, tensor: ITensor) -> None:
        raise NetworkError(f"layer '{self.name}' came from a parser; its inputs cannot be changed")
