"""Positions of elements: NonZero, Unique, TopK, Trilu."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("NonZero", since=9)
def non_zero(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.NonZero, ctx.input(0))


@converter("Unique", since=11)
def unique(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("axis", "sorted")
    op = ctx.emit(nn.Unique, ctx.input(0), axis=ctx.attr("axis", None), sorted=bool(ctx.attr("sorted", 1)))
    return list(op.results)


@converter("TopK", since=10)
def top_k(ctx: NodeContext) -> list[Value]:
    ctx.check_attrs("axis", "largest", "sorted")
    op = ctx.emit(
        nn.TopK,
        ctx.input(0),
        ctx.folded_input(1),
        axis=ctx.attr("axis", -1),
        largest=bool(ctx.attr("largest", 1)),
        sorted=bool(ctx.attr("sorted", 1)),
    )
    return list(op.results)


@converter("TopK", since=1)
def top_k_v1(ctx: NodeContext) -> list[Value]:
    """Before opset 10, k is an attribute."""
    ctx.check_attrs("axis", "k")
    op = ctx.emit(nn.TopK, ctx.input(0), ctx.ints_const([ctx.attr("k")]), axis=ctx.attr("axis", -1))
    return list(op.results)


@converter("Trilu", since=14)
def trilu(ctx: NodeContext) -> Value:
    ctx.check_attrs("upper")
    k = ctx.folded_input(1) if ctx.has_input(1) else None
    return ctx.value(nn.Trilu, ctx.input(0), k, upper=bool(ctx.attr("upper", 1)))
