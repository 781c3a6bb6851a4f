"""Elementwise layers: binary and unary ops, activations, scale, select, cast, identity."""

from __future__ import annotations

from typing import Any

import numpy as np

from tritium.enums import (
    ActivationType,
    ElementWiseOperation,
    LayerType,
    ScaleMode,
    UnaryOperation,
)
from tritium.ir.core import Value
from tritium.ir.dialects import nn
from tritium.layers.base import ILayer, _Emitter, as_array, param
from tritium.runtime.types import DataType

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
