"""Reductions, arg-max/min, cumulative sums/products and the softmax family, with their opset
differences normalized."""

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
    "ReduceL1": nn.ReduceL1,
    "ReduceL2": nn.ReduceL2,
    "ReduceSumSquare": nn.ReduceSumSquare,
    "ReduceLogSum": nn.ReduceLogSum,
    "ReduceLogSumExp": nn.ReduceLogSumExp,
}
# The opset from which each op takes its axes as an input instead of an attribute (18 for most).
AXES_AS_INPUT = {"ReduceSum": 13}


@converter(*REDUCE)
def reduce(ctx: NodeContext) -> Value:
    """All opsets map to the opset-18 form: axes as an (optional) i64 operand."""
    if ctx.opset >= AXES_AS_INPUT.get(ctx.op_type, 18):
        ctx.check_attrs("keepdims", "noop_with_empty_axes")
        axes = ctx.folded_input(1) if ctx.has_input(1) else None
    else:
        ctx.check_attrs("axes", "keepdims")
        given = ctx.attr("axes", None)
        axes = ctx.ints_const(given) if given else None
    return ctx.value(
        REDUCE[ctx.op_type],
        ctx.input(0),
        axes,
        keepdims=bool(ctx.attr("keepdims", 1)),
        noop_with_empty_axes=bool(ctx.attr("noop_with_empty_axes", 0)),
    )


@converter("ArgMax", "ArgMin")
def arg_max_min(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis", "keepdims", "select_last_index")
    op = nn.ArgMax if ctx.op_type == "ArgMax" else nn.ArgMin
    return ctx.value(
        op,
        ctx.input(0),
        axis=ctx.attr("axis", 0),
        keepdims=bool(ctx.attr("keepdims", 1)),
        select_last_index=bool(ctx.attr("select_last_index", 0)),
    )


@converter("CumSum", "CumProd")
def cumulative(ctx: NodeContext) -> Value:
    ctx.check_attrs("exclusive", "reverse")
    op = nn.CumSum if ctx.op_type == "CumSum" else nn.CumProd
    return ctx.value(
        op,
        ctx.input(0),
        ctx.folded_input(1),
        exclusive=bool(ctx.attr("exclusive", 0)),
        reverse=bool(ctx.attr("reverse", 0)),
    )


SOFTMAX = {"Softmax": nn.Softmax, "LogSoftmax": nn.LogSoftmax, "Hardmax": nn.Hardmax}


@converter(*SOFTMAX, since=13)
def softmax(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis")
    return ctx.value(SOFTMAX[ctx.op_type], ctx.input(0), axis=ctx.attr("axis", -1))


@converter(*SOFTMAX, since=1)
def softmax_v1(ctx: NodeContext) -> Value:
    """Before opset 13, the input is seen as 2-D, [prod(dims[:axis]), prod(dims[axis:])], and the op
    runs along the second dim: the same as the new form along the last axis when axis is the last
    one; otherwise a reshape to 2-D and back (which needs the dims)."""
    ctx.check_attrs("axis")
    op = SOFTMAX[ctx.op_type]
    x = ctx.input(0)
    rank = ctx.rank(0)
    axis = ctx.attr("axis", 1)
    if not -rank <= axis < max(rank, 1):
        ctx.fail(f"axis {axis} is out of range for rank {rank}")
    axis %= max(rank, 1)
    if axis == rank - 1:
        return ctx.value(op, x, axis=-1)
    shape = ctx.type(0).shape
    assert shape is not None
    if not all(isinstance(d, int) for d in shape):
        ctx.fail(
            f"{ctx.op_type} before opset 13 over a non-last axis needs a static shape, found {ctx.type(0)}"
        )
    flat = ctx.value(nn.Reshape, x, ctx.ints_const([_prod(shape[:axis]), _prod(shape[axis:])]))
    y = ctx.value(op, flat, axis=-1)
    return ctx.value(nn.Reshape, y, ctx.ints_const(shape))  # type: ignore[arg-type]


def _prod(dims: tuple) -> int:
    n = 1
    for d in dims:
        n *= d
    return n
