"""Shape manipulation: Reshape, Transpose, Concat."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("Reshape", since=5)
def reshape(ctx: NodeContext) -> Value:
    return ctx.value(nn.Reshape, ctx.input(0), ctx.folded_input(1), allowzero=bool(ctx.attr("allowzero", 0)))


@converter("Reshape", since=1)
def reshape_v1(ctx: NodeContext) -> Value:
    return ctx.value(nn.Reshape, ctx.input(0), ctx.ints_const(ctx.attr("shape")))


@converter("Transpose")
def transpose(ctx: NodeContext) -> Value:
    rank = ctx.rank(0)
    perm = ctx.attr("perm", tuple(reversed(range(rank))))
    return ctx.value(nn.Transpose, ctx.input(0), perm=tuple(perm))


@converter("Concat")
def concat(ctx: NodeContext) -> Value:
    inputs = [v for v in ctx.inputs() if v is not None]
    axis = ctx.attr("axis", 1 if ctx.opset < 4 else None)
    if axis is None:
        ctx.fail("attribute 'axis' is required")
    return ctx.value(nn.Concat, inputs, axis=axis)
