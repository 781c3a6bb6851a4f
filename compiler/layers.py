"""The layers of TensorRT's network-definition API, each a view that builds nn-dialect ops.

A layer keeps its parameters (``conv.stride_nd``, ``shuffle.reshape_dims``, ``act.alpha``, ...) and
emits the ops that implement them. Setting a parameter after ``add_*`` — as TensorRT scripts do —
re-emits the layer in place: its output tensors keep their identity, their consumers see the new
values, and types downstream are re-inferred. A parameter that does not fit (bad shape, wrong
count) raises `NetworkError` naming the layer and leaves the network as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tritium.enums import (
    ActivationType,
    ElementWiseOperation,
    GatherMode,
    InterpolationMode,
    LayerType,
    MatrixOperation,
    PaddingMode,
    PoolingType,
    ReduceOperation,
    ResizeCoordinateTransformation,
    ResizeRoundMode,
    SampleMode,
    ScaleMode,
    TopKOperation,
    UnaryOperation,
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
        key = module.add_resource(f"{self.layer.name}.{role}", np.ascontiguousarray(arr))
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
        return _PARSED_TYPES.get(self.op_type, LayerType.PARSED)

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


# ----------------------------------------------------------------------------------------------------------------
# Convolution, deconvolution, pooling


def _spatial_pads(
    layer: ILayer, x: Value, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> tuple[int, ...]:
    """ONNX-style pads (begins then ends) from the layer's padding parameters."""
    n = len(kernel)
    p = layer._params
    pre = list(p.get("pre_padding") or p.get("padding_nd") or (0,) * n)
    post = list(p.get("post_padding") or p.get("padding_nd") or (0,) * n)
    mode = PaddingMode(p.get("padding_mode", PaddingMode.EXPLICIT_ROUND_DOWN))
    if mode == PaddingMode.EXPLICIT_ROUND_DOWN:
        return tuple(pre + post)
    shape = x.type.shape[-n:]  # type: ignore[attr-defined, index]
    if not all(isinstance(d, int) for d in shape):
        raise NetworkError(
            f"layer '{layer.name}': padding mode {mode.name} needs static spatial dimensions, found {list(shape)}"
        )
    for i in range(n):
        eff = (kernel[i] - 1) * dilations[i] + 1
        if mode == PaddingMode.EXPLICIT_ROUND_UP:
            span = shape[i] + pre[i] + post[i] - eff
            post[i] += (-span) % strides[i]
        else:
            out = -(-shape[i] // strides[i])
            total = max((out - 1) * strides[i] + eff - shape[i], 0)
            small, big = total // 2, total - total // 2
            pre[i], post[i] = (small, big) if mode == PaddingMode.SAME_UPPER else (big, small)
    return tuple(pre + post)


class IConvolutionLayer(ILayer):
    type = LayerType.CONVOLUTION
    num_output_maps = param("num_output_maps")
    kernel_size_nd = param("kernel_size_nd")
    kernel = param("kernel")
    bias = param("bias")
    stride_nd = param("stride_nd")
    padding_nd = param("padding_nd")
    pre_padding = param("pre_padding")
    post_padding = param("post_padding")
    padding_mode = param("padding_mode")
    dilation_nd = param("dilation_nd")
    num_groups = param("num_groups")

    transpose = False

    def _max_inputs(self) -> int:
        return 3

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        x = self._input(0)
        rank = self._rank(x)
        k = tuple(int(s) for s in p["kernel_size_nd"])
        n = len(k)
        if rank != n + 2:
            raise e.fail(f"a {n}-D kernel needs a rank-{n + 2} input (N, C, spatial...), found {x.type}")
        maps = int(p["num_output_maps"])
        cin = x.type.shape[1]  # type: ignore[attr-defined, index]
        groups = p.get("num_groups")
        kern = as_array(p["kernel"])
        if groups is None and kern is not None and isinstance(cin, int):
            # Not set yet: implied by the kernel's size (scripts often set num_groups after add_*).
            full = maps * cin * int(np.prod(k))
            groups = full // kern.size if kern.size and full % kern.size == 0 else 1
        groups = int(groups or 1)
        w_in = self._inputs[1] if len(self._inputs) > 1 else None
        if w_in is not None:
            w = w_in.value
        else:
            if kern is None:
                raise e.fail("has no kernel weights")
            if not isinstance(cin, int):
                raise e.fail("the input's channel dimension must be static to shape the kernel")
            shape = (cin, maps // groups, *k) if self.transpose else (maps, cin // groups, *k)
            if kern.size != int(np.prod(shape)):
                raise e.fail(
                    f"kernel weights have {kern.size} values, expected {int(np.prod(shape))} for shape {list(shape)}"
                )
            w = e.weight(kern.reshape(shape).astype(np.float32, copy=False), "kernel")
        b_in = self._inputs[2] if len(self._inputs) > 2 else None
        bias = as_array(p.get("bias"))
        b = None
        if b_in is not None:
            b = b_in.value
        elif bias is not None:
            if bias.size != maps:
                raise e.fail(f"bias weights have {bias.size} values, expected {maps} (num_output_maps)")
            b = e.weight(bias.reshape(maps).astype(np.float32, copy=False), "bias")
        strides = tuple(p.get("stride_nd") or (1,) * n)
        dilations = tuple(p.get("dilation_nd") or (1,) * n)
        pads = _spatial_pads(self, x, k, strides, dilations)
        if self.transpose:
            return [
                e.value(
                    nn.ConvTranspose,
                    x,
                    w,
                    b,
                    strides=strides,
                    pads=pads,
                    dilations=dilations,
                    output_padding=(0,) * n,
                    group=groups,
                )
            ]
        return [e.value(nn.Conv, x, w, b, strides=strides, pads=pads, dilations=dilations, group=groups)]


class IDeconvolutionLayer(IConvolutionLayer):
    type = LayerType.DECONVOLUTION
    transpose = True


class IPoolingLayer(ILayer):
    type = LayerType.POOLING
    pooling_type = param("type")
    window_size_nd = param("window_size_nd")
    stride_nd = param("stride_nd")
    padding_nd = param("padding_nd")
    pre_padding = param("pre_padding")
    post_padding = param("post_padding")
    padding_mode = param("padding_mode")
    average_count_excludes_padding = param("average_count_excludes_padding")
    blend_factor = param("blend_factor")

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        x = self._input(0)
        k = tuple(int(s) for s in p["window_size_nd"])
        n = len(k)
        strides = tuple(p.get("stride_nd") or k)
        pads = _spatial_pads(self, x, k, strides, (1,) * n)
        common = {"kernel_shape": k, "strides": strides, "pads": pads, "dilations": (1,) * n}
        kind = PoolingType(p["type"])
        mx = av = None
        if kind in (PoolingType.MAX, PoolingType.MAX_AVERAGE_BLEND):
            mx = e.value(nn.MaxPool, x, **common)
        if kind in (PoolingType.AVERAGE, PoolingType.MAX_AVERAGE_BLEND):
            av = e.value(
                nn.AveragePool,
                x,
                count_include_pad=not p.get("average_count_excludes_padding", True),
                **common,
            )
        if kind == PoolingType.MAX:
            return [mx]  # type: ignore[list-item]
        if kind == PoolingType.AVERAGE:
            return [av]  # type: ignore[list-item]
        f = float(p.get("blend_factor") or 0.0)  # TensorRT: (1 - blend) * max + blend * average
        a = e.value(nn.Mul, mx, e.scalar_like(x, 1 - f))
        c = e.value(nn.Mul, av, e.scalar_like(x, f))
        return [e.value(nn.Add, a, c)]


# ----------------------------------------------------------------------------------------------------------------
# Pointwise


_BINARY = {
    ElementWiseOperation.SUM: nn.Add,
    ElementWiseOperation.PROD: nn.Mul,
    ElementWiseOperation.MAX: nn.Max,
    ElementWiseOperation.MIN: nn.Min,
    ElementWiseOperation.SUB: nn.Sub,
    ElementWiseOperation.DIV: nn.Div,
    ElementWiseOperation.POW: nn.Pow,
    ElementWiseOperation.AND: nn.And,
    ElementWiseOperation.OR: nn.Or,
    ElementWiseOperation.XOR: nn.Xor,
    ElementWiseOperation.EQUAL: nn.Equal,
    ElementWiseOperation.GREATER: nn.Greater,
    ElementWiseOperation.LESS: nn.Less,
}


class IElementWiseLayer(ILayer):
    type = LayerType.ELEMENTWISE
    op = param("op")

    def _emit(self, e: _Emitter) -> list[Value]:
        a, b = self._input(0), self._input(1)
        kind = ElementWiseOperation(self._params["op"])
        if kind != ElementWiseOperation.FLOOR_DIV:
            return [e.value(_BINARY[kind], a, b)]
        if a.type.dtype.is_float:  # type: ignore[attr-defined]
            return [e.value(nn.Floor, e.value(nn.Div, a, b))]
        r = e.value(nn.Mod, a, b, fmod=False)  # floor-mod: a - mod(a, b) is an exact multiple of b
        return [e.value(nn.Div, e.value(nn.Sub, a, r), b)]


_UNARY = {
    UnaryOperation.EXP: nn.Exp,
    UnaryOperation.LOG: nn.Log,
    UnaryOperation.SQRT: nn.Sqrt,
    UnaryOperation.RECIP: nn.Reciprocal,
    UnaryOperation.ABS: nn.Abs,
    UnaryOperation.NEG: nn.Neg,
    UnaryOperation.SIN: nn.Sin,
    UnaryOperation.COS: nn.Cos,
    UnaryOperation.TAN: nn.Tan,
    UnaryOperation.SINH: nn.Sinh,
    UnaryOperation.COSH: nn.Cosh,
    UnaryOperation.ASIN: nn.Asin,
    UnaryOperation.ACOS: nn.Acos,
    UnaryOperation.ATAN: nn.Atan,
    UnaryOperation.ASINH: nn.Asinh,
    UnaryOperation.ACOSH: nn.Acosh,
    UnaryOperation.ATANH: nn.Atanh,
    UnaryOperation.CEIL: nn.Ceil,
    UnaryOperation.FLOOR: nn.Floor,
    UnaryOperation.ERF: nn.Erf,
    UnaryOperation.NOT: nn.Not,
    UnaryOperation.SIGN: nn.Sign,
    UnaryOperation.ROUND: nn.Round,
    UnaryOperation.ISINF: nn.IsInf,
    UnaryOperation.ISNAN: nn.IsNaN,
}


class IUnaryLayer(ILayer):
    type = LayerType.UNARY
    op = param("op")

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(_UNARY[UnaryOperation(self._params["op"])], self._input(0))]


class IActivationLayer(ILayer):
    """TensorRT's activations; ``alpha`` and ``beta`` default to 0 as in TensorRT."""

    type = LayerType.ACTIVATION
    activation_type = param("type")
    alpha = param("alpha")
    beta = param("beta")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        a, b = float(self._params.get("alpha", 0.0)), float(self._params.get("beta", 0.0))
        T = ActivationType
        kind = T(self._params["type"])
        simple = {T.RELU: nn.Relu, T.SIGMOID: nn.Sigmoid, T.TANH: nn.Tanh, T.SOFTSIGN: nn.Softsign}
        if kind in simple:
            return [e.value(simple[kind], x)]
        if kind == T.LEAKY_RELU:
            return [e.value(nn.LeakyRelu, x, alpha=a)]
        if kind == T.ELU:
            return [e.value(nn.Elu, x, alpha=a)]
        if kind == T.SELU:
            return [e.value(nn.Selu, x, alpha=a, gamma=b)]
        if kind == T.SOFTPLUS:  # alpha * log(exp(beta * x) + 1)
            inner = e.value(nn.Mul, x, e.scalar_like(x, b))
            return [e.value(nn.Mul, e.value(nn.Softplus, inner), e.scalar_like(x, a))]
        if kind == T.CLIP:
            return [e.value(nn.Clip, x, e.scalar_like(x, a), e.scalar_like(x, b))]
        if kind == T.HARD_SIGMOID:
            return [e.value(nn.HardSigmoid, x, alpha=a, beta=b)]
        if kind == T.SCALED_TANH:  # alpha * tanh(beta * x)
            inner = e.value(nn.Mul, x, e.scalar_like(x, b))
            return [e.value(nn.Mul, e.value(nn.Tanh, inner), e.scalar_like(x, a))]
        if kind == T.THRESHOLDED_RELU:
            return [e.value(nn.ThresholdedRelu, x, alpha=a)]
        if kind == T.GELU_ERF:
            return [e.value(nn.Gelu, x)]
        return [e.value(nn.Gelu, x, approximate="tanh")]


class IScaleLayer(ILayer):
    """``(x * scale + shift) ** power`` per tensor (UNIFORM), per channel (CHANNEL) or per element."""

    type = LayerType.SCALE
    mode = param("mode")
    shift = param("shift")
    scale = param("scale")
    power = param("power")
    channel_axis = param("channel_axis")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        rank = self._rank(x)
        mode = ScaleMode(self._params["mode"])
        axis = int(self._params.get("channel_axis", 1)) % rank
        shape = x.type.shape  # type: ignore[attr-defined]
        out = x
        for role, arr in (
            ("scale", self._params.get("scale")),
            ("shift", self._params.get("shift")),
            ("power", self._params.get("power")),
        ):
            arr = as_array(arr)
            if arr is None:
                continue
            if mode == ScaleMode.UNIFORM:
                want: tuple[Any, ...] = ()
            elif mode == ScaleMode.CHANNEL:
                want = tuple(shape[axis] if i == axis else 1 for i in range(axis, rank))
            else:
                want = tuple(shape[-(rank - axis) :])
            if arr.size != int(np.prod([d for d in want if isinstance(d, int)] or [1])):
                raise e.fail(
                    f"{role} has {arr.size} values, expected {int(np.prod(want or (1,)))} for {mode.name} mode"
                )
            w = e.weight(arr.astype(x.type.dtype.np_dtype).reshape(want), role)  # type: ignore[attr-defined]
            cls = {"scale": nn.Mul, "shift": nn.Add, "power": nn.Pow}[role]
            out = e.value(cls, out, w)
        if out is x:
            out = e.value(nn.Cast, x, to=x.type.dtype)  # type: ignore[attr-defined]
        return [out]


class IParametricReLULayer(ILayer):
    type = LayerType.PARAMETRIC_RELU

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(nn.PRelu, self._input(0), self._input(1, "(slopes)"))]


class ISelectLayer(ILayer):
    type = LayerType.SELECT

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(nn.Where, self._input(0), self._input(1), self._input(2))]


class ICastLayer(ILayer):
    type = LayerType.CAST
    to_type = param("to_type")

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(nn.Cast, self._input(0), to=DataType(self._params["to_type"]).dtype)]


class IIdentityLayer(ILayer):
    """Copies its input (with ``set_output_type``, converts it: TensorRT's cast-by-identity idiom)."""

    type = LayerType.IDENTITY

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        return [e.value(nn.Cast, x, to=x.type.dtype)]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------------------------
# Linear algebra, reductions, normalization


class IMatrixMultiplyLayer(ILayer):
    type = LayerType.MATRIX_MULTIPLY
    op0 = param("op0")
    op1 = param("op1")

    def _emit(self, e: _Emitter) -> list[Value]:
        vals = []
        for i, key in ((0, "op0"), (1, "op1")):
            v = self._input(i)
            op = MatrixOperation(self._params[key])
            if op == MatrixOperation.TRANSPOSE:
                r = self._rank(v)
                if r < 2:
                    raise e.fail(f"input #{i} has rank {r}: TRANSPOSE needs a matrix")
                v = e.value(nn.Transpose, v, perm=(*range(r - 2), r - 1, r - 2))
            elif op == MatrixOperation.VECTOR and self._rank(v) != 1:
                raise e.fail(f"input #{i} is {v.type}: VECTOR needs a rank-1 tensor")
            vals.append(v)
        return [e.value(nn.MatMul, *vals)]


_REDUCE = {
    ReduceOperation.SUM: nn.ReduceSum,
    ReduceOperation.PROD: nn.ReduceProd,
    ReduceOperation.MAX: nn.ReduceMax,
    ReduceOperation.MIN: nn.ReduceMin,
    ReduceOperation.AVG: nn.ReduceMean,
}


class IReduceLayer(ILayer):
    type = LayerType.REDUCE
    op = param("op")
    axes = param("axes")
    keep_dims = param("keep_dims")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        axes = axes_of(int(self._params["axes"]), self._rank(x))
        if not axes:
            raise e.fail(f"axes mask {self._params['axes']} selects no axis of {x.type}")
        cls = _REDUCE[ReduceOperation(self._params["op"])]
        return [e.value(cls, x, e.const(axes, np.int64), keepdims=bool(self._params["keep_dims"]))]


class ISoftMaxLayer(ILayer):
    type = LayerType.SOFTMAX
    axes = param("axes")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        rank = self._rank(x)
        mask = self._params.get("axes")
        axes = axes_of(int(mask), rank) if mask is not None else (_default_axis(rank),)
        if len(axes) != 1:
            raise e.fail(f"softmax takes exactly one axis; the mask {mask} selects {list(axes)}")
        return [e.value(nn.Softmax, x, axis=axes[0])]


class INormalizationLayer(ILayer):
    """``(x - mean) / sqrt(var + epsilon) * scale + bias`` over ``axes``; with ``num_groups`` > 1 the
    channels (axis 1) are split into groups first (group normalization)."""

    type = LayerType.NORMALIZATION
    axes = param("axes")
    epsilon = param("epsilon")
    num_groups = param("num_groups")

    def _emit(self, e: _Emitter) -> list[Value]:
        x, scale, bias = self._input(0), self._input(1, "(scale)"), self._input(2, "(bias)")
        rank = self._rank(x)
        axes = axes_of(int(self._params["axes"]), rank)
        eps = float(self._params.get("epsilon", 1e-5))
        groups = int(self._params.get("num_groups") or 1)
        if not axes:
            raise e.fail(f"axes mask {self._params['axes']} selects no axis")
        h = x
        if groups > 1:
            shape = x.type.shape  # type: ignore[attr-defined]
            c = shape[1]
            if not isinstance(c, int) or c % groups:
                raise e.fail(f"{groups} groups do not divide the {c} channels of {x.type}")
            h = e.value(nn.Reshape, x, e.const([0, groups, -1], np.int64))
            axes = (2,)
        ax = e.const(axes, np.int64)
        mean = e.value(nn.ReduceMean, h, ax, keepdims=True)
        d = e.value(nn.Sub, h, mean)
        var = e.value(nn.ReduceMean, e.value(nn.Mul, d, d), ax, keepdims=True)
        std = e.value(nn.Sqrt, e.value(nn.Add, var, e.scalar_like(x, eps)))
        y = e.value(nn.Div, d, std)
        if groups > 1:
            y = e.value(nn.Reshape, y, e.value(nn.Shape, x))
        return [e.value(nn.Add, e.value(nn.Mul, y, scale), bias)]


class ITopKLayer(ILayer):
    type = LayerType.TOPK
    op = param("op")
    k = param("k")
    axes = param("axes")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        axes = axes_of(int(self._params["axes"]), self._rank(x))
        if len(axes) != 1:
            raise e.fail(
                f"top-k takes exactly one axis; the mask {self._params['axes']} selects {list(axes)}"
            )
        op = e.op(
            nn.TopK,
            x,
            e.const([int(self._params["k"])], np.int64),
            axis=axes[0],
            largest=TopKOperation(self._params["op"]) == TopKOperation.MAX,
        )
        return list(op.results)


class IEinsumLayer(ILayer):
    type = LayerType.EINSUM
    equation = param("equation")

    def _emit(self, e: _Emitter) -> list[Value]:
        return [
            e.value(
                nn.Einsum, [t.value for t in self._inputs if t is not None], equation=self._params["equation"]
            )
        ]


# ----------------------------------------------------------------------------------------------------------------
# Data movement and shapes


class IConcatenationLayer(ILayer):
    type = LayerType.CONCATENATION
    axis = param("axis")

    def _emit(self, e: _Emitter) -> list[Value]:
        vals = [t.value for t in self._inputs if t is not None]
        if not vals:
            raise e.fail("needs at least one input")
        axis = self._params.get("axis")
        if axis is None:
            axis = _default_axis(self._rank(vals[0]))
        return [e.value(nn.Concat, vals, axis=int(axis))]


class IShuffleLayer(ILayer):
    """first_transpose, then reshape (``reshape_dims``, or input #1 as a shape tensor), then
    second_transpose. With ``zero_is_placeholder`` (the default) a 0 copies the input's dimension."""

    type = LayerType.SHUFFLE
    first_transpose = param("first_transpose")
    reshape_dims = param("reshape_dims")
    second_transpose = param("second_transpose")
    zero_is_placeholder = param("zero_is_placeholder")

    def _max_inputs(self) -> int:
        return 2

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        v = self._input(0)
        rank = self._rank(v)
        first = p.get("first_transpose")
        if first is not None and tuple(first) != tuple(range(rank)):
            if sorted(first) != list(range(rank)):
                raise e.fail(f"first_transpose {list(first)} is not a permutation of {rank} axes")
            v = e.value(nn.Transpose, v, perm=tuple(int(i) for i in first))
        shape_in = self._inputs[1] if len(self._inputs) > 1 else None
        dims = p.get("reshape_dims")
        if shape_in is not None:
            v = e.value(nn.Reshape, v, shape_in.value, allowzero=not p.get("zero_is_placeholder", True))
        elif dims is not None:
            v = e.value(
                nn.Reshape,
                v,
                e.const([int(d) for d in dims], np.int64),
                allowzero=not p.get("zero_is_placeholder", True),
            )
        second = p.get("second_transpose")
        if second is not None:
            r = self._rank(v)
            if tuple(second) != tuple(range(r)):
                if sorted(second) != list(range(r)):
                    raise e.fail(f"second_transpose {list(second)} is not a permutation of {r} axes")
                v = e.value(nn.Transpose, v, perm=tuple(int(i) for i in second))
        if v is self._input(0):
            v = e.value(nn.Cast, v, to=v.type.dtype)  # type: ignore[attr-defined]
        return [v]


class ISliceLayer(ILayer):
    """Output ``shape`` elements from ``start`` stepping by ``stride`` per axis (STRICT_BOUNDS, CLAMP)."""

    type = LayerType.SLICE
    start = param("start")
    shape = param("shape")
    stride = param("stride")
    mode = param("mode")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        rank = self._rank(x)
        start, size, stride = (tuple(int(s) for s in self._params[k]) for k in ("start", "shape", "stride"))
        if not len(start) == len(size) == len(stride) == rank:
            raise e.fail(
                f"start {list(start)}, shape {list(size)} and stride {list(stride)} must each have {rank} entries"
            )
        mode = SampleMode(self._params.get("mode", SampleMode.STRICT_BOUNDS))
        dims = x.type.shape  # type: ignore[attr-defined]
        ends = []
        for i, (s, n, st) in enumerate(zip(start, size, stride)):
            last = s + (n - 1) * st
            d = dims[i]
            if (
                mode == SampleMode.STRICT_BOUNDS
                and isinstance(d, int)
                and n > 0
                and not (0 <= s < d and 0 <= last < d)
            ):
                raise e.fail(f"axis {i}: elements {s}..{last} (stride {st}) leave the input's {d} elements")
            if mode not in (SampleMode.STRICT_BOUNDS,):
                raise e.fail(f"sample mode {mode.name} is not supported (STRICT_BOUNDS is)")
            ends.append(last + (1 if st > 0 else -1) if last + (1 if st > 0 else -1) >= 0 else -(2**62))
        return [
            e.value(
                nn.Slice,
                x,
                e.const(start, np.int64),
                e.const(ends, np.int64),
                e.const(list(range(rank)), np.int64),
                e.const(stride, np.int64),
            )
        ]


class IGatherLayer(ILayer):
    type = LayerType.GATHER
    axis = param("axis")
    mode = param("mode")
    num_elementwise_dims = param("num_elementwise_dims")

    def _emit(self, e: _Emitter) -> list[Value]:
        data, idx = self._input(0), self._input(1)
        mode = GatherMode(self._params.get("mode", GatherMode.DEFAULT))
        if mode == GatherMode.ELEMENT:
            return [e.value(nn.GatherElements, data, idx, axis=int(self._params["axis"]))]
        if mode == GatherMode.ND:
            return [
                e.value(nn.GatherND, data, idx, batch_dims=int(self._params.get("num_elementwise_dims") or 0))
            ]
        if self._params.get("num_elementwise_dims"):
            raise e.fail("num_elementwise_dims is supported in ND mode only")
        return [e.value(nn.Gather, data, idx, axis=int(self._params["axis"]))]


class IConstantLayer(ILayer):
    type = LayerType.CONSTANT
    shape = param("shape")
    weights = param("weights")

    def _emit(self, e: _Emitter) -> list[Value]:
        arr = as_array(self._params["weights"])
        shape = tuple(int(d) for d in self._params["shape"])
        if arr is None:
            raise e.fail("has no weights")
        if arr.size != int(np.prod(shape)):
            raise e.fail(f"{arr.size} weight values do not fill shape {list(shape)}")
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return [e.weight(arr.reshape(shape), "weights")]


class IPaddingLayer(ILayer):
    """Zero padding of the innermost ``len(pre_padding_nd)`` dimensions."""

    type = LayerType.PADDING
    pre_padding_nd = param("pre_padding_nd")
    post_padding_nd = param("post_padding_nd")

    def _emit(self, e: _Emitter) -> list[Value]:
        x = self._input(0)
        rank = self._rank(x)
        pre, post = (tuple(int(v) for v in self._params[k]) for k in ("pre_padding_nd", "post_padding_nd"))
        if len(pre) != len(post) or len(pre) > rank:
            raise e.fail(f"pre {list(pre)} and post {list(post)} paddings must match and fit rank {rank}")
        lead = (0,) * (rank - len(pre))
        pads = e.const(lead + pre + lead + post, np.int64)
        return [e.value(nn.Pad, x, pads, None, None, mode="constant")]


class IResizeLayer(ILayer):
    type = LayerType.RESIZE
    shape = param("shape")
    scales = param("scales")
    resize_mode = param("resize_mode")
    coordinate_transformation = param("coordinate_transformation")
    nearest_rounding = param("nearest_rounding")
    cubic_coeff = param("cubic_coeff")
    exclude_outside = param("exclude_outside")

    def _max_inputs(self) -> int:
        return 2

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        x = self._input(0)
        mode = {
            InterpolationMode.NEAREST: "nearest",
            InterpolationMode.LINEAR: "linear",
            InterpolationMode.CUBIC: "cubic",
        }[InterpolationMode(p.get("resize_mode", InterpolationMode.NEAREST))]
        ct = {
            ResizeCoordinateTransformation.ALIGN_CORNERS: "align_corners",
            ResizeCoordinateTransformation.ASYMMETRIC: "asymmetric",
            ResizeCoordinateTransformation.HALF_PIXEL: "half_pixel",
        }[
            ResizeCoordinateTransformation(
                p.get("coordinate_transformation", ResizeCoordinateTransformation.ASYMMETRIC)
            )
        ]
        rounding = {
            ResizeRoundMode.HALF_UP: "round_prefer_ceil",
            ResizeRoundMode.HALF_DOWN: "round_prefer_floor",
            ResizeRoundMode.FLOOR: "floor",
            ResizeRoundMode.CEIL: "ceil",
        }[ResizeRoundMode(p.get("nearest_rounding", ResizeRoundMode.FLOOR))]
        shape_in = self._inputs[1] if len(self._inputs) > 1 else None
        scales = sizes = None
        if shape_in is not None:
            sizes = shape_in.value
        elif p.get("shape") is not None:
            sizes = e.const([int(d) for d in p["shape"]], np.int64)
        elif p.get("scales") is not None:
            scales = e.const([float(s) for s in p["scales"]], np.float32)
        else:  # nothing set yet: the identity resize (TensorRT's default output shape is the input's)
            scales = e.const([1.0] * self._rank(x), np.float32)
        return [
            e.value(
                nn.Resize,
                x,
                None,
                scales,
                sizes,
                mode=mode,
                coordinate_transformation_mode=ct,
                nearest_mode=rounding,
                cubic_coeff_a=float(p.get("cubic_coeff", -0.75)),
                exclude_outside=bool(p.get("exclude_outside", False)),
            )
        ]


class IShapeLayer(ILayer):
    type = LayerType.SHAPE

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(nn.Shape, self._input(0))]


class ISqueezeLayer(ILayer):
    type = LayerType.SQUEEZE
    squeeze_op = nn.Squeeze

    def _emit(self, e: _Emitter) -> list[Value]:
        return [e.value(self.squeeze_op, self._input(0), self._input(1, "(axes)"))]


class IUnsqueezeLayer(ISqueezeLayer):
    type = LayerType.UNSQUEEZE
    squeeze_op = nn.Unsqueeze


class ILRNLayer(ILayer):
    type = LayerType.LRN
    window_size = param("window_size")
    alpha = param("alpha")
    beta = param("beta")
    k = param("k")

    def _emit(self, e: _Emitter) -> list[Value]:
        p = self._params
        return [
            e.value(
                nn.LRN,
                self._input(0),
                size=int(p["window_size"]),
                alpha=float(p["alpha"]),
                beta=float(p["beta"]),
                bias=float(p["k"]),
            )
        ]


# ----------------------------------------------------------------------------------------------------------------
# Quantization and plugins


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


def _parsed_types() -> dict[str, LayerType]:
    T = LayerType
    table = {
        "nn.conv": T.CONVOLUTION,
        "nn.conv_transpose": T.DECONVOLUTION,
        "nn.matmul": T.MATRIX_MULTIPLY,
        "nn.gemm": T.MATRIX_MULTIPLY,
        "nn.max_pool": T.POOLING,
        "nn.average_pool": T.POOLING,
        "nn.global_average_pool": T.POOLING,
        "nn.global_max_pool": T.POOLING,
        "nn.softmax": T.SOFTMAX,
        "nn.concat": T.CONCATENATION,
        "nn.transpose": T.SHUFFLE,
        "nn.reshape": T.SHUFFLE,
        "nn.flatten": T.SHUFFLE,
        "nn.slice": T.SLICE,
        "nn.gather": T.GATHER,
        "nn.gather_elements": T.GATHER,
        "nn.where": T.SELECT,
        "nn.constant": T.CONSTANT,
        "nn.cast": T.CAST,
        "nn.pad": T.PADDING,
        "nn.resize": T.RESIZE,
        "nn.top_k": T.TOPK,
        "nn.shape": T.SHAPE,
        "nn.einsum": T.EINSUM,
        "nn.prelu": T.PARAMETRIC_RELU,
        "nn.lrn": T.LRN,
        "nn.squeeze": T.SQUEEZE,
        "nn.unsqueeze": T.UNSQUEEZE,
        "nn.layer_normalization": T.NORMALIZATION,
        "nn.group_normalization": T.NORMALIZATION,
        "nn.instance_normalization": T.NORMALIZATION,
        "nn.plugin": T.PLUGIN_V2,
        "quant.quantize_linear": T.QUANTIZE,
        "quant.dequantize_linear": T.DEQUANTIZE,
    }
    for cls in _BINARY.values():
        table[cls.name] = T.ELEMENTWISE
    for cls in _UNARY.values():
        table[cls.name] = T.UNARY
    for cls in _REDUCE.values():
        table[cls.name] = T.REDUCE
    for n in (
        "relu",
        "sigmoid",
        "tanh",
        "leaky_relu",
        "elu",
        "selu",
        "softsign",
        "softplus",
        "clip",
        "hard_sigmoid",
        "thresholded_relu",
        "gelu",
        "celu",
        "mish",
        "hard_swish",
    ):
        table["nn." + n] = T.ACTIVATION
    return table


_PARSED_TYPES = _parsed_types()
