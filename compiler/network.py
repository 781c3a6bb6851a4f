"""TensorRT's network definition over a Tritium module.

A network *is* an nn-dialect module: parsing ONNX into it and building it layer by layer end in the
same IR. `ITensor` is a view of an SSA value with the user's name; each layer (tritium.layers) is a
view that emits the ops implementing it, located at the layer's name.

    network = tritium.Builder(logger).create_network()
    x = network.add_input("x", tritium.float32, (-1, 3, 32, 32))       # -1: dynamic dimension
    conv = network.add_convolution_nd(x, 16, (3, 3), w, b)
    conv.padding_nd = (1, 1)
    relu = network.add_activation(conv.get_output(0), tritium.ActivationType.RELU)
    network.mark_output(relu.get_output(0))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from tritium import layers as L
from tritium.enums import (
    ActivationType,
    ElementWiseOperation,
    MatrixOperation,
    PoolingType,
    ReduceOperation,
    ScaleMode,
    TopKOperation,
    UnaryOperation,
)
from tritium.ir.attributes import NameLoc
from tritium.ir.core import Operation, Value
from tritium.ir.dialects.builtin import ModuleOp
from tritium.ir.dialects.func import FuncOp, ReturnOp
from tritium.ir.types import FunctionType, TensorType
from tritium.layers import ILayer, NetworkError
from tritium.runtime.types import DataType


class ITensor:
    """A tensor of the network: an SSA value and the user's name for it."""

    def __init__(self, network: INetworkDefinition, value: Value, name: str) -> None:
        self.network = network
        self.value = value
        self._name = name
        self.dynamic_range: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)
        self.value.name_hint = self._name
        self.network._sync_signature()

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

    @property
    def is_network_input(self) -> bool:
        return self.value in self.network.func.args

    @property
    def is_network_output(self) -> bool:
        return self in self.network._outputs

    def set_dynamic_range(self, lo: float, hi: float) -> bool:
        """Recorded for implicit INT8 quantization, which Tritium does not do (use add_quantize)."""
        self.dynamic_range = (float(lo), float(hi))
        return True

    def reset_dynamic_range(self) -> None:
        self.dynamic_range = None

    def __repr__(self) -> str:
        return f"ITensor({self.name!r}, {self.value.type})"


class INetworkDefinition:
    def __init__(self, flags: int = 0, name: str = "network") -> None:
        self.flags = flags
        self.name = name
        self.module: ModuleOp = ModuleOp.new(name)
        func = FuncOp.new("main", [], [], [], loc=NameLoc(name))
        self.module.block._insert(func, None)
        func.block._insert(ReturnOp.build([]), None)
        self._adopt()

    def _adopt(self) -> None:
        """(Re)read the network from its module: tensors for inputs and outputs, views of its ops."""
        f = self.func
        self._tensors: dict[Value, ITensor] = {}
        for arg, n in zip(f.args, f.arg_names):
            self._tensors[arg] = ITensor(self, arg, n)
        self._outputs: list[ITensor] = []
        for v, n in zip(f.return_op.operands, f.result_names):
            t = self._tensor(v)
            t._name = n
            self._outputs.append(t)
        self._layers: list[ILayer] = [
            L.ParsedLayer(self, op) for op in f.block.ops if op.name not in ("nn.constant", "func.return")
        ]
        self._counter = len(self._layers)

    def _replace_module(self, module: ModuleOp) -> None:
        self.module = module
        self._adopt()

    @property
    def func(self) -> Any:
        return self.module.main

    def _tensor(self, v: Value) -> ITensor:
        t = self._tensors.get(v)
        if t is None:
            t = self._tensors[v] = ITensor(self, v, v.name_hint or f"tensor_{len(self._tensors)}")
        return t

    # -- inputs and outputs ----------------------------------------------------------------------------------
    def add_input(self, name: str, dtype: DataType, shape: Sequence[int]) -> ITensor:
        """A network input; -1 marks a dynamic dimension (give its range with an optimization profile)."""
        if any(t.name == name for t in self.inputs):
            raise NetworkError(f"the network already has an input named '{name}'")
        dims: list[Any] = []
        for i, d in enumerate(shape):
            d = int(d)
            if d < -1:
                raise NetworkError(
                    f"input '{name}': dimension {i} is {d}; expected a size, or -1 for dynamic"
                )
            dims.append(d if d >= 0 else self._fresh_dim(f"{name}_{i}"))
        t = TensorType(tuple(dims), DataType(dtype).dtype)
        arg = self.func.block._add_arg(t, name)
        tensor = self._tensors[arg] = ITensor(self, arg, name)
        self._sync_signature()
        return tensor

    def _fresh_dim(self, base: str) -> str:
        """A symbolic dimension name not used by any input yet (each -1 is its own unknown size)."""
        used = {
            d
            for a in self.func.args
            if isinstance(a.type, TensorType)
            for d in a.type.shape or ()
            if isinstance(d, str)
        }
        name = re.sub(r"\W", "_", base)
        n, k = name, 1
        while n in used:
            n, k = f"{name}_{k}", k + 1
        return n

    def mark_output(self, tensor: ITensor) -> None:
        if tensor not in self._outputs:
            self._outputs.append(tensor)
            self._sync_signature()

    def unmark_output(self, tensor: ITensor) -> None:
        if tensor in self._outputs:
            self._outputs.remove(tensor)
            self._sync_signature()

    @property
    def inputs(self) -> list[ITensor]:
        return [self._tensors[a] for a in self.func.args]

    @property
    def num_inputs(self) -> int:
        return len(self.func.args)

    def get_input(self, index: int) -> ITensor:
        return self.inputs[index]

    @property
    def num_outputs(self) -> int:
        return len(self._outputs)

    def get_output(self, index: int) -> ITensor:
        return self._outputs[index]

    @property
    def layers(self) -> list[ILayer]:
        return list(self._layers)

    @property
    def num_layers(self) -> int:
        return len(self._layers)

    def get_layer(self, index: int) -> ILayer:
        return self._layers[index]

    def _sync_signature(self) -> None:
        """Bring the function's arguments, return and signature in line with inputs and outputs."""
        f = self.func
        ret = f.return_op
        if list(ret.operands) != [t.value for t in self._outputs]:
            new = ReturnOp.build([t.value for t in self._outputs])
            f.block._insert(new, ret)
            ret._drop_all_uses_recursive()
            f.block._unlink(ret)
        f.attributes["function_type"] = FunctionType(
            tuple(a.type for a in f.args), tuple(t.value.type for t in self._outputs)
        )
        f.attributes["input_names"] = tuple(self._tensors[a].name for a in f.args)
        f.attributes["output_names"] = tuple(t.name for t in self._outputs)

    # -- building layers -------------------------------------------------------------------------------------
    def _add(self, cls: type[ILayer], inputs: Sequence[ITensor | None], **params: Any) -> Any:
        for i, t in enumerate(inputs):
            if t is not None and not isinstance(t, ITensor):
                raise NetworkError(f"{cls.__name__}: input #{i} must be an ITensor, got {type(t).__name__}")
            if t is not None and t.network is not self:
                raise NetworkError(f"{cls.__name__}: input #{i} '{t.name}' belongs to another network")
        name = f"{cls.type.name.title().replace('_', '')}_{self._counter}"
        layer = cls(self, inputs, name, **params)
        self._emit_layer(layer)
        self._counter += 1
        self._layers.append(layer)
        return layer

    def _emit_layer(self, layer: ILayer) -> None:
        """Emit ``layer``'s ops (again): before its old ops, or at the end for a new layer. On error
        the network is left as it was."""
        f = self.func
        anchor: Operation = layer._ops[0] if layer._ops else f.return_op
        for i, t in enumerate(layer._inputs):
            d = t.value.defining_op if t is not None else None
            if d is not None and layer._ops and (d in layer._ops or anchor.is_before_in_block(d)):
                raise NetworkError(
                    f"layer '{layer.name}': input #{i} '{t.name}' is produced by a layer added after it; "  # type: ignore[union-attr]
                    "add layers in dependency order"
                )
        before = anchor.prev_op
        # The layer's weights keep their names (<layer>.kernel, ...: what Refitter addresses): take the
        # old ones out of the table while the new ops are emitted, and put them back on failure.
        old_weights = {
            ref.name: self.module.resources.pop(ref.name)
            for op in layer._ops
            if op.name == "nn.constant"
            and (ref := op.attributes.get("value")) is not None
            and getattr(ref, "name", None) in self.module.resources
        }
        e = L._Emitter(self, layer, anchor)
        try:
            values = layer._emit(e)
            if layer._precision == DataType.FLOAT:
                for op in _ops_between(f.block, before, anchor):
                    op.attributes["precision"] = "f32"
            values = self._output_types(layer, e, values)
        except BaseException:
            for op in _ops_between(f.block, before, anchor)[::-1]:
                op._drop_all_uses_recursive()
                f.block._unlink(op)
            self._drop_unused_resources()
            self.module.resources.update(old_weights)
            raise
        new_ops = _ops_between(f.block, before, anchor)
        if layer._outputs:
            for t, v in zip(layer._outputs, values):
                _replace_uses(t.value, v)
                del self._tensors[t.value]
                t.value = v
                v.name_hint = t.name
                self._tensors[v] = t
            for op in layer._ops[::-1]:
                op._drop_all_uses_recursive()
                f.block._unlink(op)
            layer._ops = new_ops
            self._drop_unused_resources()
            try:
                self._reinfer(new_ops[-1] if new_ops else None)
            finally:
                self._sync_signature()
        else:
            names = [f"{layer.name}_output_{i}" for i in range(len(values))]
            layer._outputs = [ITensor(self, v, n) for v, n in zip(values, names)]
            for v, t in zip(values, layer._outputs):
                v.name_hint = t.name
                self._tensors[v] = t
        layer._ops = new_ops
        self._sync_signature()

    @staticmethod
    def _output_types(layer: ILayer, e: L._Emitter, values: list[Value]) -> list[Value]:
        """Casts after the layer for the outputs whose type the user set."""
        from tritium.ir.dialects import nn

        out = list(values)
        for i, dt in layer._output_types.items():
            if i >= len(out):
                raise e.fail(f"has no output #{i}")
            if out[i].type.dtype != dt.dtype:  # type: ignore[attr-defined]
                out[i] = e.value(nn.Cast, out[i], to=dt.dtype)
        return out

    def _reinfer(self, start: Operation | None) -> None:
        """Re-infer result types after ``start`` (a layer's parameters changed its output types)."""
        op = start.next_op if start is not None else None
        while op is not None and op.name != "func.return":
            try:
                types = op.infer_result_types()  # type: ignore[attr-defined]
            except Exception as e:
                names = getattr(op.loc, "names", None)
                raise NetworkError(
                    f"layer '{names[0] if names else op.name}' no longer accepts its inputs: {e}"
                ) from None
            for r, t in zip(op.results, types):
                r.type = t
            op = op.next_op

    def _drop_unused_resources(self) -> None:
        used = {
            op.attributes["value"].name
            for op in self.module.walk()
            if op.name == "nn.constant" and hasattr(op.attributes.get("value"), "name")
        }
        for k in [k for k in self.module.resources if k not in used]:
            del self.module.resources[k]

    # -- TensorRT's add_* ---------------------------------------------------------------------------------------
    def add_convolution_nd(
        self, input: ITensor, num_output_maps: int, kernel_shape: Sequence[int], kernel: Any, bias: Any = None
    ) -> L.IConvolutionLayer:
        return self._add(
            L.IConvolutionLayer, [input], **_conv_params(num_output_maps, kernel_shape, kernel, bias)
        )

    def add_deconvolution_nd(
        self, input: ITensor, num_output_maps: int, kernel_shape: Sequence[int], kernel: Any, bias: Any = None
    ) -> L.IDeconvolutionLayer:
        return self._add(
            L.IDeconvolutionLayer, [input], **_conv_params(num_output_maps, kernel_shape, kernel, bias)
        )

    def add_pooling_nd(
        self, input: ITensor, type: PoolingType, window_size: Sequence[int]
    ) -> L.IPoolingLayer:
        return self._add(
            L.IPoolingLayer,
            [input],
            type=PoolingType(type),
            window_size_nd=tuple(window_size),
            average_count_excludes_padding=True,
            blend_factor=0.0,
        )

    def add_matrix_multiply(
        self, input0: ITensor, op0: MatrixOperation, input1: ITensor, op1: MatrixOperation
    ) -> L.IMatrixMultiplyLayer:
        return self._add(
            L.IMatrixMultiplyLayer, [input0, input1], op0=MatrixOperation(op0), op1=MatrixOperation(op1)
        )

    def add_elementwise(
        self, input1: ITensor, input2: ITensor, op: ElementWiseOperation
    ) -> L.IElementWiseLayer:
        return self._add(L.IElementWiseLayer, [input1, input2], op=ElementWiseOperation(op))

    def add_activation(self, input: ITensor, type: ActivationType) -> L.IActivationLayer:
        return self._add(L.IActivationLayer, [input], type=ActivationType(type), alpha=0.0, beta=0.0)

    def add_unary(self, input: ITensor, op: UnaryOperation) -> L.IUnaryLayer:
        return self._add(L.IUnaryLayer, [input], op=UnaryOperation(op))

    def add_reduce(self, input: ITensor, op: ReduceOperation, axes: int, keep_dims: bool) -> L.IReduceLayer:
        return self._add(
            L.IReduceLayer, [input], op=ReduceOperation(op), axes=int(axes), keep_dims=bool(keep_dims)
        )

    def add_softmax(self, input: ITensor) -> L.ISoftMaxLayer:
        return self._add(L.ISoftMaxLayer, [input], axes=None)

    def add_concatenation(self, inputs: Sequence[ITensor]) -> L.IConcatenationLayer:
        return self._add(L.IConcatenationLayer, list(inputs), axis=None)

    def add_shuffle(self, input: ITensor) -> L.IShuffleLayer:
        return self._add(
            L.IShuffleLayer,
            [input],
            first_transpose=None,
            reshape_dims=None,
            second_transpose=None,
            zero_is_placeholder=True,
        )

    def add_slice(
        self, input: ITensor, start: Sequence[int], shape: Sequence[int], stride: Sequence[int]
    ) -> L.ISliceLayer:
        return self._add(L.ISliceLayer, [input], start=tuple(start), shape=tuple(shape), stride=tuple(stride))

    def add_gather(self, input: ITensor, indices: ITensor, axis: int) -> L.IGatherLayer:
        return self._add(L.IGatherLayer, [input, indices], axis=int(axis))

    def add_gather_v2(self, input: ITensor, indices: ITensor, mode: Any) -> L.IGatherLayer:
        return self._add(L.IGatherLayer, [input, indices], axis=0, mode=mode)

    def add_select(self, condition: ITensor, then_input: ITensor, else_input: ITensor) -> L.ISelectLayer:
        return self._add(L.ISelectLayer, [condition, then_input, else_input])

    def add_scale(
        self, input: ITensor, mode: ScaleMode, shift: Any = None, scale: Any = None, power: Any = None
    ) -> L.IScaleLayer:
        return self.add_scale_nd(input, mode, shift, scale, power, channel_axis=1)

    def add_scale_nd(
        self,
        input: ITensor,
        mode: ScaleMode,
        shift: Any = None,
        scale: Any = None,
        power: Any = None,
        channel_axis: int = 1,
    ) -> L.IScaleLayer:
        return self._add(
            L.IScaleLayer,
            [input],
            mode=ScaleMode(mode),
            shift=shift,
            scale=scale,
            power=power,
            channel_axis=channel_axis,
        )

    def add_constant(self, shape: Sequence[int], weights: Any) -> L.IConstantLayer:
        return self._add(L.IConstantLayer, [], shape=tuple(shape), weights=weights)

    def add_cast(self, input: ITensor, to_type: DataType) -> L.ICastLayer:
        return self._add(L.ICastLayer, [input], to_type=DataType(to_type))

    def add_identity(self, input: ITensor) -> L.IIdentityLayer:
        return self._add(L.IIdentityLayer, [input])

    def add_padding_nd(
        self, input: ITensor, pre_padding: Sequence[int], post_padding: Sequence[int]
    ) -> L.IPaddingLayer:
        return self._add(
            L.IPaddingLayer, [input], pre_padding_nd=tuple(pre_padding), post_padding_nd=tuple(post_padding)
        )

    def add_resize(self, input: ITensor) -> L.IResizeLayer:
        return self._add(L.IResizeLayer, [input], shape=None, scales=None)

    def add_normalization(
        self, input: ITensor, scale: ITensor, bias: ITensor, axes: int
    ) -> L.INormalizationLayer:
        return self._add(
            L.INormalizationLayer, [input, scale, bias], axes=int(axes), epsilon=1e-5, num_groups=1
        )

    def add_topk(self, input: ITensor, op: TopKOperation, k: int, axes: int) -> L.ITopKLayer:
        return self._add(L.ITopKLayer, [input], op=TopKOperation(op), k=int(k), axes=int(axes))

    def add_shape(self, input: ITensor) -> L.IShapeLayer:
        return self._add(L.IShapeLayer, [input])

    def add_einsum(self, inputs: Sequence[ITensor], equation: str) -> L.IEinsumLayer:
        return self._add(L.IEinsumLayer, list(inputs), equation=str(equation))

    def add_parametric_relu(self, input: ITensor, slopes: ITensor) -> L.IParametricReLULayer:
        return self._add(L.IParametricReLULayer, [input, slopes])

    def add_lrn(self, input: ITensor, window: int, alpha: float, beta: float, k: float) -> L.ILRNLayer:
        return self._add(L.ILRNLayer, [input], window_size=window, alpha=alpha, beta=beta, k=k)

    def add_squeeze(self, input: ITensor, axes: ITensor) -> L.ISqueezeLayer:
        return self._add(L.ISqueezeLayer, [input, axes])

    def add_unsqueeze(self, input: ITensor, axes: ITensor) -> L.IUnsqueezeLayer:
        return self._add(L.IUnsqueezeLayer, [input, axes])

    def add_quantize(
        self, input: ITensor, scale: ITensor, output_type: DataType = DataType.INT8
    ) -> L.IQuantizeLayer:
        return self._add(
            L.IQuantizeLayer, [input, scale], axis=1 if scale.shape else 0, to_type=DataType(output_type)
        )

    def add_dequantize(
        self, input: ITensor, scale: ITensor, output_type: DataType = DataType.FLOAT
    ) -> L.IDequantizeLayer:
        return self._add(
            L.IDequantizeLayer, [input, scale], axis=1 if scale.shape else 0, to_type=DataType(output_type)
        )

    def add_plugin_v2(self, inputs: Sequence[ITensor], plugin: Any) -> L.IPluginV2Layer:
        """A custom layer: ``plugin`` from ``get_plugin_registry().get_creator(...).create_plugin(...)``."""
        for i, t in enumerate(inputs):
            if not isinstance(t, ITensor) or t.network is not self:
                raise NetworkError(f"add_plugin_v2: input #{i} must be an ITensor of this network")
        name = f"Plugin_{self._counter}"
        layer = L.IPluginV2Layer(self, list(inputs), name, plugin)
        self._emit_layer(layer)
        self._counter += 1
        self._layers.append(layer)
        return layer


def _conv_params(maps: int, kernel_shape: Sequence[int], kernel: Any, bias: Any) -> dict[str, Any]:
    """A (de)convolution's parameters at add_*; ``num_groups`` is implied by the kernel until set."""
    return {
        "num_output_maps": maps,
        "kernel_size_nd": tuple(kernel_shape),
        "kernel": kernel,
        "bias": bias,
        "num_groups": None,
    }


def _ops_between(block: Any, before: Operation | None, anchor: Operation) -> list[Operation]:
    out = []
    op = before.next_op if before is not None else block.first_op
    while op is not None and op is not anchor:
        out.append(op)
        op = op.next_op
    return out


def _replace_uses(old: Value, new: Value) -> None:
    """Point every use of ``old`` at ``new`` (types may differ: the caller re-infers downstream)."""
    for use in list(old.uses):
        use.op._set_operand(use.index, new)


__all__ = ["INetworkDefinition", "ITensor", "NetworkError", "np"]
