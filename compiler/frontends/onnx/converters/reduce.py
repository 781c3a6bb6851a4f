"""Reductions and softmax, with their opset differences normalized."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn

REDUCE = {
    "ReduceSum": nn.ReduceSum,
    "ReduceMean": nn.ReduceMean,
    "ReduceMax": nn.ReduceMax,
    "ReduceMin": nn.ReduceMin,
    "ReduceProd": nn.ReduceProd,
}
# The opset from which each op takes its axes as an input instead of an attribute (18 for most).
AXES_AS_INPUT = {"ReduceSum": 13}


@converter(*REDUCE)
def reduce(ctx: NodeContext) -> Value:
    """All opsets map to the opset-18 form: axes as an (optional) i64 operand."""
    ctx.check_attrs("axes", "keepdims", "noop_with_empty_axes")
    if ctx.opset >= AXES_AS_INPUT.get(ctx.op_type, 18):
        axes = ctx.opt_input(1)
        if axes is not None:
            axes = ctx.folded_input(1)
    else:
        given = ctx.attr("axes", None)
        axes = ctx.ints_const(given) if given else None
    return ctx.value(
        REDUCE[ctx.op_type],
        ctx.input(0),
        axes,
        keepdims=bool(ctx.attr("keepdims", 1)),
        noop_with_empty_axes=bool(ctx.attr("noop_with_empty_axes", 0)),
    )


@converter("Softmax", since=13)
def softmax(ctx: NodeContext) -> Value:
    return ctx.value(nn.Softmax, ctx.input(0), axis=ctx.attr("axis", -1))


@converter("Softmax", since=1)
def softmax_v1(ctx: NodeContext) -> Value:
    """Before opset 13, softmax flattens the input to 2-D around ``axis``."""
    x = ctx.input(0)
    rank = ctx.rank(0)
    axis = ctx.attr("axis", 1) % max(rank, 1)
    if axis == rank - 1:
        return ctx.value(nn.Softmax, x, axis=-1)
    shape = ctx.type(0).shape
    if not all(isinstance(d, int) for d in shape):  # type: ignore[union-attr]
        ctx.fail("softmax before opset 13 over a non-last axis needs a static shape")
    flat = ctx.value(nn.Reshape, x, ctx.ints_const([-1 if axis else 1, _prod(shape[axis:])]))  # type: ignore[index]
    y = ctx.value(nn.Softmax, flat, axis=-1)
    return ctx.value(nn.Reshape, y, ctx.ints_const(shape))  # type: ignore[arg-type]


def _prod(dims: tuple) -> int:
    n = 1
    for d in dims:
        n *= d
    return n
