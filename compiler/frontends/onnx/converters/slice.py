"""Selecting parts of tensors: Slice, Split, Compress, ReverseSequence."""

from __future__ import annotations

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn


@converter("Slice", since=10)
def slice_(ctx: NodeContext) -> Value:
    ctx.check_attrs()
    optional = [ctx.folded_input(i) if ctx.has_input(i) else None for i in (3, 4)]
    return ctx.value(nn.Slice, ctx.input(0), ctx.folded_input(1), ctx.folded_input(2), *optional)


@converter("Slice", since=1)
def slice_v1(ctx: NodeContext) -> Value:
    """Before opset 10, starts, ends and axes are attributes."""
    ctx.check_attrs("starts", "ends", "axes")
    starts, ends = ctx.attr("starts"), ctx.attr("ends")
    axes = ctx.attr("axes", None)
    return ctx.value(
        nn.Slice,
        ctx.input(0),
        ctx.ints_const(starts),
        ctx.ints_const(ends),
        None if axes is None else ctx.ints_const(axes),
    )


@converter("Split")
def split(ctx: NodeContext) -> list[Value]:
    """Every opset maps to the opset-18 form: sizes as an optional input, else ``num_outputs`` parts
    (the number of node outputs when neither is given)."""
    ctx.check_attrs("axis", "split", "num_outputs")
    parts: Value | None = None
    if ctx.opset >= 13 or (ctx.opset == 1 and ctx.has_input(1)):
        if ctx.has_input(1):
            parts = ctx.folded_input(1)
    elif ctx.has_attr("split"):
        parts = ctx.ints_const(ctx.attr("split"))
    num = ctx.attr("num_outputs", None) if ctx.opset >= 18 else None
    if parts is None and num is None:
        num = ctx.num_outputs
    if num is not None and num != ctx.num_outputs:
        ctx.fail(f"num_outputs {num} differs from the {ctx.num_outputs} outputs of the node")
    op = ctx.emit(nn.Split, ctx.input(0), parts, axis=ctx.attr("axis", 0), num_outputs=num)
    if len(op.results) != ctx.num_outputs:
        ctx.fail(f"split gives {len(op.results)} parts for the {ctx.num_outputs} outputs of the node")
    return list(op.results)


@converter("Compress", since=9)
def compress(ctx: NodeContext) -> Value:
    ctx.check_attrs("axis")
    return ctx.value(nn.Compress, ctx.input(0), ctx.input(1), axis=ctx.attr("axis", None))


@converter("ReverseSequence", since=10)
def reverse_sequence(ctx: NodeContext) -> Value:
    ctx.check_attrs("batch_axis", "time_axis")
    return ctx.value(
        nn.ReverseSequence,
        ctx.input(0),
        ctx.input(1),
        batch_axis=ctx.attr("batch_axis", 1),
        time_axis=ctx.attr("time_axis", 0),
    )
