"""Indexed reads and writes: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND,
TensorScatter."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("Gather")
def gather(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis")
    return ctx.value(nn.Gather, ctx.input(0), ctx.folded_input(1), axis=ctx.attr("axis", 0))


@converter("GatherElements", since=11)
def gather_elements(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis")
    return ctx.value(nn.GatherElements, ctx.input(0), ctx.input(1), axis=ctx.attr("axis", 0))


@converter("GatherND", since=11)
def gather_nd(ctx: NodeContext) -> Value:
    ctx.check_attrs("batch_dims")
    return ctx.value(nn.GatherND, ctx.input(0), ctx.input(1), batch_dims=ctx.attr("batch_dims", 0))


@converter("Scatter", "ScatterElements", since=9)
def scatter_elements(ctx: NodeContext) -> Value:
    """Scatter (deprecated) is ScatterElements without reduction."""
    ctx.check_attrs("axis", "reduction")
    return ctx.value(
        nn.ScatterElements,
        ctx.input(0),
        ctx.input(1),
        ctx.input(2),
        axis=ctx.attr("axis", 0),
        reduction=ctx.attr("reduction", "none"),
    )


@converter("ScatterND", since=11)
def scatter_nd(ctx: NodeContext) -> Value:
    ctx.check_attrs("reduction")
    return ctx.value(
        nn.ScatterND, ctx.input(0), ctx.input(1), ctx.input(2), reduction=ctx.attr("reduction", "none")
    )


@converter("TensorScatter", since=24)
def tensor_scatter(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "mode")
    return ctx.value(
        nn.TensorScatter,
        ctx.input(0),
        ctx.input(1),
        ctx.opt_input(2),
        axis=ctx.attr("axis", -2),
        mode=ctx.attr("mode", "linear"),
    )
