"""Elementwise ONNX ops: arithmetic (with multidirectional broadcasting), bitwise ops, unary math;
also Identity and Constant."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn

BINARY = {"Add": nn.Add, "Sub": nn.Sub, "Mul": nn.Mul, "Div": nn.Div, "Pow": nn.Pow}
UNARY = {  # op type -> (nn op, the first opset that has it)
    "Neg": (nn.Neg, 1),
    "Abs": (nn.Abs, 1),
    "Exp": (nn.Exp, 1),
    "Log": (nn.Log, 1),
    "Sqrt": (nn.Sqrt, 1),
    "Tanh": (nn.Tanh, 1),
    "Erf": (nn.Erf, 9),
    "Relu": (nn.Relu, 1),
    "Sigmoid": (nn.Sigmoid, 1),
    "Reciprocal": (nn.Reciprocal, 1),
    "Ceil": (nn.Ceil, 1),
    "Floor": (nn.Floor, 1),
    "Sin": (nn.Sin, 7),
    "Cos": (nn.Cos, 7),
    "Tan": (nn.Tan, 7),
    "Asin": (nn.Asin, 7),
    "Acos": (nn.Acos, 7),
    "Atan": (nn.Atan, 7),
    "Sinh": (nn.Sinh, 9),
    "Cosh": (nn.Cosh, 9),
    "Asinh": (nn.Asinh, 9),
    "Acosh": (nn.Acosh, 9),
    "Atanh": (nn.Atanh, 9),
    "Sign": (nn.Sign, 9),
    "Round": (nn.Round, 11),
    "BitwiseNot": (nn.BitwiseNot, 18),
}
BITWISE = {"BitwiseAnd": nn.BitwiseAnd, "BitwiseOr": nn.BitwiseOr, "BitwiseXor": nn.BitwiseXor}


def binary_operands(ctx: NodeContext) -> tuple[Value, Value]:
    """Inputs 0 and 1 of a binary op, the second reshaped for the legacy broadcast of opsets < 7
    (``broadcast = 1`` aligns B with A starting at ``axis``; numpy broadcasting aligns the ends)."""
    a, b = ctx.input(0), ctx.input(1)
    if ctx.opset >= 7:
        ctx.check_attrs()
        return a, b
    ctx.check_attrs("broadcast", "axis", "consumed_inputs")
    if not ctx.attr("broadcast", 0):
        return a, b  # the shapes must match, which numpy broadcasting accepts as well
    ra, rb = ctx.rank(0), ctx.rank(1)
    axis = ctx.attr("axis", ra - rb)
    if axis < 0:
        axis += ra
    trailing = ra - axis - rb
    if trailing < 0 or axis < 0:
        ctx.fail(f"legacy broadcast of {ctx.type(1)} into {ctx.type(0)} at axis {axis} does not fit")
    if trailing:
        shape = ctx.type(1).shape
        if shape is None or not all(isinstance(d, int) for d in shape):
            ctx.fail("legacy broadcast with an axis needs B's shape to be static")
        b = ctx.value(nn.Reshape, b, ctx.ints_const([*shape, *([1] * trailing)]))  # type: ignore[misc]
    return a, b


@converter(*BINARY)
def binary(ctx: NodeContext) -> Value:
    a, b = binary_operands(ctx)
    return ctx.value(BINARY[ctx.op_type], a, b)


def _unary(since: int):
    def convert(ctx: NodeContext) -> Value:
        ctx.check_attrs("consumed_inputs")
        return ctx.value(UNARY[ctx.op_type][0], ctx.input(0))

    return convert


for _op, (_cls, _since) in UNARY.items():
    converter(_op, since=_since)(_unary(_since))


@converter(*BITWISE, since=18)
def bitwise(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(BITWISE[ctx.op_type], ctx.input(0), ctx.input(1))


@converter("BitShift", since=11)
def bit_shift(ctx: NodeContext) -> Value:
    ctx.check_attrs("direction")
    direction = ctx.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        ctx.fail(f"direction must be LEFT or RIGHT, found {direction!r}")
    return ctx.value(nn.BitShift, ctx.input(0), ctx.input(1), direction=direction)


@converter("Mod", since=10)
def mod(ctx: NodeContext) -> Value:
    ctx.check_attrs("fmod")
    fmod = ctx.attr("fmod", 0)
    if fmod not in (0, 1):
        ctx.fail(f"fmod must be 0 or 1, found {fmod}")
    return ctx.value(nn.Mod, ctx.input(0), ctx.input(1), fmod=bool(fmod))


@converter("Max", "Min", "Sum")
def variadic(ctx: NodeContext) -> Value:
    ctx.check_attrs("consumed_inputs")
    op = {"Max": nn.Max, "Min": nn.Min, "Sum": nn.Add}[ctx.op_type]
    inputs = [v for v in ctx.inputs() if v is not None]
    if not inputs:
        ctx.fail("needs at least one input")
    acc = inputs[0]
    for v in inputs[1:]:
        acc = ctx.value(op, acc, v)
    return acc


@converter("Mean")
def mean(ctx: NodeContext) -> Value:
    ctx.check_attrs("consumed_inputs")
    inputs = [v for v in ctx.inputs() if v is not None]
    if not inputs:
        ctx.fail("needs at least one input")
    acc = inputs[0]
    for v in inputs[1:]:
        acc = ctx.value(nn.Add, acc, v)
    if len(inputs) == 1:
        return acc
    n = ctx.constant(np.asarray(len(inputs), acc.type.dtype.np_dtype))  # type: ignore[attr-defined]
    return ctx.value(nn.Div, acc, n)


@converter("Identity")
def identity(ctx: NodeContext) -> Value:
    return ctx.input(0)


@converter("Constant")
def constant(ctx: NodeContext) -> Value:
    keys = [
        k
        for k in (
            "value",
            "value_float",
            "value_floats",
            "value_int",
            "value_ints",
            "value_string",
            "value_strings",
            "sparse_value",
        )
        if ctx.has_attr(k)
    ]
    if len(keys) != 1:
        ctx.fail(f"needs exactly one value attribute, found {keys or 'none'}")
    key = keys[0]
    v = ctx.attr(key)
    if key in ("value_float", "value_floats"):
        arr = np.asarray(v, np.float32)
    elif key in ("value_int", "value_ints"):
        arr = np.asarray(v, np.int64)
    elif key in ("value_string", "value_strings"):
        arr = np.asarray(v if key == "value_strings" else [v], dtype=object).reshape(
            -1 if key == "value_strings" else ()
        )
    else:
        arr = np.asarray(v)
    return ctx.constant(arr, name=ctx.node.output[0])
