"""Elementwise ONNX ops: arithmetic (with multidirectional broadcasting), math and activations."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn

BINARY = {"Add": nn.Add, "Sub": nn.Sub, "Mul": nn.Mul, "Div": nn.Div, "Pow": nn.Pow}
UNARY = {
    "Neg": nn.Neg,
    "Abs": nn.Abs,
    "Exp": nn.Exp,
    "Log": nn.Log,
    "Sqrt": nn.Sqrt,
    "Tanh": nn.Tanh,
    "Erf": nn.Erf,
    "Relu": nn.Relu,
    "Sigmoid": nn.Sigmoid,
}


@converter(*BINARY)
def binary(ctx: NodeContext) -> Value:
    # Opsets before 7 had "broadcast"/"axis" attributes instead of numpy broadcasting.
    if ctx.opset < 7 and ctx.attr("broadcast", 0):
        ctx.fail("legacy broadcast (opset < 7) is not supported")
    ctx.check_attrs("consumed_inputs")
    return ctx.value(BINARY[ctx.op_type], ctx.input(0), ctx.input(1))


@converter(*UNARY)
def unary(ctx: NodeContext) -> Value:
    ctx.check_attrs("consumed_inputs")
    return ctx.value(UNARY[ctx.op_type], ctx.input(0))


@converter("Max", "Min", "Sum")
def variadic(ctx: NodeContext) -> Value:
    op = {"Max": nn.Max, "Min": nn.Min, "Sum": nn.Add}[ctx.op_type]
    inputs = [v for v in ctx.inputs() if v is not None]
    acc = inputs[0]
    for v in inputs[1:]:
        acc = ctx.value(op, acc, v)
    return acc


@converter("Mean")
def mean(ctx: NodeContext) -> Value:
    inputs = [v for v in ctx.inputs() if v is not None]
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
        ctx.fail("string constants are not supported")
    else:
        arr = np.asarray(v)
    return ctx.constant(arr, name=ctx.node.output[0])
