"""Comparisons (Equal, Less, LessOrEqual, Greater, GreaterOrEqual), logic (And, Or, Xor, Not),
Where, IsInf and IsNaN."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.converters.elementwise import binary_operands
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn

BINARY = {
    "Equal": nn.Equal,
    "Less": nn.Less,
    "Greater": nn.Greater,
    "And": nn.And,
    "Or": nn.Or,
    "Xor": nn.Xor,
}


@converter(*BINARY)
def binary(ctx: NodeContext) -> Value:
    a, b = binary_operands(ctx)
    return ctx.value(BINARY[ctx.op_type], a, b)


@converter("LessOrEqual", "GreaterOrEqual", since=12)
def or_equal(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    op = nn.LessOrEqual if ctx.op_type == "LessOrEqual" else nn.GreaterOrEqual
    return ctx.value(op, ctx.input(0), ctx.input(1))


@converter("Not")
def not_(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Not, ctx.input(0))


@converter("Where", since=9)
def where(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Where, ctx.input(0), ctx.input(1), ctx.input(2))


@converter("IsInf", since=10)
def is_inf(ctx: NodeContext) -> Value:
    ctx.check_attrs("detect_negative", "detect_positive")
    return ctx.value(
        nn.IsInf,
        ctx.input(0),
        detect_negative=bool(ctx.attr("detect_negative", 1)),
        detect_positive=bool(ctx.attr("detect_positive", 1)),
    )


@converter("IsNaN", since=9)
def is_nan(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.IsNaN, ctx.input(0))
