"""Shape manipulation: Reshape, Transpose, Concat, Shape, Size, Flatten, Squeeze, Unsqueeze, Expand,
Tile."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("Reshape", since=5)
def reshape(ctx: NodeContext) -> Value:
    ctx.check_attrs("allowzero")
    return ctx.value(nn.Reshape, ctx.input(0), ctx.folded_input(1), allowzero=bool(ctx.attr("allowzero", 0)))


@converter("Reshape", since=1)
def reshape_v1(ctx: NodeContext) -> Value:
    ctx.check_attrs("shape", "consumed_inputs")
    return ctx.value(nn.Reshape, ctx.input(0), ctx.ints_const(ctx.attr("shape")))


@converter("Transpose")
def transpose(ctx: NodeContext) -> Value:
    ctx.check_attrs("perm")
    perm = ctx.attr("perm", None)
    if perm is None:
        perm = tuple(reversed(range(ctx.rank(0))))
    return ctx.value(nn.Transpose, ctx.input(0), perm=tuple(perm))


@converter("Concat")
def concat(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis")
    inputs = [v for v in ctx.inputs() if v is not None]
    axis = ctx.attr("axis", 1 if ctx.opset < 4 else None)
    if axis is None:
        ctx.fail("attribute 'axis' is required")
    return ctx.value(nn.Concat, inputs, axis=axis)


@converter("Shape")
def shape(ctx: NodeContext) -> Value:
    ctx.check_attrs("start", "end")
    return ctx.value(nn.Shape, ctx.input(0), start=ctx.attr("start", 0), end=ctx.attr("end", None))


@converter("Size")
def size(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Size, ctx.input(0))


@converter("Flatten")
def flatten(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis")
    return ctx.value(nn.Flatten, ctx.input(0), axis=ctx.attr("axis", 1))


def _axes_operand(ctx: NodeContext, required: bool) -> Value | None:
    """Axes of Squeeze/Unsqueeze: an attribute before opset 13, an (optional) input from 13 on."""
    if ctx.opset >= 13:
        ctx.check_attrs()
        if not ctx.has_input(1):
            if required:
                ctx.fail("input 'axes' is required")
            return None
        return ctx.folded_input(1)
    ctx.check_attrs("axes")
    axes = ctx.attr("axes", None)
    if axes is None:
        if required:
            ctx.fail("attribute 'axes' is required")
        return None
    return ctx.ints_const(axes)


@converter("Squeeze")
def squeeze(ctx: NodeContext) -> Value:
    return ctx.value(nn.Squeeze, ctx.input(0), _axes_operand(ctx, False))


@converter("Unsqueeze")
def unsqueeze(ctx: NodeContext) -> Value:
    return ctx.value(nn.Unsqueeze, ctx.input(0), _axes_operand(ctx, True))


@converter("Expand", since=8)
def expand(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Expand, ctx.input(0), ctx.folded_input(1))


@converter("Tile", since=6)
def tile(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    return ctx.value(nn.Tile, ctx.input(0), ctx.folded_input(1))
