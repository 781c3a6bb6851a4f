"""Padding, cropping and moving blocks: Pad, CenterCropPad, Col2Im, DepthToSpace, SpaceToDepth."""

from __future__ import annotations

import numpy as np

from tritium.frontends.onnx.context import NodeContext
from tritium.frontends.onnx.registry import converter
from tritium.ir.core import Value
from tritium.ir.dialects import nn

MODES = ("constant", "reflect", "edge", "wrap")


def _mode(ctx: NodeContext) -> str:
    mode = ctx.attr("mode", "constant")
    if mode not in MODES or (mode == "wrap" and ctx.opset < 19):
        ctx.fail(f"pad mode '{mode}' is not supported")
    return mode


@converter("Pad", since=11)
def pad(ctx: NodeContext) -> Value:
    ctx.check_attrs("mode")
    value = ctx.opt_input(2)
    axes = ctx.folded_input(3) if ctx.opset >= 18 and ctx.has_input(3) else None
    if axes is None and ctx.has_input(3):
        ctx.fail("input 'axes' needs opset 18")
    return ctx.value(nn.Pad, ctx.input(0), ctx.folded_input(1), value, axes, mode=_mode(ctx))


@converter("Pad", since=1)
def pad_v1(ctx: NodeContext) -> Value:
    """Before opset 11, pads (``paddings`` in opset 1) and the fill value are attributes."""
    ctx.check_attrs("mode", "pads", "paddings", "value")
    pads = ctx.attr("pads" if ctx.opset >= 2 else "paddings")
    value = None
    if ctx.has_attr("value"):
        dtype = ctx.type(0).dtype.np_dtype
        value = ctx.constant(np.asarray(ctx.attr("value"), dtype))
    return ctx.value(nn.Pad, ctx.input(0), ctx.ints_const(pads), value, None, mode=_mode(ctx))


@converter("CenterCropPad", since=18)
def center_crop_pad(ctx: NodeContext) -> Value:
    ctx.check_attrs("axes")
    axes = ctx.attr("axes", None)
    return ctx.value(nn.CenterCropPad, ctx.input(0), ctx.folded_input(1), axes=axes)


@converter("Col2Im", since=18)
def col2im(ctx: NodeContext) -> Value:
    ctx.check_attrs("dilations", "pads", "strides")
    n = ctx.type(1).shape[0] if ctx.type(1).rank == 1 else None  # type: ignore[index]
    if not isinstance(n, int):
        ctx.fail("image_shape must be a 1-D tensor of static length")
    return ctx.value(
        nn.Col2Im,
        ctx.input(0),
        ctx.folded_input(1),
        ctx.folded_input(2),
        dilations=ctx.attr("dilations", (1,) * n),
        pads=ctx.attr("pads", (0,) * (2 * n)),
        strides=ctx.attr("strides", (1,) * n),
    )


@converter("DepthToSpace")
def depth_to_space(ctx: NodeContext) -> Value:
    ctx.check_attrs("blocksize", "mode")
    mode = ctx.attr("mode", "DCR")
    return ctx.value(nn.DepthToSpace, ctx.input(0), blocksize=ctx.attr("blocksize"), mode=mode)


@converter("SpaceToDepth")
def space_to_depth(ctx: NodeContext) -> Value:
    ctx.check_attrs("blocksize", "mode")
    mode = ctx.attr("mode", "DCR")
    return ctx.value(nn.SpaceToDepth, ctx.input(0), blocksize=ctx.attr("blocksize"), mode=mode)
